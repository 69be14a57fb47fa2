"""`ordered_stream`: results in input order, work running in parallel, never more than a window held."""

from __future__ import annotations

import threading
import time

import pytest

from automations.core.concurrency import ordered_stream


def test_results_come_in_input_order_whatever_order_they_finish_in() -> None:
    def slow_first(n: int) -> int:
        time.sleep(0.05 if n == 0 else 0)
        return n * n

    assert list(ordered_stream(slow_first, range(10), max_workers=4)) == [(n, n * n) for n in range(10)]


def test_no_more_than_the_window_is_started_ahead_of_the_consumer() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            started.append(n)
        return n

    ahead = []
    for yielded, (n, _) in enumerate(ordered_stream(work, range(100), max_workers=4, window=6), start=1):
        time.sleep(0.001)
        with lock:
            ahead.append(len(started) - yielded)
        assert n == yielded - 1
    assert max(ahead) <= 6 - 1 and len(started) == 100


def test_work_runs_on_several_threads_at_once() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def meet(n: int) -> int:
        barrier.wait()  # would time out (BrokenBarrierError) if the three items ran one after another
        return n

    assert [n for n, _ in ordered_stream(meet, range(3), max_workers=3)] == [0, 1, 2]


def test_an_error_of_the_work_is_raised_when_its_turn_comes() -> None:
    def fail_on_two(n: int) -> int:
        if n == 2:
            raise KeyError(n)
        return n

    got = []
    with pytest.raises(KeyError):
        for n, _ in ordered_stream(fail_on_two, range(5), max_workers=2):
            got.append(n)
    assert got == [0, 1]


def test_worker_counts_outside_the_limit_are_refused() -> None:
    with pytest.raises(ValueError, match="max_workers"):
        list(ordered_stream(abs, [1], max_workers=0))
