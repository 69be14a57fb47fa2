"""instance-scheduler beyond EC2: RDS instances and Aurora clusters, Auto Scaling groups, and the schedules
stacks store through Custom::Schedule."""

from __future__ import annotations

from typing import Any

import boto3

from automations.core.ledger import run_items
from automations.core.schedule_store import ScheduleStore
from tests.automations.conftest import REGION, Clock, LambdaContext
from tests.automations.scheduled.scheduler_harness import (
    NIGHT_TIME,
    OFFICE_TIME,
    actions,
    autoscaling,
    image,
    instances,
    outcomes,
    rds,
    run,
    state_of,
)
from tests.recording import RecordingClients

# ---------------------------------------------------------------------- RDS and Aurora


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
