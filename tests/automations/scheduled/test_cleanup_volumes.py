"""Cleanup of unattached EBS volumes: two phases, final snapshots, protection, dry-run, bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from automations.core.errors import SettingsError
from automations.scheduled.cleanup_volumes import handler
from tests.automations.conftest import REGION, scheduled_event
from tests.automations.scheduled.cleanup_harness import Harness, ec2, harness_fixture, tag, tag_specs, tags_of
from tests.recording import RecordingClients

h = harness_fixture(handler)


def old_volume(h: Harness, tags: dict[str, str] | None = None, size: int = 100, days: int = 30) -> str:
    h.clock.advance(days=-days)
    volume_id = str(ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=size,
                                        TagSpecifications=tag_specs("volume", tags))["VolumeId"])
    h.clock.advance(days=days)
    return volume_id


def volume_ids() -> set[str]:
    return {v["VolumeId"] for v in ec2().describe_volumes()["Volumes"]}


def volume_tags(volume_id: str) -> dict[str, str]:
    return tags_of(ec2().describe_volumes(VolumeIds=[volume_id])["Volumes"][0])


def final_snapshots() -> list[dict[str, Any]]:
    mine = [{"Name": "tag:caretaker:automation", "Values": ["cleanup-ebs-volumes"]}]
    return ec2().describe_snapshots(OwnerIds=["self"], Filters=mine)["Snapshots"]


def attach(volume_id: str) -> str:
    client = ec2()
    image_id = client.register_image(Name="base-image", RootDeviceName="/dev/sda1")["ImageId"]
    instance_id = str(client.run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                                           Placement={"AvailabilityZone": f"{REGION}a"})["Instances"][0]["InstanceId"])
    client.attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device="/dev/sdf")
    return instance_id


# ---------------------------------------------------------------------- two phases


def test_first_run_announces_then_a_run_after_the_grace_period_snapshots_and_deletes(h: Harness) -> None:
    volume_id = old_volume(h, {"Name": "old-data", "team": "payments"})
    due = (h.clock.now + timedelta(days=7)).date().isoformat()

    first = h.invoke()

    assert volume_id in volume_ids()
    assert volume_tags(volume_id)["caretaker:cleanup-after"] == due
    pending = h.pending()[volume_id]
    assert (pending["stage"], pending["due"][:10], pending["dry_run"]) == ("pending", due, False)
    assert h.outcomes(first["run_id"]) == {(volume_id, "tag-cleanup-after", "planned"),
                                           (volume_id, "tag-cleanup-after", "succeeded")}
    notice = h.notification()
    assert notice["body"]["pending"] == [{"id": volume_id, "due": due, "new": True, "reason": pending["reason"],
                                          "estimated_monthly_usd": 3.0}]  # 100 GB x (0.08 - 0.05 for the snapshot)
    assert "1 pending (1 new), acted on from " + due in notice["summary"]

    h.clock.advance(days=3)
    second = h.invoke()
    assert volume_id in volume_ids() and second["volumes_pending"] == 1 and second["volumes_pending_new"] == 0
    assert h.notification()["body"]["pending"][0]["new"] is False

    h.clock.advance(days=5)
    third = h.invoke()

    assert volume_id not in volume_ids()
    [snapshot] = final_snapshots()
    tags = tags_of(snapshot)
    assert (tags["Name"], tags["team"], tags["caretaker:volume-id"]) == ("old-data", "payments", volume_id)
    assert "caretaker:cleanup-after" not in tags
    assert h.outcomes(third["run_id"]) == {
        (volume_id, "create-final-snapshot", "planned"), (volume_id, "create-final-snapshot", "succeeded"),
        (volume_id, "delete-volume", "planned"), (volume_id, "delete-volume", "succeeded")}
    deleted = next(i for i in h.actions(third["run_id"])
                   if i["action"] == "delete-volume" and i["outcome"] == "succeeded")
    assert deleted["details"]["final_snapshot_id"] == snapshot["SnapshotId"]
    assert h.pending() == {}
    history = [i["action"] for i in h.history(volume_id) if i["outcome"] == "succeeded"]
    assert history[0] == "tag-cleanup-after"  # the clock is frozen within a run: its records share a time
    assert sorted(history[1:]) == ["create-final-snapshot", "delete-volume"]
    body = h.notification()["body"]
    assert body["acted"] == [volume_id] and body["estimated_monthly_saving_usd"]["acted"] == 3.0


def test_the_notice_and_the_pending_record_name_the_creator_from_the_creator_tag(h: Harness) -> None:
    creator = "arn:aws:iam::123456789012:role/DeveloperAccess session:alice@example.com"
    tagged = old_volume(h, {"caretaker:created-by": creator})
    untagged = old_volume(h)

    h.invoke()

    entries = {e["id"]: e for e in h.notification()["body"]["pending"]}
    assert entries[tagged]["created_by"] == creator
    assert "created_by" not in entries[untagged]
    assert h.pending()[tagged]["details"]["created_by"] == creator


def test_grace_zero_acts_at_once_without_a_pending_record(h: Harness) -> None:
    volume_id = old_volume(h, size=20)
    result = h.invoke(grace_days="0", final_snapshot="false")
    assert volume_id not in volume_ids()
    assert final_snapshots() == []
    assert h.pending() == {}
    assert result["volumes_acted"] == 1 and result["estimated_monthly_saving_usd"]["acted"] == 1.6


def test_volume_reattached_during_the_grace_period_is_spared_and_untagged(h: Harness) -> None:
    volume_id = old_volume(h)
    instance_id, result = h.rerun_after_grace(lambda: attach(volume_id))

    assert volume_id in volume_ids() and final_snapshots() == []
    assert "caretaker:cleanup-after" not in volume_tags(volume_id)
    assert h.pending() == {}
    [skipped] = h.skipped(result["run_id"])
    assert skipped["resource_id"] == volume_id and skipped["action"] == "delete-volume"
    assert skipped["reason"].startswith(f"spared: attached to {instance_id}")
    assert (volume_id, "remove-cleanup-tag", "succeeded") in h.outcomes(result["run_id"])
    assert h.notification()["body"]["dropped"] == {volume_id: f"attached to {instance_id}"}


def test_volume_protected_during_the_grace_period_is_spared(h: Harness) -> None:
    volume_id = old_volume(h)
    h.invoke()
    tag(volume_id, {"caretaker:protect": "true"})
    h.clock.advance(days=8)
    result = h.invoke()
    assert volume_id in volume_ids()
    [skipped] = [i for i in h.actions(result["run_id"]) if i["outcome"] == "skipped"]
    assert "protected" in skipped["reason"] and skipped["reason"].startswith("spared")


# ---------------------------------------------------------------------- selection


def test_young_and_attached_volumes_are_not_candidates(h: Harness) -> None:
    young = old_volume(h, days=3)
    attached = old_volume(h)
    attach(attached)
    result = h.invoke()
    assert result["candidates"] == 0
    assert h.pending() == {} and h.actions(result["run_id"]) == []
    assert "caretaker:cleanup-after" not in volume_tags(young)
    assert h.messages() == []  # nothing to say: no message


def test_protected_volume_is_skipped_and_never_tagged(h: Harness) -> None:
    volume_id = old_volume(h, {"caretaker:protect": "TRUE"})
    result = h.invoke(grace_days="0")
    assert volume_id in volume_ids()
    assert "caretaker:cleanup-after" not in volume_tags(volume_id)
    [skipped] = h.actions(result["run_id"])
    assert (skipped["outcome"], skipped["reason"]) == ("skipped", "protected: tagged caretaker:protect=true")


def test_exclusion_tag_filter_by_key_and_by_value(h: Harness) -> None:
    by_value = old_volume(h, {"lifecycle": "Keep"})
    by_key = old_volume(h, {"backup-owner": "anyone"})
    other_value = old_volume(h, {"lifecycle": "temporary"})
    result = h.invoke(grace_days="0", final_snapshot="false", exclude_tags="lifecycle=keep, backup-owner")
    assert volume_ids() == {by_value, by_key}
    assert other_value not in volume_ids()
    reasons = {i["resource_id"]: i["reason"] for i in h.actions(result["run_id"]) if i["outcome"] == "skipped"}
    assert reasons == {by_value: "excluded: tagged lifecycle=Keep", by_key: "excluded: tagged backup-owner"}


# ---------------------------------------------------------------------- dry-run


def test_audit_mode_changes_nothing_and_an_enforce_run_starts_the_grace_period_itself(h: Harness) -> None:
    volume_id = old_volume(h)
    first = h.invoke(mode="audit")
    assert "caretaker:cleanup-after" not in volume_tags(volume_id)
    assert {(i["action"], i["outcome"], i["dry_run"]) for i in h.actions(first["run_id"])} == {
        ("tag-cleanup-after", "planned", True)}
    assert h.pending()[volume_id]["dry_run"] is True
    assert h.summary(first["run_id"])["dry_run"] is True

    h.clock.advance(days=8)
    second = h.invoke(mode="audit")
    assert volume_id in volume_ids() and final_snapshots() == []
    assert {(i["action"], i["outcome"], i["dry_run"]) for i in h.actions(second["run_id"])} == {
        ("create-final-snapshot", "planned", True), ("delete-volume", "planned", True)}
    notices = h.messages()
    assert "would have deleted volumes: 1" in notices[-1]["Message"]

    third = h.invoke(mode="enforce")  # nothing was ever tagged: announce now, act a grace period later
    assert volume_id in volume_ids()
    assert volume_tags(volume_id)["caretaker:cleanup-after"] == (h.clock.now + timedelta(days=7)).date().isoformat()
    assert third["volumes_pending_new"] == 1 and h.pending()[volume_id]["dry_run"] is False


# ---------------------------------------------------------------------- final snapshot still pending


def _force_state(clients: RecordingClients, operation: str, state: str) -> None:
    def rewrite(parsed: dict[str, Any], **_: Any) -> None:
        if "State" in parsed:
            parsed["State"] = state
        for snapshot in parsed.get("Snapshots", []):
            snapshot["State"] = state

    clients.session.events.register(f"after-call.ec2.{operation}", rewrite)


def test_volume_waits_for_its_final_snapshot_to_complete(h: Harness) -> None:
    volume_id = old_volume(h)
    clients = RecordingClients()
    _force_state(clients, "CreateSnapshot", "pending")
    first = h.invoke(clients, grace_days="0")
    assert volume_id in volume_ids()
    [snapshot] = final_snapshots()
    assert h.pending()[volume_id]["details"]["final_snapshot_id"] == snapshot["SnapshotId"]
    assert h.notification()["body"]["waiting"] == {volume_id: f"final_snapshot_id={snapshot['SnapshotId']}"}
    assert first["status"] == "ok"

    still = RecordingClients()
    _force_state(still, "DescribeSnapshots", "pending")
    h.invoke(still, grace_days="0")
    assert volume_id in volume_ids() and len(final_snapshots()) == 1
    assert still.count("ec2")["CreateSnapshot"] == 0

    done = RecordingClients()
    h.invoke(done, grace_days="0")
    assert volume_id not in volume_ids() and len(final_snapshots()) == 1
    assert done.count("ec2")["CreateSnapshot"] == 0 and h.pending() == {}


# ---------------------------------------------------------------------- efficiency


def test_one_listing_and_one_call_per_deleted_volume(h: Harness) -> None:
    volumes = [old_volume(h, size=1) for _ in range(30)]
    clients = RecordingClients()
    result = h.invoke(clients, grace_days="0", final_snapshot="false", max_concurrency="4")
    assert not set(volumes) & volume_ids()
    assert clients.count("ec2") == {"DescribeVolumes": 1, "DeleteVolume": 30}
    filters = next(body for svc, op, body in clients.calls if op == "DescribeVolumes")["Filters"]
    assert filters == [{"Name": "status", "Values": ["available"]}]
    dynamodb = clients.count("dynamodb")
    assert dynamodb["PutItem"] == 1  # the run summary; planned records go in batches
    assert dynamodb["BatchWriteItem"] <= 4  # 30 planned (2 batches) + 30 outcomes (2 batches)
    assert result["volumes_acted"] == 30


# ---------------------------------------------------------------------- bad input and failures


@pytest.mark.parametrize(("env", "value", "message"), [
    ("min_age_days", "-1", "CARETAKER_MIN_AGE_DAYS must be an integer from 0 to 3650, got '-1'"),
    ("grace_days", "soon", "CARETAKER_GRACE_DAYS must be an integer from 0 to 365, got 'soon'"),
    ("final_snapshot", "maybe", "CARETAKER_FINAL_SNAPSHOT must be true or false, got 'maybe'"),
    ("exclude_tags", "=nokey", "CARETAKER_EXCLUDE_TAGS must be a string matching"),
])
def test_invalid_setting_stops_the_run_before_any_aws_call(h: Harness, env: str, value: str, message: str) -> None:
    old_volume(h)
    clients = RecordingClients()
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        h.invoke(clients, None, **{env: value})
    assert clients.count("ec2") == {}


def test_scheduled_event_with_unexpected_fields_is_accepted(h: Harness) -> None:
    old_volume(h)
    event = {**scheduled_event(), "detail": {"surprise": [1, 2]}, "extra": "field"}
    assert h.invoke(event=event)["status"] == "ok"


def test_access_denied_on_one_volume_fails_it_alone_and_the_run_is_partial(h: Harness) -> None:
    good = [old_volume(h) for _ in range(2)]
    bad = old_volume(h)
    clients = RecordingClients()
    clients.fail("ec2", "DeleteVolume", when=lambda body: body.get("VolumeId") == bad)
    result = h.invoke(clients, grace_days="0", final_snapshot="false")
    assert volume_ids() == {bad}
    assert result["status"] == "partial"
    summary = h.summary(result["run_id"])
    assert (summary["status"], summary["succeeded"], summary["failed"]) == ("partial", 2, 1)
    [failed] = [i for i in h.actions(result["run_id"]) if i["outcome"] == "failed"]
    assert failed["resource_id"] == bad and failed["reason"].startswith("AccessDenied")
    assert set(good).isdisjoint(volume_ids())
    messages = h.messages()
    cleanup = next(m for m in messages if "cleanup-ebs-volumes: 2 deleted" in m["Subject"])
    assert "1 failed" in cleanup["Subject"] and bad in cleanup["Message"]

    retry = h.invoke(grace_days="0", final_snapshot="false")  # the failed one is retried next run
    assert retry["status"] == "ok" and volume_ids() == set()
