"""`in_background`: one call on a thread of its own, its answer (or what it raised) kept for the caller."""

from __future__ import annotations

import threading

import pytest

from automations.core.concurrency import in_background


class Killed(BaseException):
    """Like the fault suite's: nothing in the code may catch it, so it must reach the caller as it is."""


def test_the_call_runs_beside_the_caller_and_its_answer_is_kept() -> None:
    started, release = threading.Event(), threading.Event()

    def read() -> str:
        started.set()
        assert release.wait(10)  # the caller goes on while this waits
        return threading.current_thread().name

    future = in_background(read, name="caretaker-test")
    assert started.wait(10)
    release.set()
    assert future.result(10) == "caretaker-test"


@pytest.mark.parametrize("error", [ValueError("bad answer"), Killed("process gone")])
def test_what_the_call_raises_is_raised_in_the_caller(error: BaseException) -> None:
    def fails() -> None:
        raise error

    future = in_background(fails)
    with pytest.raises(type(error), match=str(error)):
        future.result(10)
