"""EBS snapshots: retention (newest N, max age, what is never deleted), cross-region copies, the rerun interval."""

from __future__ import annotations

import boto3

from tests.automations.conftest import REGION, Clock, LambdaContext
from tests.automations.scheduled.ebs_harness import (
    BACKUP,
    ec2,
    items,
    our_snapshots,
    run,
    tag,
    tags_of,
    volume,
)
from tests.recording import RecordingClients

# ---------------------------------------------------------------------- retention


def test_prunes_beyond_the_newest_n_per_volume(state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    volume(BACKUP)
    for _ in range(4):
        run(clock, lambda_context, retention_count="3")
        clock.advance(days=1)
    assert len(our_snapshots()) == 3


def test_prunes_everything_past_max_age_and_keeps_the_fresh_one(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    vol = volume(BACKUP)
    run(clock, lambda_context)
    first = {s["SnapshotId"] for s in our_snapshots()}
    clock.advance(days=40)
    result = run(clock, lambda_context, max_age_days="35")
    remaining = our_snapshots()
    assert len(remaining) == 1 and remaining[0]["SnapshotId"] not in first
    deleted = [r for r in items(state_table, result["run_id"]) if r["action"] == "delete-snapshot"]
    assert [(r["resource_id"], r["outcome"]) for r in deleted] == [(first.pop(), "planned"), (deleted[0]["resource_id"],
                                                                                              "succeeded")]
    assert "older than 35 days" in deleted[0]["reason"] and vol in deleted[0]["reason"]


def test_never_deletes_snapshots_it_did_not_make_nor_protected_nor_ami_ones(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    vol = volume(BACKUP)
    foreign = ec2().create_snapshot(VolumeId=vol, Description="made by someone else")["SnapshotId"]
    run(clock, lambda_context)
    clock.advance(days=1)
    run(clock, lambda_context)
    protected, behind_ami = (s["SnapshotId"] for s in our_snapshots())
    tag(protected, {"caretaker:protect": "true"})
    image_id = ec2().register_image(Name="golden", RootDeviceName="/dev/sda1")["ImageId"]
    image_snapshot = ec2().describe_images(ImageIds=[image_id])["Images"][0]["BlockDeviceMappings"][0]["Ebs"][
        "SnapshotId"]
    tag(image_snapshot, {"caretaker:automation": "ebs-snapshots", "caretaker:volume-id": vol})
    clock.advance(days=100)

    result = run(clock, lambda_context, backup_tag_key="nothing-is-tagged-so")

    remaining = {s["SnapshotId"] for s in ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert {foreign, protected, image_snapshot} <= remaining
    assert behind_ami not in remaining  # the unprotected, AMI-free one past max age is gone
    skipped = {r["resource_id"]: r["reason"] for r in items(state_table, result["run_id"]) if r["outcome"] == "skipped"}
    assert skipped[protected].startswith("protected") and skipped[image_snapshot] == "used by an AMI"


def test_snapshot_already_gone_counts_as_deleted(state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    volume(BACKUP)
    run(clock, lambda_context)
    clock.advance(days=40)
    clients = RecordingClients()
    clients.fail("ec2", "DeleteSnapshot", code="InvalidSnapshot.NotFound")
    result = run(clock, lambda_context, clients)
    assert result["status"] == "ok"
    assert result["snapshots_deleted"] == 1


# ---------------------------------------------------------------------- cross-region copies


def test_copies_to_a_second_region_once_and_prunes_there(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    vol = volume({**BACKUP, "Name": "db"})
    first = run(clock, lambda_context, copy_region="us-west-2")
    copies = our_snapshots("us-west-2")
    assert len(copies) == 1 and first["snapshots_copied"] == 1
    source = our_snapshots()[0]
    copy_tags = tags_of(copies[0])
    assert copy_tags["caretaker:source-snapshot"] == source["SnapshotId"]
    assert copy_tags["caretaker:volume-id"] == vol and copy_tags["Name"] == "db"

    clock.advance(days=1)
    second = run(clock, lambda_context, copy_region="us-west-2")
    assert second["snapshots_copied"] == 1  # only the new snapshot; the first is not copied again
    assert len(our_snapshots("us-west-2")) == 2

    clock.advance(days=40)
    third = run(clock, lambda_context, copy_region="us-west-2", max_age_days="35")
    assert third["copies_deleted"] == 2
    assert len(our_snapshots("us-west-2")) == 1


def test_encrypted_snapshots_are_copied_under_the_target_regions_key_from_the_setting(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    source_key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    target_key = boto3.client("kms", region_name="us-west-2").create_key()["KeyMetadata"]["Arn"]
    encrypted = str(ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=1, Encrypted=True, KmsKeyId=source_key,
                                        TagSpecifications=[{"ResourceType": "volume", "Tags": [
                                            {"Key": "caretaker:backup", "Value": "true"}]}])["VolumeId"])
    plain = volume(BACKUP)
    clients = RecordingClients()

    result = run(clock, lambda_context, clients, copy_region="us-west-2", copy_kms_key_id=target_key)

    copies = {tags_of(s)["caretaker:volume-id"]: s for s in our_snapshots("us-west-2")}
    assert set(copies) == {encrypted, plain}
    assert copies[encrypted]["KmsKeyId"] == target_key and copies[encrypted]["Encrypted"]
    calls = {body["SourceSnapshotId"]: body for svc, op, body in clients.calls if op == "CopySnapshot"}
    by_volume = {s["VolumeId"]: s["SnapshotId"] for s in our_snapshots()}
    assert calls[by_volume[encrypted]]["KmsKeyId"] == target_key and calls[by_volume[encrypted]]["Encrypted"]
    assert "KmsKeyId" not in calls[by_volume[plain]]  # an unencrypted snapshot stays as it is
    copied = [i for i in items(state_table, result["run_id"]) if i["action"] == "copy-snapshot"
              and i["outcome"] == "succeeded"]
    assert {i["details"].get("kms_key_id") for i in copied} == {target_key, None}


def test_without_the_key_setting_an_encrypted_snapshot_is_copied_under_the_default_key(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=1, Encrypted=True, TagSpecifications=[
        {"ResourceType": "volume", "Tags": [{"Key": "caretaker:backup", "Value": "true"}]}])
    clients = RecordingClients()
    result = run(clock, lambda_context, clients, copy_region="us-west-2")
    assert result["snapshots_copied"] == 1
    assert [body.get("KmsKeyId") for _, op, body in clients.calls if op == "CopySnapshot"] == [None]


def test_a_repeated_run_does_not_snapshot_a_volume_twice_within_the_interval(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    vol = volume(BACKUP)
    run(clock, lambda_context)
    clock.advance(hours=2)
    again = run(clock, lambda_context)  # e.g. Lambda retrying the scheduled event after a crash
    assert len(our_snapshots()) == 1
    [skipped] = items(state_table, again["run_id"])
    assert (skipped["resource_id"], skipped["outcome"]) == (vol, "skipped")
    assert "min_snapshot_interval_hours" in skipped["reason"]
    clock.advance(hours=11)
    run(clock, lambda_context)
    assert len(our_snapshots()) == 2
    run(clock, lambda_context, min_snapshot_interval_hours="0")
    assert len(our_snapshots()) == 3
