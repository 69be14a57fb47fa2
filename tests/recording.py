"""The one recording AWS client of the tests: record calls, fail chosen calls, stall them, answer them.

`RecordingClients` is a `Clients` (what `Entrypoint.invoke(..., clients=)` and `Provider.invoke` take) on a boto3
session of its own, whose botocore hooks

* record every API call once, with the parameters as the caller passed them (`before-parameter-build`; retries
  are inside one call), in `calls` as `(service, operation, params)`;
* answer a call instead of moto (`before-call`): with an AWS error (`fail`: a code, `times` calls or every one,
  only the calls whose parameters `when` accepts), with a response of the test's (`answer`), or after a delay
  (`stall`). An answer given at `before-call` is not retried by botocore: a throttling error injected here
  reaches the caller at once (tests/faults injects retried throttling at `before-send`, docs/fault-injection.md).

Every session shares one botocore data loader (`shared_loader`): a new session otherwise parses each service
model again, which was most of the cost of an in-process invocation. Nothing else is shared.

`counting_builds()` counts what building clients costs (boto3 sessions, botocore clients, data files parsed),
whoever builds them: the warm-invocation tests assert that a warm invocation builds nothing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import boto3
import boto3.session
import botocore.loaders
import botocore.session
import pytest
from botocore.loaders import create_loader

from automations.core.aws import Clients
from automations.core.throttle import RateLimiter

REGION = "us-east-1"

#: The request-context key under which the recorded API parameters travel from one hook to the next.
_PARAMS = "recorded_params"

Params = dict[str, Any]
Answer = Callable[[Params], "dict[str, Any] | None"]

_LOADER: list[Any] = []


def shared_loader() -> Any:
    """One botocore data loader for the test session: service models are parsed once, not once per session."""
    if not _LOADER:
        _LOADER.append(create_loader())
    return _LOADER[0]


def fast_session(region: str = REGION) -> boto3.session.Session:
    """A new boto3 session (its own event hooks, credentials, clients) on the shared data loader."""
    session = boto3.session.Session(region_name=region)
    session._session.register_component("data_loader", shared_loader())
    return session


@dataclass
class Fault:
    """Answer matching calls with an AWS error: `times` of them (None: every one), those `when` accepts."""

    service: str
    operation: str
    code: str
    message: str
    times: int | None
    when: Callable[[Params], bool] | None
    status: int

    def takes(self, service: str, operation: str, params: Params) -> bool:
        if (self.service, self.operation) != (service, operation) or self.times == 0:
            return False
        if self.when is not None and not self.when(params):
            return False
        if self.times is not None:
            self.times -= 1
        return True


def _response(status: int, body: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    return SimpleNamespace(status_code=status, headers={}), {**body, "ResponseMetadata": {"HTTPStatusCode": status}}


class RecordingClients(Clients):
    """Clients whose calls are recorded and can be made to fail, stall or be answered by the test."""

    def __init__(self, region: str = REGION, *, limiter: RateLimiter | None = None) -> None:
        super().__init__(fast_session(region), limiter=limiter)
        self.calls: list[tuple[str, str, Params]] = []
        self.faults: list[Fault] = []
        self.delays: dict[tuple[str, str], float] = {}
        self.responses: dict[tuple[str, str], Answer] = {}
        #: answers kept by `reset` (e.g. the operations moto lacks)
        self.permanent: set[tuple[str, str]] = set()
        self._record_lock = threading.RLock()
        self.session.events.register("before-parameter-build", self._record)
        before_call: Callable[..., Any] = self._before_call  # the stubs type handlers `-> None`
        self.session.events.register("before-call", before_call)

    # ------------------------------------------------------------------ what the test switches on

    def fail(self, service: str, operation: str, code: str = "AccessDenied", message: str | None = None, *,
             times: int | None = None, when: Callable[[Params], bool] | None = None, status: int = 400) -> None:
        """Answer matching calls with the AWS error `code`: `times` of them (None: every one), only those whose
        API parameters `when` accepts."""
        text = message if message is not None else f"injected {code} for {operation}"
        with self._record_lock:
            self.faults.append(Fault(service, operation, code, text, times, when, status))

    def stall(self, service: str, operation: str, seconds: float) -> None:
        """Make every call of `operation` wait `seconds` before it is sent."""
        self.delays[(service, operation)] = seconds

    def answer(self, service: str, operation: str, fn: Answer) -> None:
        """Answer `operation` with `fn(params)` instead of moto; when `fn` returns None, moto answers."""
        self.responses[(service, operation)] = fn

    def clients(self) -> Clients:
        """Another `Clients` on this session (its own clients and limiter; recorded and faulted the same)."""
        return Clients(self.session)

    def reset(self) -> None:
        """Forget the calls, faults, delays and the answers that are not permanent."""
        with self._record_lock:
            self.calls.clear()
            self.faults.clear()
        self.delays.clear()
        for key in [k for k in self.responses if k not in self.permanent]:
            del self.responses[key]

    # ------------------------------------------------------------------ what the test reads

    def called(self, service: str | None = None, operation: str | None = None) -> list[Params]:
        """The parameters of the calls of `service` (and `operation`), in order."""
        return [params for s, o, params in self.calls
                if (service is None or s == service) and (operation is None or o == operation)]

    def count(self, service: str | None = None) -> Counter[str]:
        """Operation -> how many calls (of `service`)."""
        return Counter(op for svc, op, _ in self.calls if service is None or svc == service)

    # ------------------------------------------------------------------ hooks

    def _record(self, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        given = dict(params)  # the API parameters as the caller passed them
        context[_PARAMS] = given
        with self._record_lock:
            self.calls.append((model.service_model.service_name, model.name, given))

    def _before_call(self, model: Any, context: Mapping[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        service, operation = model.service_model.service_name, model.name
        params: Params = context.get(_PARAMS, {})
        delay = self.delays.get((service, operation))
        if delay:
            time.sleep(delay)
        with self._record_lock:
            fault = next((f for f in self.faults if f.takes(service, operation, params)), None)
        if fault is not None:
            return _response(fault.status, {"Error": {"Code": fault.code, "Message": fault.message}})
        answer = self.responses.get((service, operation))
        if answer is not None:
            parsed = answer(params)
            if parsed is not None:
                return _response(200, parsed)
        return None


# ---------------------------------------------------------------------------- what building clients costs


@dataclass
class Builds:
    sessions: int = 0
    clients: list[str] = field(default_factory=list)
    parsed: list[str] = field(default_factory=list)  # paths of the data files parsed

    @property
    def nothing(self) -> bool:
        return self.sessions == 0 and not self.clients and not self.parsed


@contextmanager
def counting_builds() -> Iterator[Builds]:
    """Count, while inside, the boto3 sessions made, the botocore clients created and the data files botocore
    parsed (`JSONFileLoader.load_file`: service models, endpoint rule sets, paginators), whoever makes them."""
    builds = Builds()
    session_init = boto3.session.Session.__init__
    create_client = botocore.session.Session.create_client
    load_file = botocore.loaders.JSONFileLoader.load_file

    def counted_session(self: Any, *args: Any, **kwargs: Any) -> None:
        builds.sessions += 1
        session_init(self, *args, **kwargs)

    def counted_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        builds.clients.append(service_name)
        return create_client(self, service_name, *args, **kwargs)

    def counted_load(self: Any, file_path: str) -> Any:
        builds.parsed.append(file_path)
        return load_file(self, file_path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(boto3.session.Session, "__init__", counted_session)
        patch.setattr(botocore.session.Session, "create_client", counted_client)
        patch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted_load)
        yield builds
