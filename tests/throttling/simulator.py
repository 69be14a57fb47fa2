"""A throttling AWS in front of moto, for tests and benchmarks.

`ThrottlingSimulator.attach(session)` puts a botocore `before-send` hook on a boto3 session (for
every client made from it afterwards) that plays AWS's request throttling:

- each request is charged to the buckets `automations.core.throttle.RateTable` names (the same
  table the client-side limiter uses, here at full size: AWS's side), one bucket per account,
  region and API action; a bucket refills continuously;
- when a bucket is short, the request is answered with the service's real throttling error
  (`RequestLimitExceeded`, HTTP 503, for EC2; `ThrottlingException` for JSON services; `Throttling`
  for query services such as SNS and IAM) and never reaches moto, so botocore's retry logic sees
  exactly what it would see from AWS;
- otherwise moto serves it (the simulator takes moto's stub off the session and calls it itself);
- every attempt, throttled or not, takes `latency` seconds on the simulator's clock: half on the
  way in, half on the way out.

`other_load` is the share of each bucket's refill that other workloads of the account take.

Tests run on a `VirtualClock` (sleeping advances it at once) shared by the simulator, the limiter and
botocore's own retry sleeps (`virtual_botocore_time`); benchmarks use the real clock and really wait.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from types import SimpleNamespace
from typing import Any

from automations.core.throttle import AWS_LIMITS, SYSTEM_CLOCK, Bucket, Charge, Clock, RateTable

_CONTEXT_KEY = "caretaker_simulator"
#: Refill arithmetic is floating point: a token this close to whole counts as whole.
_EPSILON = 1e-9

EC2_THROTTLE = (503, "RequestLimitExceeded", "Request limit exceeded.")
JSON_THROTTLE = (400, "ThrottlingException", "Rate exceeded")
QUERY_THROTTLE = (400, "Throttling", "Rate exceeded")


class VirtualClock:
    """Time that moves only when someone sleeps, and then at once. Thread-safe.

    With several threads sleeping, their sleeps add up (time runs as if they took turns), so a run
    on it is never faster than the real thing; single-threaded it is exact.
    """

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept = 0.0

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def time(self) -> float:
        return self.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self._now += seconds
                self.slept += seconds


@contextmanager
def virtual_botocore_time(clock: VirtualClock) -> Iterator[None]:
    """Route botocore's retry waits (backoff in `botocore.endpoint`, the adaptive mode's token bucket and
    its clock) through the virtual clock while inside."""
    import botocore.endpoint
    import botocore.retries.bucket

    # Any: these are botocore privates (and methods replaced on their classes) that botocore-stubs does not declare
    endpoint: Any = botocore.endpoint
    bucket_module: Any = botocore.retries.bucket

    def acquire_on_clock(self: Any, amount: float, block: bool) -> bool:
        # botocore waits for tokens on a condition variable (real time); here the clock jumps instead
        self._refill()
        while amount > self._current_capacity:
            if not block:
                raise bucket_module.CapacityNotAvailableError()
            clock.sleep(max(self._sleep_amount(amount), 1e-6))
            self._refill()
        self._current_capacity -= amount
        return True

    saved = (endpoint.time, bucket_module.Clock.sleep, bucket_module.Clock.current_time,
             bucket_module.TokenBucket._acquire)
    endpoint.time = SimpleNamespace(sleep=clock.sleep, time=clock.time)
    bucket_module.Clock.sleep = lambda _self, amount: clock.sleep(amount)
    bucket_module.Clock.current_time = lambda _self: clock.time()
    bucket_module.TokenBucket._acquire = acquire_on_clock
    try:
        yield
    finally:
        (endpoint.time, bucket_module.Clock.sleep, bucket_module.Clock.current_time,
         bucket_module.TokenBucket._acquire) = saved


class _AwsBucket:
    """AWS's side of one bucket: full at first, refilled continuously, never in debt."""

    def __init__(self, bucket: Bucket, now: float, other_load: float) -> None:
        self.bucket = bucket
        self.refill = bucket.refill * (1.0 - other_load)
        self.tokens = bucket.capacity
        self.at = now

    def level(self, now: float) -> float:
        self.tokens = min(self.bucket.capacity, self.tokens + (now - self.at) * self.refill)
        self.at = now
        return self.tokens


@dataclass
class _Request:
    label: str
    service: str
    operation: str
    region: str | None
    protocol: str
    charges: tuple[Charge, ...]


@dataclass
class SimulatorStats:
    """What the simulator saw, by (label, service, operation)."""

    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # API calls made by the caller
    attempts: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # HTTP attempts (retries included)
    throttled: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    #: times at which each bucket let a request through: (label, region, service, bucket key) -> times
    accepted: dict[tuple[str, str | None, str, str], list[float]] = field(default_factory=dict)

    def total(self, counter: Counter[tuple[str, str, str]], label: str | None = None,
              operation: str | None = None) -> int:
        return sum(n for (lab, _svc, op), n in counter.items()
                   if (label is None or lab == label) and (operation is None or op == operation))

    def by_operation(self, counter: Counter[tuple[str, str, str]], label: str) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (lab, svc, op), n in counter.items():
            if lab == label:
                out[f"{svc}:{op}"] += n
        return dict(sorted(out.items()))

    def accepted_times(self, label: str, operation: str) -> list[float]:
        return sorted(t for (lab, _r, _s, key), times in self.accepted.items()
                      if lab == label and key == operation for t in times)


class ThrottlingSimulator:
    def __init__(self, table: RateTable = AWS_LIMITS, *, latency: float | Mapping[str, float] = 0.0,
                 clock: Clock = SYSTEM_CLOCK, other_load: float = 0.0) -> None:
        if not 0 <= other_load < 1:
            raise ValueError(f"other_load must be in [0, 1), got {other_load}")
        self.table = table
        self.latency = latency
        self.clock = clock
        self.other_load = other_load
        self.stats = SimulatorStats()
        self._buckets: dict[tuple[str | None, str, str], _AwsBucket] = {}
        self._lock = threading.Lock()

    def latency_of(self, service: str) -> float:
        if isinstance(self.latency, Mapping):
            return float(self.latency.get(service, self.latency.get("*", 0.0)))
        return float(self.latency)

    def attach(self, session: Any, label: str = "caretaker") -> None:
        """Simulate AWS for every client created from `session` (boto3 session) from now on."""
        from moto.core.models import botocore_stubber

        events = session.events
        events.unregister("before-send", handler=botocore_stubber)
        # unique ids: attaching twice to one session (Custodian's factory may) must not send twice
        events.register("before-parameter-build", partial(self._classify, label),
                        unique_id=f"throttling-simulator-classify-{id(self)}")
        events.register_last("before-send", partial(self._send, botocore_stubber),
                             unique_id=f"throttling-simulator-send-{id(self)}")

    # ------------------------------------------------------------------ hooks

    def _classify(self, label: str, params: Mapping[str, Any], model: Any, context: dict[str, Any],
                  **_: Any) -> None:
        service_model = model.service_model
        service = service_model.service_name
        request = _Request(label, service, model.name, context.get("client_region"), service_model.protocol,
                           self.table.charges(service, model.name, params))
        context[_CONTEXT_KEY] = request
        with self._lock:
            self.stats.calls[(label, service, model.name)] += 1

    def _send(self, backend: Any, request: Any, event_name: str, **kwargs: Any) -> Any:
        info: _Request | None = (getattr(request, "context", None) or {}).get(_CONTEXT_KEY)
        if info is None:  # not classified (a client made before attach): serve it as it is
            return backend(event_name=event_name, request=request, **kwargs)
        key = (info.label, info.service, info.operation)
        half = self.latency_of(info.service) / 2
        self.clock.sleep(half)
        with self._lock:
            self.stats.attempts[key] += 1
            admitted = self._admit(info)
            if not admitted:
                self.stats.throttled[key] += 1
        if admitted:
            response = backend(event_name=event_name, request=request, **kwargs)
        else:
            response = throttle_response(request.url, info.service, info.protocol)
        self.clock.sleep(half)
        return response

    def _admit(self, info: _Request) -> bool:
        """Take the request's tokens from every bucket it draws from, or none of them (caller holds the lock)."""
        if not info.charges:
            return True
        now = self.clock.monotonic()
        buckets = []
        for charge in info.charges:
            bucket_key = (info.region, info.service, charge.key)
            bucket = self._buckets.get(bucket_key)
            if bucket is None:
                bucket = self._buckets[bucket_key] = _AwsBucket(charge.bucket, now, self.other_load)
            tokens = min(charge.tokens, charge.bucket.capacity)
            if bucket.level(now) + _EPSILON < tokens:
                return False
            buckets.append((bucket, tokens, charge))
        for bucket, tokens, charge in buckets:
            bucket.tokens -= tokens
            self.stats.accepted.setdefault((info.label, info.region, info.service, charge.key), []).append(now)
        return True


def throttle_response(url: str, service: str, protocol: str) -> Any:
    """The HTTP response AWS sends when a request is throttled, in the service's protocol."""
    from botocore.awsrequest import AWSResponse, HTTPHeaders
    from moto.core.botocore_stubber import MockRawResponse

    if protocol == "ec2":
        status, code, message = EC2_THROTTLE
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>"
                f"<Message>{message}</Message></Error></Errors><RequestID>simulated</RequestID></Response>")
        headers = {"Content-Type": "text/xml"}
    elif protocol in ("json", "rest-json"):
        status, code, message = JSON_THROTTLE
        body = f'{{"__type": "{code}", "message": "{message}"}}'
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
    elif protocol == "query":
        status, code, message = QUERY_THROTTLE
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>simulated</RequestId></ErrorResponse>")
        headers = {"Content-Type": "text/xml"}
    else:
        raise NotImplementedError(f"no simulated throttling error for {service} ({protocol} protocol)")
    return AWSResponse(url, status, HTTPHeaders.from_dict(headers), MockRawResponse(body))


def overdraft(times: Sequence[float], bucket: Bucket) -> float:
    """How far a sequence of single-token requests overdraws `bucket` (starting full): 0 when the
    requests conform to it, i.e. no window of length T holds more than capacity + refill * T."""
    tokens = bucket.capacity
    last = times[0] if times else 0.0
    worst = 0.0
    for at in sorted(times):
        tokens = min(bucket.capacity, tokens + (at - last) * bucket.refill)
        last = at
        tokens -= 1
        worst = max(worst, -tokens)
    return worst
