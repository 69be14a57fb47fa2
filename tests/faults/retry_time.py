"""Retries at no real cost: botocore's backoff sleeps and the adaptive token bucket's waits on a virtual clock,
and moto's stubber told to skip the attempts a throttling storm answered (see `tests.faults.faults`)."""

from __future__ import annotations

import threading
from typing import Any

#: the clock FaultClients' client-side rate limiters wait on (virtual while `virtual_retry_time` is active)
LIMITER_CLOCK: dict[str, Any] = {}


def moto_skips_throttled_attempts(monkeypatch: Any) -> None:
    """moto's before-send stubber runs even when an earlier handler answered: make it skip the attempts the
    storm answered, so that AWS (moto) never carries out a request that was refused."""
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.__call__

    def call(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        if getattr(request, "caretaker_throttled", False):
            return None
        return original(self, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", call)


class VirtualTime:
    """Time for botocore's retry machinery: backoff sleeps and the adaptive token bucket's waits advance
    it instead of the wall clock, so a storm costs no real time but every retry decision is really made."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept = 0.0
        self.sleeps = 0
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)
            self.slept += max(0.0, seconds)
            self.sleeps += 1

    def current_time(self) -> float:
        return self.now

    def monotonic(self) -> float:  # the client-side rate limiter's clock (automations.core.throttle.Clock)
        return self.now


def virtual_retry_time(monkeypatch: Any) -> VirtualTime:
    """Patch botocore's retry sleeps (endpoint backoff, adaptive token bucket) onto a `VirtualTime`."""
    import types

    import botocore.endpoint as endpoint
    import botocore.retries.bucket as bucket

    virtual = VirtualTime()
    monkeypatch.setattr(endpoint, "time", types.SimpleNamespace(sleep=virtual.sleep))
    monkeypatch.setitem(LIMITER_CLOCK, "clock", virtual)  # FaultClients' rate limiters wait on it too

    class Clock:
        def sleep(self, amount: float) -> None:
            virtual.sleep(amount)

        def current_time(self) -> float:
            return virtual.current_time()

    class Condition:
        """The bucket's wait for refill: advances virtual time by the wait instead of blocking."""

        def __init__(self) -> None:
            self._lock = threading.RLock()

        def __enter__(self) -> Condition:
            self._lock.acquire()
            return self

        def __exit__(self, *exc: object) -> None:
            self._lock.release()

        def wait(self, timeout: float | None = None) -> bool:
            virtual.sleep(max(timeout or 0.0, 0.001))  # never a step lost to float rounding
            return True

        def notify(self, n: int = 1) -> None:
            pass

        def notify_all(self) -> None:
            pass

    original_init = bucket.TokenBucket.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._new_fill_rate_condition = Condition()

    monkeypatch.setattr(bucket, "Clock", Clock)
    monkeypatch.setattr(bucket.TokenBucket, "__init__", init)
    return virtual
