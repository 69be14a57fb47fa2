"""The cleanup families under faults, through their shared flow (write-ahead in chunks, a bounded pool).

Each family is seeded with resources that qualify now; `grace_days=0` makes the first enforce run act,
`max_concurrency=1` keeps the order of calls (and so the seeded storm) reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from automations.core.errors import StateLogError
from automations.core.runtime import Entrypoint
from automations.scheduled import cleanup_snapshots, cleanup_volumes
from tests.automations.scheduled.cleanup_harness import use_test_clock
from tests.faults.conftest import REGION, Clock, LambdaContext, Scheduled
from tests.faults.faults import Killed, VirtualTime, acted_twice, strings, uncovered_changes, unfinished

COUNT = 8


def _ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def _old_volumes(clock: Clock) -> list[str]:
    clock.advance(days=-30)
    ids = [str(_ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]) for _ in range(COUNT)]
    clock.advance(days=30)
    return ids


def _volumes_left(ids: list[str]) -> set[str]:
    return {v["VolumeId"] for v in _ec2().describe_volumes()["Volumes"]} & set(ids)


def _old_snapshots(clock: Clock) -> list[str]:
    volume = _ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    clock.advance(days=-120)
    ids = [str(_ec2().create_snapshot(VolumeId=volume)["SnapshotId"]) for _ in range(COUNT)]
    clock.advance(days=120)
    return ids


def _snapshots_left(ids: list[str]) -> set[str]:
    return {s["SnapshotId"] for s in _ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]} & set(ids)


@dataclass(frozen=True)
class Family:
    handler: Entrypoint
    seed: Callable[[Clock], list[str]]
    left: Callable[[list[str]], set[str]]
    delete: str  # the destructive operation
    settings: tuple[tuple[str, str], ...] = ()


FAMILIES = {
    "cleanup-ebs-volumes": Family(cleanup_volumes.handler, _old_volumes, _volumes_left, "DeleteVolume",
                                  (("final_snapshot", "false"),)),
    "cleanup-ebs-snapshots": Family(cleanup_snapshots.handler, _old_snapshots, _snapshots_left, "DeleteSnapshot"),
}


@pytest.fixture(params=sorted(FAMILIES))
def family(request: pytest.FixtureRequest, state_table: str, alerts: Any, lambda_context: LambdaContext,
           monkeypatch: pytest.MonkeyPatch) -> tuple[Family, Scheduled, list[str]]:
    spec = FAMILIES[request.param]
    test_clock = use_test_clock(monkeypatch)
    ids = spec.seed(test_clock)
    h = Scheduled(spec.handler, state_table, test_clock, lambda_context, grace_days="0", max_concurrency="1",
                  **dict(spec.settings))
    return spec, h, ids


def test_access_denied_on_a_seeded_fraction(family: tuple[Family, Scheduled, list[str]]) -> None:
    spec, h, ids = family
    faulty = h.clients(seed=21)
    denied = faulty.deny(0.25, ids, [spec.delete])

    result = h.invoke(faulty)

    assert uncovered_changes(faulty, ids) == []
    assert spec.left(ids) == denied
    failed = {r["resource_id"] for r in h.records(faulty) if r.get("outcome") == "failed"}
    assert failed == denied and result["status"] == "partial"
    h.assert_counts_true(faulty, result)

    again = h.clients()
    result = h.invoke(again)
    assert result["status"] == "ok" and spec.left(ids) == set()
    assert acted_twice(h.runs, ids) == {}
    h.assert_counts_true(again, result)


def test_a_throttling_storm(family: tuple[Family, Scheduled, list[str]], retry_time: VirtualTime) -> None:
    spec, h, ids = family
    faulty = h.clients(seed=4)
    storm = faulty.storm(fraction=0.8, max_throttled_attempts=3)

    result = h.invoke(faulty)

    assert storm.throttled >= COUNT and retry_time.sleeps >= storm.throttled
    assert result["status"] == "ok", result
    assert spec.left(ids) == set()
    assert uncovered_changes(faulty, ids) == []
    assert acted_twice([faulty], ids) == {}
    h.assert_counts_true(faulty, result)


@pytest.mark.parametrize("writes", [0, 1, 3])
def test_the_state_table_failing_mid_run(family: tuple[Family, Scheduled, list[str]], writes: int) -> None:
    spec, h, ids = family
    faulty = h.clients()
    faulty.state_table_fails_after(writes)

    with pytest.raises(StateLogError):
        h.invoke(faulty)

    assert uncovered_changes(faulty, ids) == []
    again = h.clients()
    result = h.invoke(again)
    assert result["status"] == "ok" and spec.left(ids) == set()
    assert acted_twice(h.runs, ids) == {}
    h.assert_counts_true(again, result)


def test_sns_down(family: tuple[Family, Scheduled, list[str]]) -> None:
    spec, h, ids = family
    faulty = h.clients()
    faulty.sns_down()

    result = h.invoke(faulty)

    assert result["status"] == "ok" and spec.left(ids) == set()
    assert [c.operation for c in faulty.calls if c.service == "sns"] == ["Publish"]  # the cleanup notice
    assert h.summary(faulty)["notifications_failed"] == 1
    h.assert_counts_true(faulty, result)


@pytest.mark.parametrize("nth", [1, 5])
def test_killed_between_planned_and_the_call(family: tuple[Family, Scheduled, list[str]], nth: int) -> None:
    spec, h, ids = family
    killed = h.clients()
    killed.kill_at("ec2", spec.delete, nth)

    with pytest.raises(Killed):
        h.invoke(killed)

    assert uncovered_changes(killed, ids) == []
    assert len(ids) - len(spec.left(ids)) == nth - 1
    victim = [c for c in killed.calls if c.operation == spec.delete][-1]
    assert strings(victim.params) & set(unfinished(h.records(killed)))

    h.clock.advance(minutes=1)
    again = h.clients()
    result = h.invoke(again)
    assert result["status"] == "ok" and spec.left(ids) == set()
    assert uncovered_changes(again, ids) == []
    assert acted_twice(h.runs, ids) == {}
    h.assert_counts_true(again, result)
