"""ebs-snapshots under faults: AccessDenied, a throttling storm, the state table failing, SNS down, a kill."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from automations.core.errors import StateLogError
from automations.scheduled import ebs_snapshots
from tests.faults.conftest import REGION, Clock, LambdaContext, Scheduled
from tests.faults.faults import Killed, VirtualTime, acted_twice, strings, uncovered_changes, unfinished

VOLUMES = 10
OLD_PER_VOLUME = 2  # snapshots of ours, 40 days old: past max_age_days 35, so pruned


@pytest.fixture
def world(state_table: str, alerts: Any, clock: Clock, lambda_context: LambdaContext) -> dict[str, Any]:
    ec2 = boto3.client("ec2", region_name=REGION)
    clock.advance(days=-40)
    volumes, old = [], []
    for n in range(VOLUMES):
        volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1, TagSpecifications=[
            {"ResourceType": "volume", "Tags": [{"Key": "caretaker:backup", "Value": "true"}]}])["VolumeId"]
        volumes.append(volume)
        if n < 4:
            for _ in range(OLD_PER_VOLUME):
                tags: list[Any] = [{"Key": "caretaker:automation", "Value": "ebs-snapshots"},
                        {"Key": "caretaker:volume-id", "Value": volume}]
                old.append(ec2.create_snapshot(VolumeId=volume, TagSpecifications=[
                    {"ResourceType": "snapshot", "Tags": tags}])["SnapshotId"])
    clock.advance(days=40)
    return {"h": Scheduled(ebs_snapshots.handler, state_table, clock, lambda_context), "volumes": volumes,
            "old": old, "alerts": alerts}


def snapshots_per_volume(volumes: list[str]) -> dict[str, int]:
    ec2 = boto3.client("ec2", region_name=REGION)
    found = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    return {v: sum(1 for s in found if s["VolumeId"] == v) for v in volumes}


def existing_snapshots() -> set[str]:
    return {s["SnapshotId"] for s in boto3.client("ec2", region_name=REGION).describe_snapshots(
        OwnerIds=["self"])["Snapshots"]}


def test_access_denied_on_a_seeded_fraction_fails_those_alone(world: dict[str, Any]) -> None:
    h: Scheduled = world["h"]
    watched = world["volumes"] + world["old"]
    faulty = h.clients(seed=11)
    denied = faulty.deny(0.3, watched)

    result = h.invoke(faulty)

    assert uncovered_changes(faulty, watched) == []
    failed = {r["resource_id"] for r in h.records(faulty) if r.get("outcome") == "failed"}
    assert failed == denied and all("AccessDenied" in r["reason"] for r in h.records(faulty)
                                    if r.get("outcome") == "failed")
    assert result["status"] == "partial"
    h.assert_counts_true(faulty, result)
    assert existing_snapshots() & set(world["old"]) == denied & set(world["old"])

    h.clock.advance(days=1)
    again = h.clients()
    assert h.invoke(again)["status"] == "ok"
    assert existing_snapshots() & set(world["old"]) == set()
    assert acted_twice(h.runs, world["old"]) == {}


def test_a_throttling_storm_is_retried_by_botocore_and_nothing_is_lost_or_doubled(
        world: dict[str, Any], retry_time: VirtualTime) -> None:
    h: Scheduled = world["h"]
    watched = world["volumes"] + world["old"]
    faulty = h.clients(seed=3)
    storm = faulty.storm(fraction=0.8, max_throttled_attempts=3)

    result = h.invoke(faulty)

    assert storm.throttled >= 20 and storm.calls_hit >= 10  # the storm really hit
    assert retry_time.sleeps >= storm.throttled and retry_time.slept > 0  # backoff and token bucket ran
    assert result["status"] == "ok", result
    assert snapshots_per_volume(world["volumes"]) == dict.fromkeys(world["volumes"], 1)  # old ones pruned
    assert existing_snapshots() & set(world["old"]) == set()
    assert uncovered_changes(faulty, watched) == []
    assert acted_twice([faulty], watched) == {}
    h.assert_counts_true(faulty, result)


# The run's state writes: 1 the summary, 2 the snapshots' planned records (one chunk), 3 the deletions'
# planned records, 4 the buffered outcomes, 5 the summary's end. The table goes before each of 1-4.
@pytest.mark.parametrize("writes", [0, 1, 2, 3])
def test_the_state_table_failing_mid_run_stops_all_unrecorded_changes(world: dict[str, Any], writes: int) -> None:
    h: Scheduled = world["h"]
    watched = world["volumes"] + world["old"]
    faulty = h.clients()
    faulty.state_table_fails_after(writes)

    with pytest.raises(StateLogError):
        h.invoke(faulty)

    assert uncovered_changes(faulty, watched) == []
    first_refused = min(c.seq for c in faulty.calls if c.error == "InternalServerError")
    assert [c.operation for c in faulty.changes() if c.seq > first_refused] == []  # nothing after the table went

    again = h.clients()
    result = h.invoke(again)
    assert result["status"] == "ok"
    assert existing_snapshots() & set(world["old"]) == set()
    assert acted_twice(h.runs, world["old"]) == {}
    h.assert_counts_true(again, result)


def test_sns_down_the_run_still_completes_and_says_the_alert_was_lost(world: dict[str, Any]) -> None:
    h: Scheduled = world["h"]
    faulty = h.clients(seed=5)
    faulty.deny(0.2, world["volumes"])  # a partial run raises an alert
    faulty.sns_down()

    result = h.invoke(faulty)

    assert result["status"] == "partial"
    assert [c.operation for c in faulty.calls if c.service == "sns"] == ["Publish"]
    h.assert_counts_true(faulty, result)
    assert world["alerts"].messages() == []


def test_a_lost_run_alert_is_recorded_in_the_summary(world: dict[str, Any]) -> None:
    h: Scheduled = world["h"]
    faulty = h.clients(seed=5)
    faulty.deny(0.2, world["volumes"])
    faulty.sns_down()

    h.invoke(faulty)

    assert h.summary(faulty).get("notifications_failed") == 1


@pytest.mark.parametrize(("operation", "nth"), [("CreateSnapshot", 4), ("DeleteSnapshot", 3)])
def test_killed_between_planned_and_the_call_the_rerun_finishes(world: dict[str, Any], operation: str,
                                                               nth: int) -> None:
    h: Scheduled = world["h"]
    watched = world["volumes"] + world["old"]
    killed = h.clients()
    killed.kill_at("ec2", operation, nth)

    with pytest.raises(Killed):
        h.invoke(killed)

    assert uncovered_changes(killed, watched) == []
    attempted = [c for c in killed.calls if c.operation == operation]
    assert h.summary(killed)["status"] == "running"  # what a killed run leaves
    # outcomes are buffered (docs/state-log.md): every action since the last flush, the killed one included,
    # is left as `planned` without an outcome, which is what the next run re-evaluates from AWS
    left = unfinished(h.records(killed))
    assert strings(attempted[-1].params) & set(left)

    again = h.clients()
    result = h.invoke(again)
    assert result["status"] == "ok"
    assert uncovered_changes(again, watched) == []
    assert existing_snapshots() & set(world["old"]) == set()
    assert acted_twice(h.runs, world["old"]) == {}  # no snapshot deleted twice
    h.assert_counts_true(again, result)


def test_a_rerun_after_a_kill_does_not_snapshot_a_volume_twice(world: dict[str, Any]) -> None:
    h: Scheduled = world["h"]
    killed = h.clients()
    killed.kill_at("ec2", "CreateSnapshot", 4)
    with pytest.raises(Killed):
        h.invoke(killed)

    h.clock.advance(minutes=1)
    h.invoke(h.clients())

    assert acted_twice(h.runs, world["volumes"]) == {}
