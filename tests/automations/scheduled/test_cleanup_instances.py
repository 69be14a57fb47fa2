"""Long-stopped instances: report by default; snapshot and terminate on request, in two phases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from automations.scheduled.cleanup_instances import SPEC, handler, stopped_at
from tests.automations.conftest import REGION
from tests.automations.scheduled.cleanup_harness import Harness, ec2, harness_fixture, tag_specs, tags_of
from tests.recording import RecordingClients

h = harness_fixture(handler)


def stopped_instance(h: Harness, days: int = 40, tags: dict[str, str] | None = None) -> str:
    client = ec2()
    image_id = client.register_image(Name="base-image", RootDeviceName="/dev/sda1")["ImageId"]
    instance_id = str(client.run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                                           TagSpecifications=tag_specs("instance", tags),
                                           Placement={"AvailabilityZone": f"{REGION}a"})["Instances"][0]["InstanceId"])
    h.clock.advance(days=-days)
    client.stop_instances(InstanceIds=[instance_id])
    h.clock.advance(days=days)
    return instance_id


def state(instance_id: str) -> str:
    return str(ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"])


def instance_tags(instance_id: str) -> dict[str, str]:
    return tags_of(ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0])


def final_snapshots() -> list[dict[str, Any]]:
    return ec2().describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:caretaker:automation", "Values": ["cleanup-stopped-instances"]}])["Snapshots"]


def forget_stop_date(instance_id: str) -> None:
    """As for instances stopped long ago, whose StateTransitionReason carries no date (moto backend)."""
    from moto.backends import get_backend

    get_backend("ec2")["123456789012"][REGION].get_instance(instance_id)._reason = ""


def test_stop_date_parsing() -> None:
    assert stopped_at("User initiated (2026-11-27 03:00:00 GMT)") == datetime(2026, 11, 27, 3, tzinfo=UTC)
    assert stopped_at("User initiated (2026-11-27 03:00:00 UTC)") == datetime(2026, 11, 27, 3, tzinfo=UTC)
    assert stopped_at("Server.ScheduledStop") is None and stopped_at("") is None


def test_reports_by_default_and_changes_nothing(h: Harness) -> None:
    assert SPEC.setting("stopped_instance_action").default == "report"
    instance_id = stopped_instance(h)
    young = stopped_instance(h, days=5)
    result = h.invoke()
    assert state(instance_id) == "stopped" and "caretaker:cleanup-after" not in instance_tags(instance_id)
    [record] = h.actions(result["run_id"])
    assert (record["resource_id"], record["outcome"]) == (instance_id, "skipped")
    assert "reported only" in record["reason"] and "stopped since" in record["reason"]
    body = h.notification(result["run_id"])["body"]
    assert [r["id"] for r in body["reported"]] == [instance_id]
    assert body["reported"][0]["estimated_monthly_usd"] == 0.24  # 8 GB root deleted on termination, minus snapshot
    assert h.pending() == {} and young


def test_without_a_stop_date_the_age_counts_from_the_first_sighting(h: Harness) -> None:
    instance_id = stopped_instance(h, days=100)
    forget_stop_date(instance_id)
    h.invoke()
    assert h.pending()[instance_id]["stage"] == "seen"
    h.clock.advance(days=31)
    result = h.invoke()
    reported = h.notification(result["run_id"])["body"]["reported"]
    assert reported[0]["reason"].startswith("stopped, first seen")
    assert h.pending()[instance_id]["stage"] == "seen"  # the sighting is kept while reporting


def test_terminate_in_two_phases_after_final_snapshots(h: Harness) -> None:
    instance_id = stopped_instance(h, tags={"Name": "forgotten"})
    first = h.invoke(stopped_instance_action="terminate")
    due = (h.clock.now + timedelta(days=7)).date().isoformat()
    assert instance_tags(instance_id)["caretaker:cleanup-after"] == due
    assert h.notification(first["run_id"])["body"]["pending"][0]["id"] == instance_id

    h.clock.advance(days=8)
    second = h.invoke(stopped_instance_action="terminate")
    # CreateSnapshots answers before the snapshots complete: terminate only on a later run
    assert state(instance_id) == "stopped"
    [snapshot] = final_snapshots()
    assert tags_of(snapshot)["caretaker:instance-id"] == instance_id
    assert h.pending()[instance_id]["details"]["final_snapshot_ids"] == [snapshot["SnapshotId"]]
    assert h.notification(second["run_id"])["body"]["waiting"] == {
        instance_id: f"final_snapshot_ids=['{snapshot['SnapshotId']}']"}

    third = h.invoke(stopped_instance_action="terminate")
    assert state(instance_id) == "terminated" and len(final_snapshots()) == 1
    assert h.outcomes(third["run_id"]) == {(instance_id, "terminate-instance", "planned"),
                                           (instance_id, "terminate-instance", "succeeded")}
    terminated = next(i for i in h.actions(third["run_id"]) if i["outcome"] == "succeeded")
    assert terminated["details"]["final_snapshot_ids"] == [snapshot["SnapshotId"]]
    assert h.pending() == {}


def test_instance_started_during_the_grace_period_is_spared(h: Harness) -> None:
    instance_id = stopped_instance(h)
    h.invoke(stopped_instance_action="terminate")
    ec2().start_instances(InstanceIds=[instance_id])
    h.clock.advance(days=8)
    result = h.invoke(stopped_instance_action="terminate")
    assert state(instance_id) == "running" and final_snapshots() == []
    [skipped] = [i for i in h.actions(result["run_id"]) if i["outcome"] == "skipped"]
    assert skipped["reason"].startswith("spared: state is running")


def test_auto_scaling_protected_and_excluded_instances_stay(h: Harness) -> None:
    warm = stopped_instance(h, tags={"aws:autoscaling:groupName": "web-asg"})
    protected = stopped_instance(h, tags={"caretaker:protect": "true"})
    excluded = stopped_instance(h, tags={"env": "DR"})
    result = h.invoke(stopped_instance_action="terminate", grace_days="0", exclude_tags="env=dr")
    assert {state(i) for i in (warm, protected, excluded)} == {"stopped"}
    assert {i["resource_id"] for i in h.actions(result["run_id"])} == {protected, excluded}


def test_audit_plans_snapshot_and_termination(h: Harness) -> None:
    instance_id = stopped_instance(h)
    result = h.invoke(mode="audit", stopped_instance_action="terminate", grace_days="0")
    assert state(instance_id) == "stopped" and final_snapshots() == []
    assert h.outcomes(result["run_id"]) == {(instance_id, "create-final-snapshots", "planned"),
                                            (instance_id, "terminate-instance", "planned")}


def test_failed_termination_is_retried_without_new_snapshots(h: Harness) -> None:
    instance_id = stopped_instance(h)
    h.invoke(stopped_instance_action="terminate", grace_days="0")  # snapshots taken, waiting for them
    [snapshot] = final_snapshots()
    clients = RecordingClients()
    clients.fail("ec2", "TerminateInstances", code="OperationNotPermitted")
    result = h.invoke(clients, stopped_instance_action="terminate", grace_days="0")
    assert result["status"] == "failed" and state(instance_id) == "stopped"
    assert h.pending()[instance_id]["details"]["final_snapshot_ids"] == [snapshot["SnapshotId"]]

    retry = RecordingClients()
    h.invoke(retry, stopped_instance_action="terminate", grace_days="0")
    assert state(instance_id) == "terminated"
    assert retry.count("ec2")["CreateSnapshots"] == 0 and len(final_snapshots()) == 1
