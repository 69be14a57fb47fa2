"""Cleanup of old EBS snapshots: AMI index, other automations' snapshots, two phases, dry-run, failures."""

from __future__ import annotations

from datetime import timedelta

import pytest

from automations.core.errors import SettingsError
from automations.scheduled.cleanup_snapshots import handler
from tests.automations.conftest import REGION, scheduled_event
from tests.automations.scheduled.cleanup_harness import Harness, ec2, harness_fixture, tag_specs, tags_of
from tests.recording import RecordingClients

h = harness_fixture(handler)


def old_snapshot(h: Harness, tags: dict[str, str] | None = None, days: int = 100, size: int = 50) -> str:
    h.clock.advance(days=-days)
    volume_id = ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=size)["VolumeId"]
    snapshot_id = str(ec2().create_snapshot(VolumeId=volume_id, TagSpecifications=tag_specs("snapshot", tags))[
        "SnapshotId"])
    h.clock.advance(days=days)
    return snapshot_id


def snapshot_ids() -> set[str]:
    return {s["SnapshotId"] for s in ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]}


def snapshot_tags(snapshot_id: str) -> dict[str, str]:
    return tags_of(ec2().describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0])


def image_using(snapshot_id: str) -> str:
    """An AMI whose block device mapping is this snapshot (set through moto's in-process backend)."""
    from moto.backends import get_backend

    image_id = str(ec2().register_image(Name="uses-snapshot", RootDeviceName="/dev/sda1")["ImageId"])
    backend = get_backend("ec2")["123456789012"][REGION]
    snapshot = backend.snapshots[snapshot_id]
    snapshot.from_ami = image_id
    backend.amis[image_id].ebs_snapshot = snapshot
    return image_id


def test_two_phases_announce_then_delete(h: Harness) -> None:
    snapshot_id = old_snapshot(h, {"Name": "nightly"})
    due = (h.clock.now + timedelta(days=7)).date().isoformat()
    first = h.invoke()
    assert snapshot_id in snapshot_ids()
    assert snapshot_tags(snapshot_id)["caretaker:cleanup-after"] == due
    assert h.pending()[snapshot_id]["due"].startswith(due)
    body = h.notification(first["run_id"])["body"]
    assert [p["id"] for p in body["pending"]] == [snapshot_id]
    assert body["estimated_monthly_saving_usd"]["pending"] == 2.5  # 50 GB x 0.05

    h.clock.advance(days=7, minutes=1)
    second = h.invoke()
    assert snapshot_id not in snapshot_ids()
    assert h.outcomes(second["run_id"]) == {(snapshot_id, "delete-snapshot", "planned"),
                                            (snapshot_id, "delete-snapshot", "succeeded")}
    assert h.pending() == {}
    assert h.notification(second["run_id"])["body"]["acted"] == [snapshot_id]


def test_snapshot_behind_an_ami_is_not_a_candidate(h: Harness) -> None:
    used = old_snapshot(h)
    image_id = image_using(used)
    result = h.invoke(grace_days="0")
    assert used in snapshot_ids()
    assert result["candidates"] == 0
    assert image_id


def test_snapshot_taken_into_an_ami_during_the_grace_period_is_spared(h: Harness) -> None:
    snapshot_id = old_snapshot(h)
    image_id, result = h.rerun_after_grace(lambda: image_using(snapshot_id))
    assert snapshot_id in snapshot_ids()
    [skipped] = h.skipped(result["run_id"])
    assert skipped["reason"].startswith(f"spared: used by {image_id}")
    assert "caretaker:cleanup-after" not in snapshot_tags(snapshot_id)
    assert h.pending() == {}


def test_other_automations_snapshots_are_left_alone_unless_they_have_no_retention(h: Harness) -> None:
    managed = old_snapshot(h, {"caretaker:automation": "ebs-snapshots"})
    dlm = old_snapshot(h, {"aws:dlm:lifecycle-policy-id": "policy-1"})
    final = old_snapshot(h, {"caretaker:automation": "cleanup-ebs-volumes"})
    plain = old_snapshot(h)
    h.invoke(grace_days="0")
    assert managed in snapshot_ids() and dlm in snapshot_ids()
    assert final not in snapshot_ids() and plain not in snapshot_ids()


def test_too_young_protected_and_excluded_snapshots_stay(h: Harness) -> None:
    young = old_snapshot(h, days=30)
    protected = old_snapshot(h, {"caretaker:protect": "true"})
    excluded = old_snapshot(h, {"legal-hold": "yes"})
    result = h.invoke(grace_days="0", exclude_tags="legal-hold")
    assert {young, protected, excluded} <= snapshot_ids()
    reasons = {i["resource_id"]: i["reason"] for i in h.actions(result["run_id"])}
    assert reasons == {protected: "protected: tagged caretaker:protect=true", excluded: "excluded: tagged legal-hold"}
    assert h.notification(result["run_id"])["body"]["refused"] == reasons


def test_min_age_is_a_setting(h: Harness) -> None:
    snapshot_id = old_snapshot(h, days=30)
    h.invoke(grace_days="0", min_age_days="20")
    assert snapshot_id not in snapshot_ids()


def test_audit_mode_plans_and_changes_nothing(h: Harness) -> None:
    snapshot_id = old_snapshot(h)
    first = h.invoke(mode="audit")
    h.clock.advance(days=8)
    second = h.invoke(mode="audit")
    assert snapshot_id in snapshot_ids() and "caretaker:cleanup-after" not in snapshot_tags(snapshot_id)
    assert {(i["action"], i["outcome"], i["dry_run"]) for i in h.actions(first["run_id"])} == {
        ("tag-cleanup-after", "planned", True)}
    assert {(i["action"], i["outcome"], i["dry_run"]) for i in h.actions(second["run_id"])} == {
        ("delete-snapshot", "planned", True)}
    assert h.notification(second["run_id"])["body"]["would_act"] == [snapshot_id]


def test_listing_is_paginated_with_server_side_filters_and_built_once(h: Harness) -> None:
    for _ in range(5):
        old_snapshot(h)
    clients = RecordingClients()
    h.invoke(clients, grace_days="0")
    assert clients.count("ec2") == {"DescribeImages": 1, "DescribeSnapshots": 1, "DeleteSnapshot": 5}
    listing = next(body for svc, op, body in clients.calls if op == "DescribeSnapshots")
    assert listing["OwnerIds"] == ["self"] and listing["Filters"] == [{"Name": "status", "Values": ["completed"]}]


def test_access_denied_on_one_snapshot_fails_alone(h: Harness) -> None:
    good, bad = old_snapshot(h), old_snapshot(h)
    clients = RecordingClients()
    clients.fail("ec2", "DeleteSnapshot", when=lambda body: body.get("SnapshotId") == bad)
    result = h.invoke(clients, grace_days="0")
    assert good not in snapshot_ids() and bad in snapshot_ids()
    assert result["status"] == "partial"
    assert {(i["resource_id"], i["outcome"]) for i in h.actions(result["run_id"]) if i["outcome"] != "planned"} == {
        (good, "succeeded"), (bad, "failed")}


def test_bad_settings_and_extra_event_fields(h: Harness) -> None:
    with pytest.raises(SettingsError, match="CARETAKER_NO_RETENTION_AUTOMATIONS must be a string matching"):
        h.invoke(no_retention_automations="Not A Name")
    assert h.invoke(event={**scheduled_event(), "detail": {"x": 1}, "new-field": True})["status"] == "ok"


def test_deleting_a_snapshot_already_gone_counts_as_done(h: Harness) -> None:
    snapshot_id = old_snapshot(h)
    clients = RecordingClients()
    clients.fail("ec2", "DeleteSnapshot", code="InvalidSnapshot.NotFound")
    result = h.invoke(clients, grace_days="0")
    assert result["status"] == "ok" and result["snapshots_acted"] == 1
    [done] = [i for i in h.actions(result["run_id"]) if i["outcome"] == "succeeded"]
    assert done["resource_id"] == snapshot_id and done["details"]["already_gone"] is True


def test_tag_marker_uses_one_call_for_many_snapshots(h: Harness) -> None:
    ids = [old_snapshot(h) for _ in range(4)]
    clients = RecordingClients()
    h.invoke(clients)
    assert clients.count("ec2")["CreateTags"] == 1
    assert all("caretaker:cleanup-after" in snapshot_tags(i) for i in ids)
