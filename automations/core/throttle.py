"""Client-side rate limiting: use at most a share of the account's AWS API request rate.

AWS throttles API requests per account and region with token buckets, and every caller in the
account (consoles, pipelines, production services, Caretaker) draws from the same buckets. Retries
(botocore's adaptive mode, `aws.MAX_ATTEMPTS`) make a throttled call succeed eventually, but they
do so by taking the bucket empty first, which throttles everyone else too. So `Clients` registers a
`RateLimiter` on every client it creates: before each HTTP attempt the limiter takes a token from a
client-side bucket sized `share` x the AWS bucket, and waits for one when it is empty. Waiting is
the only effect: the limiter never fails a call.

`RateTable` (`rate_limits.py`) says which AWS bucket a request draws from. It is the one table of
limits: the limiter scales it by the share, and the throttling simulator of the tests and benchmarks
(`tests/throttling/simulator.py`) plays AWS with it at full size.

No I/O and no botocore import at module scope: this module is imported by every handler.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from automations.core.errors import SettingError
from automations.core.rate_limits import AWS_LIMITS, Bucket, Charge, RateTable, validate_share
from automations.core.spec import API_RATE_SHARE

if TYPE_CHECKING:
    from botocore.client import BaseClient

#: Where the limiter keeps a request's charges between classifying it and sending it.
CONTEXT_KEY = "caretaker_throttle"
#: Read when no share was set explicitly (the runtime sets it from the validated settings).
#: The limits live in rate_limits.py; the limiter's users import them from here too.
__all__ = ["AWS_LIMITS", "CONTEXT_KEY", "DEFAULT_SHARE", "SHARE_ENV", "SYSTEM_CLOCK", "Bucket", "Charge", "Clock",
           "LimiterSlot", "RateLimiter", "RateTable", "SystemClock", "TokenBucket", "validate_share"]

SHARE_ENV = API_RATE_SHARE.env_name
DEFAULT_SHARE = float(API_RATE_SHARE.default)


# ------------------------------------------------------------------------------------------------
# The client-side buckets


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class TokenBucket:
    """A thread-safe token bucket that makes callers wait their turn (first come, first served).

    `acquire` reserves its tokens at once, even into debt, and sleeps until the refill has paid
    the debt: waiting callers are spaced exactly `1 / refill` apart and never spin.
    """

    def __init__(self, bucket: Bucket, clock: Clock = SYSTEM_CLOCK) -> None:
        self.bucket = bucket
        self._clock = clock
        self._tokens = bucket.capacity
        self._at = clock.monotonic()
        self._lock = threading.Lock()

    def acquire(self, tokens: float = 1.0) -> float:
        """Take `tokens` (at most the capacity), waiting until they are there; returns the seconds waited."""
        tokens = min(tokens, self.bucket.capacity)
        with self._lock:
            now = self._clock.monotonic()
            self._tokens = min(self.bucket.capacity, self._tokens + (now - self._at) * self.bucket.refill)
            self._at = now
            self._tokens -= tokens
            wait = -self._tokens / self.bucket.refill if self._tokens < 0 else 0.0
        if wait > 0:
            self._clock.sleep(wait)
        return wait


class RateLimiter:
    """Client-side token buckets, one per (region, service, AWS bucket), at `share` of AWS's size.

    The share is, in order: the value set explicitly (constructor or `share = ...`, which the
    runtime does from the function's `api_rate_share` setting), `CARETAKER_API_RATE_SHARE` from the
    environment, the default (0.5). Thread-safe; one limiter serves every client of a `Clients`.
    """

    def __init__(self, share: float | None = None, *, table: RateTable = AWS_LIMITS,
                 clock: Clock = SYSTEM_CLOCK, environ: Mapping[str, str] | None = None) -> None:
        self.table = table
        self.clock = clock
        self._environ = environ
        self._share = validate_share(share) if share is not None else None
        self._buckets: dict[tuple[str | None, str, str], TokenBucket] = {}
        self._lock = threading.Lock()
        #: seconds callers waited, and requests let through, by "service:bucket key"
        self.waited_s = 0.0
        self.requests: Counter[str] = Counter()

    @classmethod
    def unlimited(cls) -> RateLimiter:
        """A limiter that limits nothing (registers no hooks)."""
        return cls(table=RateTable.empty())

    @property
    def share(self) -> float:
        if self._share is not None:
            return self._share
        raw = (os.environ if self._environ is None else self._environ).get(SHARE_ENV)
        if raw is None:
            return DEFAULT_SHARE
        try:
            return float(API_RATE_SHARE.parse(raw))
        except SettingError:
            return DEFAULT_SHARE  # the runtime reports the invalid setting and does not act

    @share.setter
    def share(self, value: float) -> None:
        value = validate_share(value)
        with self._lock:
            if value != self._share:
                self._share = value
                self._buckets.clear()

    def register(self, client: BaseClient) -> None:
        """Hook this limiter into a botocore client: classify each call, then wait before each attempt.

        For a client built for one `Clients` (an injected session). A client that outlives invocations
        carries a `LimiterSlot` instead, which each invocation points at its own limiter.
        """
        service = client.meta.service_model.service_name
        if not self.table.covers(service):
            return
        event_id = client.meta.service_model.service_id.hyphenize()
        region = client.meta.region_name
        client.meta.events.register(f"before-parameter-build.{event_id}", partial(self.classify, service))
        # first: the wait must come before anything that sends (botocore's own rate limiter, a stub)
        client.meta.events.register_first(f"before-send.{event_id}", partial(self.before_send, service, region))

    def bucket(self, region: str | None, service: str, charge: Charge) -> TokenBucket:
        key = (region, service, charge.key)
        with self._lock:
            found = self._buckets.get(key)
            if found is None:
                found = self._buckets[key] = TokenBucket(charge.bucket.share(self.share), self.clock)
            return found

    def classify(self, service: str, params: Mapping[str, Any], model: Any, context: dict[str, Any],
                 **_: Any) -> None:
        """`before-parameter-build`: name the buckets the call draws from, in its request context."""
        charges = self.table.charges(service, model.name, params) if self.table.covers(service) else ()
        if charges:
            context[CONTEXT_KEY] = charges
        else:
            context.pop(CONTEXT_KEY, None)

    def before_send(self, service: str, region: str | None, request: Any, **_: Any) -> None:
        """`before-send`: before each HTTP attempt, wait for the tokens `classify` named."""
        charges: tuple[Charge, ...] = (getattr(request, "context", None) or {}).get(CONTEXT_KEY, ())
        for charge in charges:
            waited = self.bucket(region, service, charge).acquire(charge.tokens)
            with self._lock:
                self.waited_s += waited
                self.requests[f"{service}:{charge.key}"] += 1


class LimiterSlot:
    """The rate-limit hooks of a client that serves many invocations (`aws.SharedClients`).

    Registered once per client (botocore `unique_id`s: registering again changes nothing), they
    forward to the limiter bound last (`bind`): each invocation binds its own, so its buckets,
    share and counts are its own, and N invocations still run one pair of hooks per call. An
    execution environment serves one invocation at a time; two `Clients` used at the same time in
    one process on shared clients would share the limiter bound last (inject a session instead).
    """

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    def bind(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    def register(self, client: BaseClient) -> None:
        service = client.meta.service_model.service_name
        event_id = client.meta.service_model.service_id.hyphenize()
        region = client.meta.region_name
        client.meta.events.register(f"before-parameter-build.{event_id}", partial(self._classify, service),
                                    unique_id=f"caretaker-limiter-classify-{id(self)}")
        # first: the wait must come before anything that sends (botocore's own rate limiter, a stub)
        client.meta.events.register_first(f"before-send.{event_id}", partial(self._before_send, service, region),
                                          unique_id=f"caretaker-limiter-send-{id(self)}")

    def _classify(self, service: str, **kwargs: Any) -> None:
        self.limiter.classify(service, **kwargs)

    def _before_send(self, service: str, region: str | None, **kwargs: Any) -> None:
        self.limiter.before_send(service, region, **kwargs)
