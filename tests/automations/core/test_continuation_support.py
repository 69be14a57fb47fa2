"""Driving a run that continues over several invocations, on moto (which cannot run Lambda code).

`SelfInvokes` answers the function's `lambda.Invoke` calls itself (`RecordingClients.answer`)
and keeps what they asked for; `drive()` then plays Lambda: it calls the handler with each payload
the run sent, with a fresh context, until the run stops continuing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from automations.core.runtime import Entrypoint
from tests.automations.conftest import Clock, LambdaContext, scheduled_event
from tests.recording import RecordingClients


@dataclass
class DrainingContext(LambdaContext):
    """A Lambda context whose remaining time drops by `step_ms` at every read."""

    step_ms: int = 1_000

    def get_remaining_time_in_millis(self) -> int:
        self.remaining_ms -= self.step_ms
        return self.remaining_ms


class ClockedContext(LambdaContext):
    """A Lambda context whose deadline is `timeout_s` after its creation on the test's clock: the time
    left drops only when the test advances the clock (a slow survey, a slow item)."""

    def __init__(self, clock: Clock, timeout_s: float, **fields: Any) -> None:
        super().__init__(**fields)
        self.clock = clock
        self.deadline = clock.now + timedelta(seconds=timeout_s)

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - self.clock.now).total_seconds() * 1000)


@dataclass
class SelfInvokes:
    """Answers `lambda.Invoke` on the clients it is attached to (`RecordingClients.answer`); nothing reaches moto."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def attach(self, clients: RecordingClients) -> RecordingClients:
        clients.answer("lambda", "Invoke", self._answer)
        return clients

    def _answer(self, params: Mapping[str, Any]) -> dict[str, Any]:
        payload = params["Payload"]
        self.calls.append({"FunctionName": params["FunctionName"], "InvocationType": params.get("InvocationType"),
                           "Payload": json.loads(payload if isinstance(payload, (str, bytes)) else payload.read())})
        return {"StatusCode": 202}

    def payloads(self) -> list[dict[str, Any]]:
        return [c["Payload"] for c in self.calls]


@dataclass
class Driven:
    results: list[dict[str, Any]]
    invokes: SelfInvokes

    @property
    def run_id(self) -> str:
        return str(self.results[0]["run_id"])


def drive(handler: Entrypoint, clock: Clock, context: Callable[[], LambdaContext], *,
          clients: Callable[[], RecordingClients] = RecordingClients, max_invocations: int = 50,
          **settings: str) -> Driven:
    """The scheduled invocation, then one invocation per continuation event the run sent."""
    environ = {**os.environ, **{f"CARETAKER_{k.upper()}": v for k, v in settings.items()}}
    invokes = SelfInvokes()
    events: list[dict[str, Any]] = [scheduled_event()]
    results: list[dict[str, Any]] = []
    while events:
        assert len(results) < max_invocations, "the run never finished"
        event = events.pop(0)
        sent = len(invokes.calls)
        results.append(handler.invoke(event, context(), environ=environ, clients=invokes.attach(clients()),
                                      clock=clock))
        events.extend(c["Payload"] for c in invokes.calls[sent:])
    return Driven(results, invokes)
