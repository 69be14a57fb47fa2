"""ebs-snapshots over several invocations: every volume snapshotted once, every expired snapshot pruned once."""

from __future__ import annotations

from collections import Counter

import boto3

from automations.core.ledger import run_items
from automations.core.spec import CONTINUATION_MARGIN
from automations.scheduled.ebs_snapshots import handler
from tests.automations.conftest import REGION, Clock
from tests.automations.core.test_continuation_support import DrainingContext, drive

VOLUMES = 60  # more than two chunks of 25 in each phase


def test_snapshot_and_prune_phases_continue_and_act_once(state_table: str, clock: Clock) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    volumes = [ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1, TagSpecifications=[
        {"ResourceType": "volume", "Tags": [{"Key": "caretaker:backup", "Value": "true"}]}])["VolumeId"]
        for _ in range(VOLUMES)]
    clock.advance(days=-3)
    old = {ec2.create_snapshot(VolumeId=v, TagSpecifications=[{"ResourceType": "snapshot", "Tags": [
        {"Key": "caretaker:automation", "Value": "ebs-snapshots"},
        {"Key": "caretaker:volume-id", "Value": v}]}])["SnapshotId"] for v in volumes}
    clock.advance(days=3)

    margin = int(CONTINUATION_MARGIN.default) * 1000
    # the time left is read before every chunk (an invocation's first included): two chunks per invocation
    driven = drive(handler, clock, lambda: DrainingContext(remaining_ms=margin + 2_500, step_ms=1_000),
                   retention_count="1")
    run_id = driven.run_id

    # 3 chunks of snapshots (25, 25, 10), then 3 of deletions: checkpoints inside both phases
    assert [r.get("phase") for r in driven.results] == ["snapshot", "prune", None]
    assert driven.results[-1]["status"] == "ok"
    assert driven.invokes.payloads() == [{"caretaker": {"continue_run": run_id}}] * (len(driven.results) - 1)
    snapshots = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    made = Counter(s["VolumeId"] for s in snapshots if s["SnapshotId"] not in old)
    assert made == Counter(volumes)  # one new snapshot per volume
    assert not old & {s["SnapshotId"] for s in snapshots}  # every expired one pruned

    records = [i for i in run_items(boto3.client("dynamodb"), state_table, run_id) if i["type"] == "action"]
    per = Counter((i["resource_id"], i["action"], i["outcome"]) for i in records)
    assert {k: v for k, v in per.items() if v != 1} == {}
    assert {(v, "create-snapshot", o) for v in volumes for o in ("planned", "succeeded")} | \
           {(s, "delete-snapshot", o) for s in old for o in ("planned", "succeeded")} == set(per)
    summary = next(i for i in run_items(boto3.client("dynamodb"), state_table, run_id) if i["type"] == "run")
    assert (summary["planned"], summary["succeeded"], summary["invocations"]) == (
        2 * VOLUMES, 2 * VOLUMES, len(driven.results))
