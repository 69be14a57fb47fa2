"""Bounded concurrency: a fixed number of worker threads and a cap on the work handed to them.

`ordered_stream` yields results in input order holding only a window of them (a consumer that streams
them out stays flat in memory). `BoundedExecutor.submit` blocks while `max_in_flight` tasks are queued
or running, so a producer (for example one that writes write-ahead records before handing out the
actions) never races far ahead of the workers. The first exception a task raises is kept: the next `submit` re-raises it
in the producer's thread and no further work is accepted; `close()` waits for what is running and
re-raises it too. Tasks that must not stop the run catch their own errors. `in_background` runs one
call on a thread of its own, for a read that overlaps the caller's next call.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")

#: Upper bound for any `max_concurrency` setting: more threads would only queue on the client's pool.
MAX_WORKERS_LIMIT = 64


class BoundedExecutor:
    def __init__(self, max_workers: int, max_in_flight: int | None = None, *, name: str = "caretaker") -> None:
        if not 1 <= max_workers <= MAX_WORKERS_LIMIT:
            raise ValueError(f"max_workers must be 1..{MAX_WORKERS_LIMIT}, got {max_workers}")
        self.max_workers = max_workers
        self.max_in_flight = max(max_in_flight or 2 * max_workers, max_workers)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(self.max_in_flight)
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self.submitted = 0

    @property
    def error(self) -> BaseException | None:
        with self._lock:
            return self._error

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run `fn(*args)` on a worker; blocks while the in-flight cap is reached."""
        self._raise_if_failed()
        self._slots.acquire()
        try:
            self._raise_if_failed()
            future = self._pool.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        self.submitted += 1
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        self._slots.release()
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            with self._lock:
                if self._error is None:
                    self._error = exc

    def _raise_if_failed(self) -> None:
        error = self.error
        if error is not None:
            raise error

    def close(self) -> None:
        """Wait for every submitted task; re-raise the first task error."""
        self._pool.shutdown(wait=True)
        self._raise_if_failed()

    def __enter__(self) -> BoundedExecutor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            return
        self.close()


def bounded_map(fn: Callable[[Any], Any], items: list[Any], max_workers: int) -> list[Any]:
    """`[fn(item) for item in items]` on at most `max_workers` threads, results in input order."""
    if max_workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with BoundedExecutor(max_workers) as executor:
        futures = [executor.submit(fn, item) for item in items]
    return [future.result() for future in futures]


def ordered_stream(fn: Callable[[Any], Any], items: Iterable[Any], max_workers: int,
                   window: int | None = None) -> Iterator[tuple[Any, Any]]:
    """Yield `(item, fn(item))` in input order, `fn` running on at most `max_workers` threads.

    At most `window` (default twice the workers) results are started but not yet yielded, so memory holds a
    bounded number of results however many items there are (a consumer that streams them out stays flat).
    `fn` should catch its own errors; one it raises is re-raised here when its item's turn comes.
    """
    if not 1 <= max_workers <= MAX_WORKERS_LIMIT:
        raise ValueError(f"max_workers must be 1..{MAX_WORKERS_LIMIT}, got {max_workers}")
    limit = max(window or 2 * max_workers, 1)
    pending: deque[tuple[Any, Future[Any]]] = deque()
    source = iter(items)
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="caretaker-stream") as pool:
        try:
            for item in source:
                pending.append((item, pool.submit(fn, item)))
                if len(pending) >= limit:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def in_background(fn: Callable[[], T], *, name: str = "caretaker-background") -> Future[T]:
    """Start `fn()` on a thread of its own and return its future (for one read that can overlap the caller's
    next call: the caller waits on `result()` when it needs the answer). Whatever `fn` raises, `Killed`-like
    BaseExceptions included, is kept for `result()` to re-raise in the caller's thread."""
    future: Future[T] = Future()

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the caller, who decides
            future.set_exception(exc)

    threading.Thread(target=work, name=name, daemon=True).start()
    return future
