"""Access-key rotation for users not opted in (reports, deactivation of unused keys), modes and protection."""

from __future__ import annotations

import os

import pytest

from automations.scheduled.access_key_rotation import handler
from tests.automations.conftest import Alerts, Clock, LambdaContext, scheduled_event
from tests.automations.scheduled.access_key_harness import (
    OPT_IN,
    actions,
    iam,
    keys,
    mark_used,
    new_key,
    outcomes,
    run,
    state,
    summary,
    user,
)
from tests.notifications import message_body
from tests.recording import RecordingClients

pytestmark = pytest.mark.usefixtures("_fresh_shared_clients")

# ---------------------------------------------------------------------- users not opted in


def test_old_and_unused_keys_are_reported_and_unused_ones_deactivated(
        state_table: str, alerts: Alerts, iam_clock: Clock, lambda_context: LambdaContext) -> None:
    name = user("dave")
    busy_old = new_key(name)
    idle_old = new_key(name)
    iam_clock.advance(days=100)
    mark_used(busy_old, iam_clock.now)
    result = run(iam_clock, lambda_context)
    assert keys(name) == {busy_old: "Active", idle_old: "Inactive"}
    records = outcomes(state_table, result["run_id"])
    assert ("report-old-access-key", busy_old, "skipped") in records
    assert ("report-old-access-key", idle_old, "skipped") in records
    assert ("deactivate-unused-access-key", idle_old, "succeeded") in records
    assert not any(r[0] == "deactivate-unused-access-key" and r[1] == busy_old for r in records)
    assert (result["old_keys"], result["unused_keys"], result["keys_deactivated"]) == (2, 1, 1)
    assert state(state_table, name) is None  # no rotation state for users not opted in
    body = message_body(alerts.messages()[0]["Message"])
    assert {(f["finding"], f["keys"][0]) for f in body["findings"]} == {
        ("old-key", busy_old), ("old-key", idle_old), ("unused-key", idle_old)}


def test_a_key_unused_since_its_last_use_long_ago_is_deactivated(
        state_table: str, iam_clock: Clock, lambda_context: LambdaContext) -> None:
    name = user("erin")
    key_id = new_key(name)
    iam_clock.advance(days=10)
    mark_used(key_id, iam_clock.now)
    iam_clock.advance(days=40)
    run(iam_clock, lambda_context, max_unused_days="30")
    assert keys(name) == {key_id: "Inactive"}


def test_audit_mode_changes_nothing(state_table: str, iam_clock: Clock, lambda_context: LambdaContext,
                                    alice: tuple[str, str]) -> None:
    name, first = alice
    idle = user("frank")
    idle_key = new_key(idle)
    iam_clock.advance(days=100)
    clients = RecordingClients()
    result = run(iam_clock, lambda_context, clients, mode="audit")
    assert keys(name) == {first: "Active"} and keys(idle) == {idle_key: "Active"}
    assert not {"CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"} & set(clients.count("iam"))
    assert clients.count("secretsmanager")["CreateSecret"] == 0
    planned = {(a["action"], a["resource_id"]) for a in actions(state_table, result["run_id"])
               if a["outcome"] == "planned"}
    assert planned == {("create-access-key", name), ("deactivate-unused-access-key", idle_key)}
    assert all(a["dry_run"] for a in actions(state_table, result["run_id"]))
    assert state(state_table, name) is None  # audit writes no rotation state either
    assert summary(state_table, result["run_id"])["mode"] == "audit"


def test_audit_is_the_default_mode(state_table: str, iam_clock: Clock, lambda_context: LambdaContext,
                                   alice: tuple[str, str]) -> None:
    iam_clock.advance(days=100)
    environ = {k: v for k, v in os.environ.items() if k != "CARETAKER_MODE"}
    result = handler.invoke(scheduled_event(), lambda_context, environ=environ, clients=RecordingClients(),
                            clock=iam_clock)
    assert result["mode"] == "audit" and len(keys(alice[0])) == 1


def test_protected_users_keep_their_keys(state_table: str, iam_clock: Clock, lambda_context: LambdaContext) -> None:
    rotating = user("gina", {**OPT_IN, "caretaker:protect": "true"})
    unused = user("hank", {"caretaker:protect": "true"})
    rotating_key, unused_key = new_key(rotating), new_key(unused)
    iam_clock.advance(days=100)
    result = run(iam_clock, lambda_context)
    assert keys(rotating) == {rotating_key: "Active"} and keys(unused) == {unused_key: "Active"}
    skipped = {(a["action"], a["resource_id"]) for a in actions(state_table, result["run_id"])
               if a["outcome"] == "skipped" and "protected" in a["reason"]}
    assert skipped == {("rotate-access-key", rotating), ("deactivate-unused-access-key", unused_key)}


def test_a_user_no_longer_opted_in_stops_its_rotation(state_table: str, iam_clock: Clock,
                                                      lambda_context: LambdaContext, alice: tuple[str, str]) -> None:
    name, first = alice
    iam_clock.advance(days=91)
    run(iam_clock, lambda_context)
    iam().untag_user(UserName=name, TagKeys=["caretaker:rotate"])
    iam_clock.advance(days=8)
    mark_used(first, iam_clock.now)  # still in use, so not deactivated as unused either
    result = run(iam_clock, lambda_context)
    assert keys(name)[first] == "Active"
    assert state(state_table, name)["phase"] == "idle"  # type: ignore[index]
    assert any("no longer opted in" in a["reason"] for a in actions(state_table, result["run_id"]))
