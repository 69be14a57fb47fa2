"""Fault injection through botocore's event hooks, and the ledger the fault tests check.

`FaultClients` is a `Clients` (what every handler receives) whose session carries four hooks:

* `before-parameter-build.*.*`: records every API call the handler makes (one entry per call,
  retries included in it) and raises the *non-retryable* faults: AccessDenied on chosen
  resources, the state table unavailable after N writes, SNS Publish failing, and `Killed`.
* `before-send.*.*` (registered first): during a throttling storm, answers an HTTP attempt with
  a throttling error *response* (400 + the service's throttling code in its protocol's shape).
  botocore parses it and its `needs-retry` handlers run as for a real answer: the standard retry
  policy (backoff, retry quota) and the adaptive rate limiter (token bucket) both see it.
* `after-call.*.*`: records which calls AWS answered with success, in order with the others.

moto's own `before-send` stubber is told to leave a throttled attempt alone (see
`moto_skips_throttled_attempts`): botocore calls every `before-send` handler, so without that moto
would also carry out the attempt that the storm answered with an error.

`Killed` derives from BaseException, as a Lambda being killed is nothing the code may catch: once it
fires, every later call of that invocation raises it too (the process is gone).
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError
from moto.core.botocore_stubber import MockRawResponse

from automations.core.aws import Clients
from automations.core.throttle import RateLimiter
from tests.faults.retry_time import LIMITER_CLOCK
from tests.faults.retry_time import VirtualTime as VirtualTime  # re-exported: the fault tests import it from here
from tests.faults.retry_time import moto_skips_throttled_attempts as moto_skips_throttled_attempts
from tests.faults.retry_time import virtual_retry_time as virtual_retry_time
from tests.recording import fast_session

REGION = "us-east-1"
READ_PREFIXES = ("Describe", "List", "Get", "Lookup", "Search", "Head", "Select", "Query", "Scan", "BatchGet")
#: services every function may call without a write-ahead record of its own (they *are* the record / the alert)
BOOKKEEPING = {"dynamodb", "sns", "sts"}
#: operations that only label resources: not counted as acting on them twice
TAGGING = {"CreateTags", "DeleteTags", "TagResource", "UntagResource", "TagLogGroup", "UntagLogGroup"}
STATE_WRITES = {"PutItem", "BatchWriteItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}
_THROTTLE_CODES = {"ec2": "RequestLimitExceeded", "dynamodb": "ProvisionedThroughputExceededException",
                   "iam": "Throttling", "sns": "Throttling", "sts": "Throttling", "autoscaling": "Throttling"}


class Killed(BaseException):
    """The Lambda process was killed (timeout, OOM, crash): nothing in the handler may catch it."""


def is_change(service: str, operation: str) -> bool:
    return service not in BOOKKEEPING and not operation.startswith(READ_PREFIXES)


def strings(value: Any) -> set[str]:
    """Every string inside an API parameter structure."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, Mapping):
        return set().union(*(strings(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple, set)):
        return set().union(*(strings(v) for v in value)) if value else set()
    return set()


def _plain(attribute: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value ({"S": ...}, {"M": ...}) as plain Python, enough for the ledger."""
    (kind, value), = attribute.items()
    if kind == "M":
        return {k: _plain(v) for k, v in value.items()}
    if kind == "L":
        return [_plain(v) for v in value]
    return value


@dataclass
class Call:
    seq: int
    service: str
    operation: str
    params: dict[str, Any]
    succeeded: bool = False
    done_seq: int = 0
    error: str = ""


@dataclass
class Throttle:
    """A storm: each call (counted per operation) is throttled on its first `k` attempts, k drawn from a
    seeded generator; `fraction` of the calls get k >= 1. Deterministic when the handler runs sequentially."""

    seed: int
    fraction: float
    max_throttled_attempts: int
    services: frozenset[str]
    operations: frozenset[str] = frozenset()  # only these operations (all when empty)
    min_throttled_attempts: int = 1
    throttled: int = 0
    calls_hit: int = 0


class FaultClients(Clients):
    """Clients for one invocation, with recording and the faults a test switches on."""

    def __init__(self, seed: int = 0) -> None:
        session = fast_session(REGION)
        clock = LIMITER_CLOCK.get("clock")
        super().__init__(session, limiter=RateLimiter(clock=clock) if clock is not None else None)
        self.seed = seed
        self.calls: list[Call] = []
        self._seq = 0
        self._fault_lock = threading.Lock()
        self._denied: tuple[frozenset[str], Callable[[str], bool]] | None = None
        self._state_write_budget: int | None = None
        self._state_writes = 0
        self._sns_down = False
        self._kill: tuple[str, str, int] | None = None
        self._killed = False
        self._counts: Counter[tuple[str, str]] = Counter()
        self.throttle: Throttle | None = None
        self._per_op: Counter[tuple[str, str]] = Counter()
        events = self.session.events
        events.register("before-parameter-build.*.*", self._before)
        events.register("after-call.*.*", self._after)
        before_send: Callable[..., Any] = self._before_send  # the stubs type handlers `-> None`
        events.register_first("before-send.*.*", before_send)

    # ------------------------------------------------------------------ switching faults on

    def deny(self, fraction: float, resources: Iterable[str], operations: Iterable[str] = ()) -> set[str]:
        """AccessDenied on every change call (or on `operations`) naming one of a seeded `fraction` of
        `resources`; returns the denied resources."""
        pool = sorted(resources)
        chosen = set(random.Random(self.seed).sample(pool, round(len(pool) * fraction)))
        ops = frozenset(operations)
        self._denied = (frozenset(chosen), lambda op: op in ops if ops else True)
        return chosen

    def storm(self, *, fraction: float = 0.8, max_throttled_attempts: int = 3,
              services: Iterable[str] = ("ec2", "dynamodb", "iam", "secretsmanager", "ssm", "sns"),
              operations: Iterable[str] = (), min_throttled_attempts: int = 1) -> Throttle:
        self.throttle = Throttle(self.seed, fraction, max_throttled_attempts, frozenset(services),
                                 frozenset(operations), min_throttled_attempts)
        return self.throttle

    def state_table_fails_after(self, writes: int) -> None:
        """The state table accepts `writes` more write calls; from then on every state-table call fails."""
        self._state_write_budget = writes

    def sns_down(self) -> None:
        self._sns_down = True

    def kill_at(self, service: str, operation: str, nth: int = 1) -> None:
        """Kill the process right before the `nth` call of `operation` (after its write-ahead record)."""
        self._kill = (service, operation, nth)

    # ------------------------------------------------------------------ hooks

    def _before(self, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        service, operation = model.service_model.service_name, model.name
        with self._fault_lock:
            self._seq += 1
            call = Call(self._seq, service, operation, dict(params))
            self.calls.append(call)
            context["fault_call"] = call
            self._counts[(service, operation)] += 1
            nth = self._counts[(service, operation)]
        if self._killed:
            raise Killed(f"process already killed; {operation} not sent")
        if self._kill is not None and self._kill[:2] == (service, operation) and nth == self._kill[2]:
            self._killed = True
            raise Killed(f"killed right before {operation} #{nth}")
        if service == "dynamodb" and self._state_write_budget is not None:
            if self._state_writes >= self._state_write_budget:
                self._raise(call, "InternalServerError", "state table unavailable (injected)")
            if operation in STATE_WRITES:
                self._state_writes += 1
        if service == "sns" and operation == "Publish" and self._sns_down:
            self._raise(call, "AuthorizationError", "topic unavailable (injected)")
        if self._denied is not None and is_change(service, operation):
            denied, applies = self._denied
            if applies(operation) and strings(params) & denied:
                self._raise(call, "AccessDenied", f"not authorized to perform {operation} (injected)")

    @staticmethod
    def _raise(call: Call, code: str, message: str) -> None:
        call.error = code
        raise ClientError({"Error": {"Code": code, "Message": message}}, call.operation)

    def _after(self, http_response: Any, context: Mapping[str, Any], **_: Any) -> None:
        call = context.get("fault_call")
        if call is None:
            return
        with self._fault_lock:
            self._seq += 1
            call.done_seq = self._seq
            call.succeeded = 200 <= http_response.status_code < 300
            if not call.succeeded:
                call.error = f"http {http_response.status_code}"

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        storm = self.throttle
        context = request.context or {}
        call = context.get("fault_call")
        if storm is None or call is None or call.service not in storm.services:
            return None
        if storm.operations and call.operation not in storm.operations:
            return None
        attempt = int(context.get("retries", {}).get("attempt", 1))
        if "fault_throttle_k" not in context:
            with self._fault_lock:
                self._per_op[(call.service, call.operation)] += 1
                n = self._per_op[(call.service, call.operation)]
            draw = random.Random(f"{storm.seed}:{call.service}:{call.operation}:{n}")
            k = (draw.randint(storm.min_throttled_attempts, storm.max_throttled_attempts)
                 if draw.random() < storm.fraction else 0)
            context["fault_throttle_k"] = k
            if k:
                storm.calls_hit += 1
        if attempt > context["fault_throttle_k"]:
            return None
        storm.throttled += 1
        request.caretaker_throttled = True  # moto's stubber must not carry this attempt out
        return throttling_response(request.url, call.service)

    # ------------------------------------------------------------------ reading the ledger

    def changes(self) -> list[Call]:
        """Every change call the handler attempted (denied and killed ones included)."""
        return [c for c in self.calls if is_change(c.service, c.operation)]

    def planned_writes(self) -> list[tuple[int, dict[str, Any]]]:
        """(completion seq, item) of every `planned` record the state table accepted."""
        out: list[tuple[int, dict[str, Any]]] = []
        for call in self.calls:
            if call.service != "dynamodb" or not call.succeeded:
                continue
            items: list[Mapping[str, Any]] = []
            if call.operation == "PutItem":
                items = [call.params["Item"]]
            elif call.operation == "BatchWriteItem":
                items = [r["PutRequest"]["Item"] for rs in call.params["RequestItems"].values() for r in rs
                         if "PutRequest" in r]
            for raw in items:
                item = {k: _plain(v) for k, v in raw.items()}
                if item.get("outcome") == "planned" and item.get("type") == "action":
                    out.append((call.done_seq, item))
        return out


def throttling_response(url: str, service: str) -> AWSResponse:
    """A throttling error as the service's protocol spells it."""
    code = _THROTTLE_CODES.get(service, "ThrottlingException")
    if service == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>Rate exceeded (injected)</Message></Error>"
                f"</Errors><RequestID>fault</RequestID></Response>").encode()
        headers = {"content-type": "text/xml"}
    elif service in ("iam", "sns", "sts", "autoscaling"):
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>Rate exceeded (injected)"
                f"</Message></Error><RequestId>fault</RequestId></ErrorResponse>").encode()
        headers = {"content-type": "text/xml"}
    else:
        body = json.dumps({"__type": code, "message": "Rate exceeded (injected)"}).encode()
        headers = {"content-type": "application/x-amz-json-1.1"}
    status = 400
    if service == "s3":  # REST-XML; S3 throttles with 503 SlowDown
        body = (b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate (injected)</Message>"
                b"<RequestId>fault</RequestId></Error>")
        headers, status = {"content-type": "application/xml"}, 503
    return AWSResponse(url, status, HTTPHeaders.from_dict(headers), MockRawResponse(body))


# ---------------------------------------------------------------------- the invariants


def uncovered_changes(clients: FaultClients, watched: Iterable[str]) -> list[str]:
    """Change calls naming a watched resource without a `planned` record for it accepted by the state table
    *before* the call (the record's resource_id, or a value of its details, names the resource)."""
    watched_ids = set(watched)
    planned = clients.planned_writes()
    problems: list[str] = []
    for call in clients.changes():
        for resource in sorted(strings(call.params) & watched_ids):
            covered = any(seq < call.seq and (item.get("resource_id") == resource
                                              or resource in strings(item.get("details") or {}))
                          for seq, item in planned)
            if not covered:
                problems.append(f"{call.operation} on {resource} without a planned record before it")
    return problems


def acted_twice(runs: Iterable[FaultClients], watched: Iterable[str]) -> dict[tuple[str, str], int]:
    """(operation, resource) acted on successfully more than once across the runs (tagging excluded)."""
    watched_ids = set(watched)
    done: Counter[tuple[str, str]] = Counter()
    for clients in runs:
        for call in clients.changes():
            if call.succeeded and call.operation not in TAGGING:
                for resource in strings(call.params) & watched_ids:
                    done[(call.operation, resource)] += 1
    return {key: n for key, n in done.items() if n > 1}


def counts_of(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    tally = Counter(str(r["outcome"]) for r in records if r.get("type") == "action")
    return {k: tally.get(k, 0) for k in ("planned", "succeeded", "failed", "skipped")}


def summary_counts(summary: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(summary.get(k, 0)) for k in ("planned", "succeeded", "failed", "skipped")}


def unfinished(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """Resources of `planned` records that have no outcome record: what a stopped run left."""
    items = [r for r in records if r.get("type") == "action"]
    closed = {r["action_id"] for r in items if r["outcome"] != "planned"}
    return sorted(r["resource_id"] for r in items if r["outcome"] == "planned" and r["action_id"] not in closed)

