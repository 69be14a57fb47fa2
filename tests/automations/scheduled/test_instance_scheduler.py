"""instance-scheduler on moto, with the clock in the event's `time`: drift, kinds, protect, audit, failures."""

from __future__ import annotations

import json

import pytest

from automations.core.errors import EventError, SettingsError, StateLogError
from tests.automations.conftest import Alerts, Clock, LambdaContext
from tests.automations.scheduled.scheduler_harness import (
    NIGHT_TIME,
    OFFICE_TIME,
    SCHEDULES,
    actions,
    ec2,
    instances,
    notices,
    outcomes,
    run,
    state_of,
)
from tests.recording import RecordingClients

# ---------------------------------------------------------------------- drift: actual state, not remembered


def test_an_instance_started_by_hand_inside_a_stop_period_is_stopped_again(
        state_table: str, alerts: Alerts, clock: Clock, lambda_context: LambdaContext) -> None:
    (instance,) = instances(1)
    first = run(NIGHT_TIME, lambda_context, clock)
    assert state_of(instance) == "stopped"
    ec2().start_instances(InstanceIds=[instance])  # by hand, still at night

    again = run("2026-12-02T21:15:00Z", lambda_context, clock)

    assert state_of(instance) == "stopped"
    for result in (first, again):
        assert outcomes(state_table, result["run_id"]) == {(instance, "stop-instance"): "succeeded"}
    planned = [i for i in actions(state_table, again["run_id"]) if i["outcome"] == "planned"]
    assert "schedule 'office-hours' wants it stopped at Wed 2026-12-02 22:15 Europe/Berlin" in planned[0]["reason"]


def test_an_instance_stopped_by_hand_inside_a_run_period_is_started(
        state_table: str, alerts: Alerts, clock: Clock, lambda_context: LambdaContext) -> None:
    (instance,) = instances(1, stopped=True)

    result = run(OFFICE_TIME, lambda_context, clock)

    assert state_of(instance) == "running"
    assert outcomes(state_table, result["run_id"]) == {(instance, "start-instance"): "succeeded"}
    (_, body), = notices(alerts)
    assert body["started"] == [instance] and body["counts"]["started"] == 1


def test_a_resource_already_as_its_schedule_wants_is_not_touched_and_nothing_is_sent(
        state_table: str, alerts: Alerts, clock: Clock, lambda_context: LambdaContext) -> None:
    running = instances(2)
    hooks = RecordingClients()

    result = run(OFFICE_TIME, lambda_context, clock, hooks)

    assert [state_of(i) for i in running] == ["running", "running"]
    assert actions(state_table, result["run_id"]) == []
    assert not hooks.count("ec2")["StopInstances"] and not hooks.count("ec2")["StartInstances"]
    assert notices(alerts) == []
    assert result["resources_scheduled"] == 2


def test_the_event_time_decides_not_the_clock_a_late_invocation_acts_as_scheduled(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    (instance,) = instances(1)
    clock.now = clock.now.replace(year=2026, month=12, day=3, hour=9)  # delivered next morning

    result = run(NIGHT_TIME, lambda_context, clock)

    assert state_of(instance) == "stopped"
    assert result["evaluated_at"] == "2026-12-02T21:00:00.000Z"


# ---------------------------------------------------------------------- schedule kinds and overrides


def test_a_stop_only_schedule_lets_an_instance_run_before_its_stop_time_and_stops_it_after(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    (instance,) = instances(1, "nights-off")

    before = run("2026-12-02T19:45:00Z", lambda_context, clock)
    assert state_of(instance) == "running" and actions(state_table, before["run_id"]) == []
    run("2026-12-02T20:00:00Z", lambda_context, clock)
    assert state_of(instance) == "stopped"
    ec2().start_instances(InstanceIds=[instance])
    next_morning = run("2026-12-03T08:00:00Z", lambda_context, clock)
    assert state_of(instance) == "running" and actions(state_table, next_morning["run_id"]) == []


def test_a_start_only_schedule_starts_from_its_start_time_and_never_stops(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    (instance,) = instances(1, "mornings", stopped=True)

    run("2026-12-02T06:45:00Z", lambda_context, clock)
    assert state_of(instance) == "stopped"
    run("2026-12-02T07:00:00Z", lambda_context, clock)
    assert state_of(instance) == "running"


def test_a_running_until_override_keeps_an_instance_running_through_the_night(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    (kept,) = instances(1, tags={"caretaker:schedule-override": "running-until=2026-12-02"})
    (expired,) = instances(1, tags={"caretaker:schedule-override": "running-until=2026-12-01"})

    run(NIGHT_TIME, lambda_context, clock)

    assert state_of(kept) == "running"
    assert state_of(expired) == "stopped"


def test_an_invalid_override_leaves_the_resource_as_it_is_and_says_why(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    (instance,) = instances(1, tags={"caretaker:schedule-override": "running-until=christmas"})

    result = run(NIGHT_TIME, lambda_context, clock)

    assert state_of(instance) == "running"
    (record,) = actions(state_table, result["run_id"])
    assert record["outcome"] == "skipped" and "caretaker:schedule-override is invalid" in record["reason"]


def test_hibernation_is_used_where_enabled_and_configured(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    (sleeper,) = instances(1, hibernation=True)
    (plain,) = instances(1)
    hooks = RecordingClients()

    result = run(NIGHT_TIME, lambda_context, clock, hooks, hibernate="true")

    assert outcomes(state_table, result["run_id"]) == {(sleeper, "hibernate-instance"): "succeeded",
                                                       (plain, "stop-instance"): "succeeded"}
    calls = [(b["InstanceIds"], b.get("Hibernate")) for s, o, b in hooks.calls if o == "StopInstances"]
    assert sorted(calls) == sorted([([plain], False), ([sleeper], True)])


# ---------------------------------------------------------------------- what is left alone


def test_a_protected_instance_and_one_naming_an_unknown_schedule_are_skipped_with_the_reason(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    (protected,) = instances(1, tags={"caretaker:protect": "true"})
    (unknown,) = instances(1, "weekends-only")

    result = run(NIGHT_TIME, lambda_context, clock)

    assert state_of(protected) == "running" and state_of(unknown) == "running"
    reasons = {i["resource_id"]: (i["outcome"], i["reason"]) for i in actions(state_table, result["run_id"])}
    assert reasons[protected] == ("skipped", "protected: tagged caretaker:protect=true")
    assert reasons[unknown][0] == "skipped"
    assert reasons[unknown][1].startswith("caretaker:schedule=weekends-only names an unknown schedule (known: ")


def test_instances_of_an_auto_scaling_group_are_left_to_the_group(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    (member,) = instances(1)
    ec2().create_tags(Resources=[member], Tags=[{"Key": "aws:autoscaling:groupName", "Value": "web"}])

    result = run(NIGHT_TIME, lambda_context, clock)

    assert state_of(member) == "running"
    (record,) = actions(state_table, result["run_id"])
    assert record["reason"].startswith("managed by Auto Scaling group web")


def test_an_invalid_schedule_in_the_setting_fails_alone_and_its_resources_are_skipped(
        state_table: str, alerts: Alerts, clock: Clock, lambda_context: LambdaContext) -> None:
    broken = {**SCHEDULES, "late": {"timezone": "UTC", "periods": [{"days": "mon-fri", "start": "25:00"}]}}
    (late,) = instances(1, "late")
    (office,) = instances(1)

    result = run(NIGHT_TIME, lambda_context, clock, schedules=broken)

    assert state_of(late) == "running" and state_of(office) == "stopped"
    final = outcomes(state_table, result["run_id"])
    assert final[("schedule:late", "validate-schedule")] == "failed"
    records = {i["resource_id"]: i for i in actions(state_table, result["run_id"]) if i["outcome"] != "planned"}
    assert records["schedule:late"]["reason"] == ("schedule 'late': periods[0].start: '25:00' is not HH:MM "
                                                  "(00:00 to 23:59)")
    assert records[late]["reason"].startswith("its schedule 'late' is invalid: schedule 'late': periods[0].start")
    assert result["status"] == "partial"
    bodies = [body for _, body in notices(alerts)]
    assert any(body.get("invalid_schedules", {}).get("late") for body in bodies)


def test_a_setting_that_is_not_json_fails_the_run_before_anything_is_touched(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    (instance,) = instances(1)

    with pytest.raises(SettingsError, match="CARETAKER_SCHEDULES must be a JSON object of schedules"):
        run(NIGHT_TIME, lambda_context, clock, schedules="{office-hours: mon-fri}")

    assert state_of(instance) == "running"


def test_an_event_time_that_is_not_an_instant_fails_the_run(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    (instance,) = instances(1)

    with pytest.raises(EventError, match="is not an ISO 8601 instant"):
        run("yesterday evening", lambda_context, clock)

    assert state_of(instance) == "running"


# ---------------------------------------------------------------------- audit, failures, batches


def test_audit_mode_records_what_it_would_do_and_changes_nothing(
        state_table: str, alerts: Alerts, clock: Clock, lambda_context: LambdaContext) -> None:
    (instance,) = instances(1)

    result = run(NIGHT_TIME, lambda_context, clock, mode="audit")

    assert state_of(instance) == "running"
    (record,) = actions(state_table, result["run_id"])
    assert (record["outcome"], record["dry_run"], record["action"]) == ("planned", True, "stop-instance")
    (summary, body), = notices(alerts)
    assert body["would_stop"] == [instance] and body["counts"]["would_stop"] == 1 and "would stop 1" in summary


def test_access_denied_on_one_instance_fails_that_instance_only(
        state_table: str, alerts: Alerts, clock: Clock, lambda_context: LambdaContext) -> None:
    ids = instances(4)
    refused = ids[1]
    hooks = RecordingClients()
    hooks.fail("ec2", "StopInstances", "UnauthorizedOperation", when=lambda b: refused in b["InstanceIds"])

    result = run(NIGHT_TIME, lambda_context, clock, hooks)

    assert [state_of(i) for i in ids] == ["stopped", "running", "stopped", "stopped"]
    final = outcomes(state_table, result["run_id"])
    assert final == {**{(i, "stop-instance"): "succeeded" for i in ids}, (refused, "stop-instance"): "failed"}
    assert result["status"] == "partial"
    bodies = [body for _, body in notices(alerts)]
    assert any(refused in body.get("failed", {}) for body in bodies)


def test_instances_are_stopped_in_batches_of_fifty(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    ids = instances(120)
    hooks = RecordingClients()

    result = run(NIGHT_TIME, lambda_context, clock, hooks)

    assert hooks.count("ec2")["StopInstances"] == 3
    assert result["stopped"] == 120 and all(state_of(i) == "stopped" for i in ids[::17])


def test_the_notification_estimates_the_saving_of_the_hours_stopped(
        state_table: str, alerts: Alerts, clock: Clock, lambda_context: LambdaContext) -> None:
    instances(2)

    result = run("2026-12-04T17:00:00Z", lambda_context, clock)  # Friday 18:00 in Berlin

    # stopped until Monday 08:00 (62 h) x 2 t3.micro at $0.0104 an hour
    assert result["estimated_saving_usd"] == round(62 * 2 * 0.0104, 2)
    (_, body), = notices(alerts)
    assert body["estimated_saving_usd"] == round(62 * 2 * 0.0104, 2)
    assert body["estimated_monthly_saving_usd"] == {"reported": round(118 * 2 * 0.0104 * 730 / 168, 2)}


def test_a_state_log_that_cannot_be_written_stops_the_run_before_any_instance_is_touched(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    (instance,) = instances(1)
    hooks = RecordingClients()
    hooks.fail("dynamodb", "BatchWriteItem", "AccessDeniedException")  # several planned records
    hooks.fail("dynamodb", "PutItem", "AccessDeniedException", when=lambda b: "ACT#" in json.dumps(b))  # one

    with pytest.raises(StateLogError):
        run(NIGHT_TIME, lambda_context, clock, hooks)

    assert state_of(instance) == "running"
