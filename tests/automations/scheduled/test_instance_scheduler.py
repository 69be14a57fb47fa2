"""instance-scheduler on moto, with the clock in the event's `time`: drift, kinds, protect, audit, failures."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import boto3
import pytest

from automations.core.errors import EventError, SettingsError, StateLogError
from automations.core.ledger import run_items
from automations.core.schedule_store import ScheduleStore
from automations.scheduled.instance_scheduler import handler
from tests.automations.conftest import REGION, Alerts, Clock, LambdaContext, scheduled_event
from tests.notifications import parse_message
from tests.recording import RecordingClients

SCHEDULES = {
    "office-hours": {"timezone": "Europe/Berlin", "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]},
    "nights-off": {"timezone": "UTC", "periods": [{"days": "mon-sun", "stop": "20:00"}]},
    "mornings": {"timezone": "UTC", "periods": [{"days": "mon-sun", "start": "07:00"}]},
}
# Wednesday 2026-12-02 in Berlin (CET, UTC+1)
OFFICE_TIME = "2026-12-02T10:00:00Z"  # 11:00: office hours
NIGHT_TIME = "2026-12-02T21:00:00Z"  # 22:00: outside


def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def image() -> str:
    return str(ec2().register_image(Name="base", RootDeviceName="/dev/sda1")["ImageId"])


def instances(n: int, schedule: str | None = "office-hours", *, stopped: bool = False, hibernation: bool = False,
              tags: Mapping[str, str] | None = None) -> list[str]:
    all_tags = {**({"caretaker:schedule": schedule} if schedule else {}), **(tags or {})}
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()]}]
    made = ec2().run_instances(ImageId=image(), MinCount=n, MaxCount=n, InstanceType="t3.micro",
                               TagSpecifications=spec, HibernationOptions={"Configured": hibernation})
    ids = sorted(i["InstanceId"] for i in made["Instances"])
    if stopped:
        ec2().stop_instances(InstanceIds=ids)
    return ids


def state_of(instance_id: str) -> str:
    found = ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return str(found["State"]["Name"])


def run(at: str, context: LambdaContext, clock: Clock, clients: RecordingClients | None = None,
        schedules: Any = SCHEDULES, **env: str) -> dict[str, Any]:
    event = {**scheduled_event(), "time": at}
    environ = {**os.environ, "CARETAKER_SCHEDULES": schedules if isinstance(schedules, str) else json.dumps(schedules),
               **{f"CARETAKER_{k.upper()}": v for k, v in env.items()}}
    return handler.invoke(event, context, environ=environ, clients=clients or RecordingClients(), clock=clock)


def actions(table: str, run_id: str) -> list[dict[str, Any]]:
    return [i for i in run_items(boto3.client("dynamodb"), table, run_id) if i["type"] == "action"]


def outcomes(table: str, run_id: str) -> dict[tuple[str, str], str]:
    """(resource id, action) -> final outcome."""
    final: dict[tuple[str, str], str] = {}
    for item in sorted(actions(table, run_id), key=lambda i: i["sk"]):
        final[(item["resource_id"], item["action"])] = item["outcome"]
    return final


def notices(alerts: Alerts) -> list[tuple[str, dict[str, Any]]]:
    return [parse_message(m["Message"]) for m in alerts.messages()]


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


# ---------------------------------------------------------------------- RDS and Aurora


def rds() -> Any:
    return boto3.client("rds", region_name=REGION)


def db_instance(name: str, schedule: str = "office-hours", **tags: str) -> str:
    all_tags = {"caretaker:schedule": schedule, **tags}
    rds().create_db_instance(DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine="postgres",
                             MasterUsername="admin", MasterUserPassword="password-123", AllocatedStorage=20,
                             Tags=[{"Key": k, "Value": v} for k, v in all_tags.items()])
    return name


def db_status(name: str) -> str:
    return str(rds().describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]["DBInstanceStatus"])


def test_an_rds_instance_is_stopped_at_night_and_stopped_again_when_aws_restarts_it_after_seven_days(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    db = db_instance("orders")
    run(NIGHT_TIME, lambda_context, clock)
    assert db_status(db) == "stopped"
    rds().start_db_instance(DBInstanceIdentifier=db)  # what AWS does after seven days stopped

    again = run("2026-12-05T12:00:00Z", lambda_context, clock)  # Saturday

    assert db_status(db) == "stopped"
    assert outcomes(state_table, again["run_id"]) == {(db, "stop-db-instance"): "succeeded"}


def test_an_rds_instance_is_started_in_office_hours_and_an_aurora_member_is_left_to_its_cluster(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    db = db_instance("orders")
    rds().stop_db_instance(DBInstanceIdentifier=db)
    rds().create_db_cluster(DBClusterIdentifier="reports", Engine="aurora-postgresql", MasterUsername="admin",
                            MasterUserPassword="password-123",
                            Tags=[{"Key": "caretaker:schedule", "Value": "office-hours"}])
    rds().stop_db_cluster(DBClusterIdentifier="reports")

    result = run(OFFICE_TIME, lambda_context, clock)

    assert db_status(db) == "available"
    cluster = rds().describe_db_clusters(DBClusterIdentifier="reports")["DBClusters"][0]
    assert cluster["Status"] == "available"
    assert outcomes(state_table, result["run_id"]) == {(db, "start-db-instance"): "succeeded",
                                                       ("reports", "start-db-cluster"): "succeeded"}


def test_an_aurora_cluster_is_stopped_outside_office_hours(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    rds().create_db_cluster(DBClusterIdentifier="reports", Engine="aurora-postgresql", MasterUsername="admin",
                            MasterUserPassword="password-123",
                            Tags=[{"Key": "caretaker:schedule", "Value": "office-hours"}])

    result = run(NIGHT_TIME, lambda_context, clock)

    assert rds().describe_db_clusters(DBClusterIdentifier="reports")["DBClusters"][0]["Status"] == "stopped"
    assert outcomes(state_table, result["run_id"]) == {("reports", "stop-db-cluster"): "succeeded"}


def test_rds_access_denied_fails_that_database_and_the_instances_still_stop(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    db = db_instance("orders")
    (instance,) = instances(1)
    hooks = RecordingClients()
    hooks.fail("rds", "StopDBInstance", "AccessDenied")

    result = run(NIGHT_TIME, lambda_context, clock, hooks)

    assert db_status(db) == "available" and state_of(instance) == "stopped"
    assert outcomes(state_table, result["run_id"]) == {(db, "stop-db-instance"): "failed",
                                                       (instance, "stop-instance"): "succeeded"}


def test_a_service_that_cannot_be_listed_is_recorded_failed_and_the_others_are_scheduled(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    (instance,) = instances(1)
    hooks = RecordingClients()
    hooks.fail("rds", "DescribeDBInstances", "AccessDenied")

    result = run(NIGHT_TIME, lambda_context, clock, hooks)

    assert state_of(instance) == "stopped"
    assert outcomes(state_table, result["run_id"])[("rds:*", "survey")] == "failed"


# ---------------------------------------------------------------------- Auto Scaling groups


def autoscaling() -> Any:
    return boto3.client("autoscaling", region_name=REGION)


def group(name: str = "web", schedule: str = "office-hours", sizes: tuple[int, int, int] = (1, 4, 2)) -> str:
    autoscaling().create_launch_configuration(LaunchConfigurationName=f"{name}-lc", ImageId=image(),
                                              InstanceType="t3.micro")
    autoscaling().create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchConfigurationName=f"{name}-lc", MinSize=sizes[0], MaxSize=sizes[1],
        DesiredCapacity=sizes[2], AvailabilityZones=[f"{REGION}a"],
        Tags=[{"Key": "caretaker:schedule", "Value": schedule, "PropagateAtLaunch": False}])
    return name


def sizes_of(name: str) -> tuple[int, int, int]:
    found = autoscaling().describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return found["MinSize"], found["MaxSize"], found["DesiredCapacity"]


def recorded(table: str, name: str) -> dict[str, Any] | None:
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "SCHEDULER#asg"},
                                                                   "sk": {"S": name}}).get("Item")
    return {k: int(v["N"]) for k, v in item.items() if k in ("min", "max", "desired")} if item else None


def test_a_group_is_scaled_in_to_zero_and_back_to_its_recorded_sizes(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    web = group()

    night = run(NIGHT_TIME, lambda_context, clock)
    assert sizes_of(web) == (0, 0, 0)
    assert recorded(state_table, web) == {"min": 1, "max": 4, "desired": 2}
    morning = run("2026-12-03T07:00:00Z", lambda_context, clock)  # Thursday 08:00 in Berlin

    assert sizes_of(web) == (1, 4, 2)
    assert recorded(state_table, web) is None
    assert outcomes(state_table, night["run_id"]) == {(web, "scale-in-group"): "succeeded"}
    assert outcomes(state_table, morning["run_id"]) == {(web, "scale-out-group"): "succeeded"}
    done = [i for i in actions(state_table, morning["run_id"]) if i["outcome"] == "succeeded"]
    assert done[0]["details"]["restored"] == {"min": 1, "max": 4, "desired": 2}


def test_a_group_scaled_up_by_hand_at_night_is_scaled_in_again_and_keeps_its_first_recorded_sizes(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    web = group()
    run(NIGHT_TIME, lambda_context, clock)
    autoscaling().update_auto_scaling_group(AutoScalingGroupName=web, MinSize=1, MaxSize=1, DesiredCapacity=1)

    run("2026-12-02T22:00:00Z", lambda_context, clock)

    assert sizes_of(web) == (0, 0, 0)
    assert recorded(state_table, web) == {"min": 1, "max": 4, "desired": 2}


def test_a_group_at_zero_without_recorded_sizes_is_not_guessed_and_fails_with_the_reason(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    web = group(sizes=(0, 0, 0))

    result = run(OFFICE_TIME, lambda_context, clock)

    assert sizes_of(web) == (0, 0, 0)
    (failed,) = [i for i in actions(state_table, result["run_id"]) if i["outcome"] == "failed"]
    assert "no recorded sizes for group web" in failed["reason"]


def test_a_protected_group_is_never_scaled(state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    web = group()
    autoscaling().create_or_update_tags(Tags=[{"ResourceId": web, "ResourceType": "auto-scaling-group",
                                               "Key": "caretaker:protect", "Value": "true",
                                               "PropagateAtLaunch": False}])

    result = run(NIGHT_TIME, lambda_context, clock)

    assert sizes_of(web) == (1, 4, 2)
    assert outcomes(state_table, result["run_id"]) == {(web, "schedule-autoscaling-group"): "skipped"}


# ---------------------------------------------------------------------- schedules from Custom::Schedule


def store(table: str, name: str, config: dict[str, Any], stack: str = "team-a") -> None:
    ScheduleStore(table, boto3.client("dynamodb"), automation="test", run_id="test").put(
        name, config, stack_id=f"arn:aws:cloudformation:{REGION}:123456789012:stack/{stack}/1",
        logical_id="Schedule", physical_id=f"caretaker:schedule:{name}:0123456789ab",
        at="2026-12-01T00:00:00.000Z", expected_version=0)


def test_a_schedule_a_stack_stored_is_applied_like_the_operators(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    store(state_table, "team-a-hours", {"timezone": "UTC", "periods": [{"days": "mon-fri", "start": "09:00",
                                                                         "stop": "17:00"}]})
    (instance,) = instances(1, "team-a-hours")

    run("2026-12-02T17:00:00Z", lambda_context, clock)

    assert state_of(instance) == "stopped"


def test_the_operators_setting_wins_over_a_stored_schedule_of_the_same_name(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    store(state_table, "office-hours", {"timezone": "UTC", "periods": [{"days": "mon-sun", "stop": "00:00"}]})
    (instance,) = instances(1)

    result = run(OFFICE_TIME, lambda_context, clock)

    assert state_of(instance) == "running"  # the stored one would stop it all day
    summary = next(i for i in run_items(boto3.client("dynamodb"), state_table, result["run_id"]) if i["type"] == "run")
    assert any("shadowed by the operator's schedules setting" in note for note in summary["notes"])
