"""access-key-rotation over several invocations: checkpoints between users, each user handled once,
an invocation that dies mid-rotation resumed by the retried continuation, one notification per run."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from automations.core.spec import CONTINUATION_MARGIN
from automations.scheduled.access_key_rotation import handler
from tests.automations.conftest import Alerts, Clock, LambdaContext, scheduled_event
from tests.automations.core.test_continuation_support import DrainingContext, SelfInvokes, drive
from tests.automations.scheduled.access_key_harness import (
    OPT_IN,
    actions,
    keys,
    new_key,
    state,
    stored_key,
    summary,
    user,
)
from tests.declared_calls import Guard
from tests.notifications import message_body
from tests.recording import RecordingClients

ROTATING = [f"svc-{n:02d}" for n in range(30)]
IDLE = [f"idle-{n}" for n in range(4)]  # not opted in; their keys were never used: deactivated
PROTECTED = "zz-protected"  # opted in, protected: skipped
PER_INVOCATION = 6  # one read of the remaining time per user, the first one included: 6 users per invocation


@pytest.fixture
def account(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """34 users with one key each, 100 days old; returns user -> original key."""
    import moto.iam.models as iam_model

    monkeypatch.setattr(iam_model, "utcnow", lambda: clock.now.astimezone(UTC).replace(tzinfo=None))
    clock.now = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
    original = {name: new_key(user(name, OPT_IN)) for name in ROTATING}
    original.update({name: new_key(user(name)) for name in IDLE})
    original[PROTECTED] = new_key(user(PROTECTED, {**OPT_IN, "caretaker:protect": "true"}))
    clock.advance(days=100)
    return original


def context() -> DrainingContext:
    return DrainingContext(remaining_ms=int(CONTINUATION_MARGIN.default) * 1000 + PER_INVOCATION * 1000)


def body(message: dict[str, Any]) -> dict[str, Any]:
    return message_body(message["Message"])


class Recording:
    """A fresh set of clients per invocation; every call of every invocation is kept."""

    def __init__(self) -> None:
        self.made: list[RecordingClients] = []

    def __call__(self) -> RecordingClients:
        self.made.append(RecordingClients())
        return self.made[-1]

    def calls(self, service: str, operation: str) -> list[dict[str, Any]]:
        return [params for clients in self.made for s, o, params in clients.calls if (s, o) == (service, operation)]


def test_thirty_users_over_several_invocations_each_handled_once(
        state_table: str, alerts: Alerts, clock: Clock, account: dict[str, str], declared_calls: Guard) -> None:
    recording = Recording()
    driven = drive(handler, clock, context, clients=recording, mode="enforce")
    run_id = driven.run_id

    users = len(ROTATING) + len(IDLE) + 1
    assert len(driven.results) == -(-users // PER_INVOCATION)  # 6 users per invocation: 6 invocations
    assert [r["status"] for r in driven.results] == ["continued"] * (len(driven.results) - 1) + ["ok"]
    assert driven.invokes.payloads() == [{"caretaker": {"continue_run": run_id}}] * (len(driven.results) - 1)

    # AWS: every opted-in user rotated exactly once (one new key, stored), idle keys off, protected untouched
    created = Counter(p["UserName"] for p in recording.calls("iam", "CreateAccessKey"))
    assert created == Counter(ROTATING)
    for name in ROTATING:
        (new,) = set(keys(name)) - {account[name]}
        assert keys(name) == {account[name]: "Active", new: "Active"} and stored_key(name) == new
        assert state(state_table, name)["phase"] == "grace"  # type: ignore[index]
    assert {name: keys(name) for name in IDLE} == {name: {account[name]: "Inactive"} for name in IDLE}
    assert keys(PROTECTED) == {account[PROTECTED]: "Active"}

    # state log: one record per (resource, action, outcome); none skipped, none twice
    records = actions(state_table, run_id)
    per = Counter((i["resource_id"], i["action"], i["outcome"]) for i in records)
    assert {k: v for k, v in per.items() if v != 1} == {}
    expected = {(n, a, o) for n in ROTATING for a in ("create-access-key", "store-access-key")
                for o in ("planned", "succeeded")}
    expected |= {(account[n], "deactivate-unused-access-key", o) for n in IDLE for o in ("planned", "succeeded")}
    expected |= {(account[n], "report-old-access-key", "skipped") for n in IDLE}
    expected |= {(PROTECTED, "rotate-access-key", "skipped")}
    assert set(per) == expected

    # the summary covers every invocation, and agrees with the records
    final = summary(state_table, run_id)
    outcomes = Counter(i["outcome"] for i in records)
    assert {k: final[k] for k in ("planned", "succeeded", "failed", "skipped")} == {
        "planned": outcomes["planned"], "succeeded": outcomes["succeeded"], "failed": 0, "skipped": len(IDLE) + 1}
    assert (final["status"], final["invocations"]) == ("ok", len(driven.results))
    assert driven.results[-1]["counts"] == {"planned": 64, "succeeded": 64, "failed": 0, "skipped": len(IDLE) + 1}
    assert driven.results[-1]["users"] == users and driven.results[-1]["keys_created"] == len(ROTATING)

    # one notification, at the end, for the whole run
    (message,) = alerts.messages()
    sent = body(message)
    assert sent["counts"]["keys_created"] == len(ROTATING) and sent["counts"]["keys_deactivated"] == len(IDLE)
    assert sent["counts"]["users"] == users
    assert Counter(d["action"] for d in sent["done"]) == {"create-access-key": len(ROTATING),
                                                          "store-access-key": len(ROTATING)}
    assert Counter((f["user"], f["finding"]) for f in sent["findings"]) == Counter(
        (n, kind) for n in IDLE for kind in ("old-key", "unused-key"))
    assert "SecretAccessKey" not in message["Message"]

    # every call is declared (the Invoke API is authorised by the IAM action lambda:InvokeFunction)
    granted = {a for p in handler.spec.all_permissions for a in p.actions}
    assert "lambda:InvokeFunction" in granted
    assert len(declared_calls.invocations) == len(recording.made) and declared_calls.undeclared() == {}
    assert {c["FunctionName"] for c in driven.invokes.calls} == {LambdaContext.invoked_function_arn}


class Died(BaseException):
    """The Lambda process died (timeout, crash): nothing in the handler may catch it."""


def test_an_invocation_that_dies_mid_rotation_is_resumed_by_the_retried_continuation(
        state_table: str, alerts: Alerts, clock: Clock, account: dict[str, str]) -> None:
    environ = {**os.environ, "CARETAKER_MODE": "enforce"}
    invokes = SelfInvokes()
    recording = Recording()

    def invoke(event: dict[str, Any], clients: RecordingClients | None = None) -> dict[str, Any]:
        return handler.invoke(event, context(), environ=environ, clients=invokes.attach(clients or recording()),
                              clock=clock)

    first = invoke(scheduled_event())
    assert first["status"] == "continued"
    (event,) = invokes.payloads()

    # the second invocation dies right after CreateAccessKey of its second user: the new key's secret is lost
    dying = recording()
    died: list[str] = []

    def die(parsed: dict[str, Any], **_: Any) -> None:
        died.append(parsed["AccessKey"]["UserName"])
        if len(died) == 2:
            raise Died

    dying.session.events.register("after-call.iam.CreateAccessKey", die)
    with pytest.raises(Died):
        invoke(event, dying)
    lost_user = died[-1]
    assert len(keys(lost_user)) == 2 and state(state_table, lost_user)["phase"] == "creating"  # type: ignore[index]

    # Lambda retries the event; while the dead invocation's lease lasts, the retry does nothing
    assert invoke(event)["status"] == "ignored"
    clock.advance(seconds=handler.spec.timeout + 61)
    invokes.calls.clear()
    result = invoke(event)
    # resumed from invocation 1's checkpoint: it takes the place of the dead invocation 2
    assert result["status"] == "continued" and result["invocation"] == 2
    while invokes.calls and len(recording.made) < 20:
        result = invoke(invokes.calls.pop()["Payload"])
    assert result["status"] == "ok"

    # every opted-in user ends with one new, stored key; the lost one was deleted, not left behind
    for name in ROTATING:
        (new,) = set(keys(name)) - {account[name]}
        assert stored_key(name) == new and keys(name)[account[name]] == "Active"
    creates = Counter(p["UserName"] for p in recording.calls("iam", "CreateAccessKey"))
    assert creates == Counter(ROTATING) + Counter([lost_user])  # the interrupted user once more, nobody else
    deleted = recording.calls("iam", "DeleteAccessKey")
    assert [p["UserName"] for p in deleted] == [lost_user]
    assert deleted[0]["AccessKeyId"] not in keys(lost_user)
    records = actions(state_table, first["run_id"])
    assert any((r["resource_id"], r["action"], r["outcome"]) == (deleted[0]["AccessKeyId"], "delete-access-key",
                                                                "succeeded") for r in records)
    # users handled by the dead invocation were not rotated again: the retry found them in their grace period
    done_by_dead = died[:-1]
    assert {(r["action"], r["outcome"]) for r in records if r["resource_id"] == account[done_by_dead[0]]} == {
        ("deactivate-access-key", "skipped")}
    final = summary(state_table, first["run_id"])
    assert final["status"] == "ok" and final["invocations"] == len(recording.made) - 1  # the ignored one: no claim
    assert len(alerts.messages()) == 1


def test_a_continuation_delivered_again_after_the_run_finished_does_nothing(
        state_table: str, alerts: Alerts, clock: Clock, account: dict[str, str]) -> None:
    recording = Recording()
    driven = drive(handler, clock, context, clients=recording, mode="enforce")
    assert len(alerts.messages()) == 1
    before = actions(state_table, driven.run_id)
    late_clients = RecordingClients()
    late = handler.invoke(driven.invokes.payloads()[0], context(), environ={**os.environ, "CARETAKER_MODE": "enforce"},
                          clients=late_clients, clock=clock)
    assert late["status"] == "ignored"
    assert {s for s, _, _ in late_clients.calls} == {"dynamodb"}  # read its run, touched nothing else
    assert actions(state_table, driven.run_id) == before
    assert summary(state_table, driven.run_id)["invocations"] == len(driven.results)
    assert alerts.messages() == []
