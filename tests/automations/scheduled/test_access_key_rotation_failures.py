"""Access-key rotation: bad input and failure paths (denied calls, the state table, concurrent runs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
import pytest

from automations.core.errors import EventError, SettingsError, StateLogError
from automations.scheduled.access_key_rotation import handler
from tests.automations.conftest import Alerts, Clock, LambdaContext, scheduled_event
from tests.automations.scheduled.access_key_harness import (
    OPT_IN,
    actions,
    keys,
    new_key,
    phase_write,
    run,
    secrets,
    summary,
    user,
)
from tests.recording import RecordingClients

pytestmark = pytest.mark.usefixtures("_fresh_shared_clients")

# ---------------------------------------------------------------------- bad input and failures


def test_an_invalid_threshold_fails_the_run_before_anything_is_done(
        state_table: str, iam_clock: Clock, lambda_context: LambdaContext, alice: tuple[str, str]) -> None:
    iam_clock.advance(days=100)
    clients = RecordingClients()
    with pytest.raises(SettingsError, match="CARETAKER_MAX_KEY_AGE_DAYS must be an integer from 1 to 3650, got '0'"):
        run(iam_clock, lambda_context, clients, max_key_age_days="0")
    with pytest.raises(SettingsError, match="CARETAKER_GRACE_DAYS"):
        run(iam_clock, lambda_context, clients, grace_days="a week")
    assert clients.count("iam") == {}
    assert len(keys(alice[0])) == 1


def test_scheduled_event_with_extra_fields_is_accepted_and_other_events_rejected(
        state_table: str, iam_clock: Clock, lambda_context: LambdaContext) -> None:
    event = {**scheduled_event(), "unexpected": {"nested": True}, "detail": {"surprise": 1}}
    assert handler.invoke(event, lambda_context, clients=RecordingClients(), clock=iam_clock)["status"] == "ok"
    with pytest.raises(EventError, match="Scheduled Event"):
        handler.invoke({"detail-type": "AWS API Call via CloudTrail"}, lambda_context, clients=RecordingClients(),
                       clock=iam_clock)


def test_access_denied_on_one_user_fails_that_user_only(
        state_table: str, alerts: Alerts, iam_clock: Clock, lambda_context: LambdaContext,
        alice: tuple[str, str]) -> None:
    name, _ = alice
    denied = user("ivan", OPT_IN)
    denied_key = new_key(denied)
    iam_clock.advance(days=91)
    clients = RecordingClients()
    clients.fail("iam", "ListAccessKeys", when=lambda body: body.get("UserName") == denied)
    result = run(iam_clock, lambda_context, clients)
    assert result["status"] == "partial"
    assert len(keys(name)) == 2 and keys(denied) == {denied_key: "Active"}
    [failed] = [a for a in actions(state_table, result["run_id"]) if a["outcome"] == "failed"]
    assert (failed["resource_id"], failed["action"]) == (denied, "evaluate-user")
    assert failed["reason"].startswith("AccessDenied")
    run_summary = summary(state_table, result["run_id"])
    assert (run_summary["status"], run_summary["failed"]) == ("partial", 1)
    assert any("partial" in m["Subject"] for m in alerts.messages())


def test_the_state_table_unreachable_means_nothing_is_touched(
        monkeypatch: pytest.MonkeyPatch, iam_clock: Clock, lambda_context: LambdaContext,
        alice: tuple[str, str]) -> None:
    monkeypatch.setenv("CARETAKER_STATE_TABLE", "missing-table")
    iam_clock.advance(days=100)
    clients = RecordingClients()
    with pytest.raises(StateLogError, match="missing-table"):
        run(iam_clock, lambda_context, clients)
    assert len(keys(alice[0])) == 1
    assert clients.count("iam")["CreateAccessKey"] == 0


def test_a_concurrent_run_that_moved_the_user_first_wins(
        state_table: str, iam_clock: Clock, lambda_context: LambdaContext, alice: tuple[str, str]) -> None:
    name, first = alice
    iam_clock.advance(days=91)
    clients = RecordingClients()
    # another run writes the user's state between this run's read and its first write
    dynamodb = boto3.client("dynamodb")

    def sneak_in(body: Mapping[str, Any]) -> bool:
        if phase_write("creating")(body):
            dynamodb.put_item(TableName=state_table, Item={
                "pk": {"S": "ROTATION#access-keys"}, "sk": {"S": f"USER#{name}"}, "user": {"S": name},
                "phase": {"S": "idle"}, "version": {"N": "1"}})
        return False

    clients.fail("dynamodb", "PutItem", when=sneak_in)
    result = run(iam_clock, lambda_context, clients)
    assert keys(name) == {first: "Active"}
    [record] = actions(state_table, result["run_id"])
    assert record["outcome"] == "skipped" and "another run" in record["reason"]


def test_a_secret_it_did_not_make_is_not_overwritten(state_table: str, iam_clock: Clock,
                                                      lambda_context: LambdaContext, alice: tuple[str, str]) -> None:
    name, first = alice
    secrets().create_secret(Name=f"caretaker/access-keys/{name}", SecretString="someone else's")
    iam_clock.advance(days=91)
    result = run(iam_clock, lambda_context)
    assert keys(name) == {first: "Active"}
    assert secrets().get_secret_value(SecretId=f"caretaker/access-keys/{name}")["SecretString"] == "someone else's"
    [record] = actions(state_table, result["run_id"])
    assert record["outcome"] == "skipped" and "does not overwrite" in record["reason"]
