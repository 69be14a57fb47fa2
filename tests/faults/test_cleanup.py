"""The cleanup families under faults, through their shared flow (write-ahead in chunks, a bounded pool).

One parametrised fixture covers every family: each is seeded with a few resources that qualify now;
`grace_days=0` makes the first enforce run act, `max_concurrency=1` keeps the order of calls (and so the
seeded storm) reproducible. A family declares its seed, what is left of a subject, the operation that
acts on a subject (where AccessDenied and the kill strike) and the services its run calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from automations.core.errors import StateLogError
from automations.core.registry import discover
from automations.core.runtime import Entrypoint
from automations.scheduled import (
    cleanup_addresses,
    cleanup_images,
    cleanup_instances,
    cleanup_log_groups,
    cleanup_security_groups,
    cleanup_snapshots,
    cleanup_volumes,
)
from tests.automations.scheduled.cleanup_harness import use_test_clock
from tests.faults.conftest import REGION, Clock, LambdaContext, Scheduled
from tests.faults.faults import Killed, VirtualTime, acted_twice, strings, uncovered_changes, unfinished

COUNT = 8
#: subject (the candidate resource) -> further resources acting on it removes (an AMI's snapshots)
Seeded = dict[str, list[str]]


def _ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def _logs() -> Any:
    return boto3.client("logs", region_name=REGION)


def _in_the_past(clock: Clock, days: int, make: Callable[[], str], count: int = COUNT) -> list[str]:
    clock.advance(days=-days)
    try:
        return [make() for _ in range(count)]
    finally:
        clock.advance(days=days)


# ---------------------------------------------------------------------- seeds and what is left


def _old_volumes(clock: Clock) -> Seeded:
    ids = _in_the_past(clock, 30, lambda: str(_ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]))
    return {key: [] for key in ids}


def _volumes_left(seeded: Seeded) -> set[str]:
    return {v["VolumeId"] for v in _ec2().describe_volumes()["Volumes"]} & set(seeded)


def _old_snapshots(clock: Clock) -> Seeded:
    volume = _ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    ids = _in_the_past(clock, 120, lambda: str(_ec2().create_snapshot(VolumeId=volume)["SnapshotId"]))
    return {key: [] for key in ids}


def _snapshot_ids() -> set[str]:
    return {s["SnapshotId"] for s in _ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"]}


def _snapshots_left(seeded: Seeded) -> set[str]:
    return _snapshot_ids() & set(seeded)


def _idle_addresses(clock: Clock) -> Seeded:
    return {key: [] for key in (str(_ec2().allocate_address(Domain="vpc")["AllocationId"]) for _ in range(COUNT))}


def _addresses_left(seeded: Seeded) -> set[str]:
    return {a["AllocationId"] for a in _ec2().describe_addresses()["Addresses"]} & set(seeded)


def _old_images(clock: Clock) -> Seeded:
    names = iter(range(COUNT))
    ids = _in_the_past(clock, 120, lambda: str(_ec2().register_image(
        Name=f"golden-{next(names)}", RootDeviceName="/dev/sda1")["ImageId"]))
    images = _ec2().describe_images(ImageIds=ids)["Images"]
    return {i["ImageId"]: [m["Ebs"]["SnapshotId"] for m in i["BlockDeviceMappings"] if m.get("Ebs")] for i in images}


def _images_left(seeded: Seeded) -> set[str]:
    images = {i["ImageId"] for i in _ec2().describe_images(Owners=["self"])["Images"]}
    snapshots = _snapshot_ids()
    return {image for image, owned in seeded.items() if image in images or set(owned) & snapshots}


def _long_stopped_instances(clock: Clock) -> Seeded:
    ec2 = _ec2()
    image = ec2.register_image(Name="base-image", RootDeviceName="/dev/sda1")["ImageId"]
    ids = [str(i["InstanceId"]) for i in ec2.run_instances(
        ImageId=image, MinCount=COUNT, MaxCount=COUNT, Placement={"AvailabilityZone": f"{REGION}a"})["Instances"]]
    clock.advance(days=-40)
    ec2.stop_instances(InstanceIds=ids)
    clock.advance(days=40)
    return {key: [] for key in ids}


def _instances_left(seeded: Seeded) -> set[str]:
    reservations = _ec2().describe_instances(InstanceIds=list(seeded))["Reservations"]
    return {i["InstanceId"] for r in reservations for i in r["Instances"] if i["State"]["Name"] != "terminated"}


def _groups_without_retention(clock: Clock) -> Seeded:
    names = iter(range(COUNT))

    def make() -> str:
        name = f"/app/forever-{next(names)}"
        _logs().create_log_group(logGroupName=name)
        return name

    return {key: [] for key in _in_the_past(clock, 30, make)}


def _groups_left(seeded: Seeded) -> set[str]:
    groups = _logs().describe_log_groups(logGroupNamePrefix="/app/")["logGroups"]
    return {g["logGroupName"] for g in groups if not g.get("retentionInDays")} & set(seeded)


def _unused_security_groups(clock: Clock) -> Seeded:
    vpc = _ec2().describe_vpcs()["Vpcs"][0]["VpcId"]
    ids = [str(_ec2().create_security_group(GroupName=f"unused-{n}", Description="unused", VpcId=vpc)["GroupId"])
           for n in range(COUNT)]
    return {group_id: [] for group_id in ids}


def _groups_still_there(seeded: Seeded) -> set[str]:
    return {g["GroupId"] for g in _ec2().describe_security_groups()["SecurityGroups"]} & set(seeded)


# ---------------------------------------------------------------------- the families


@dataclass(frozen=True)
class Family:
    handler: Entrypoint
    seed: Callable[[Clock], Seeded]
    left: Callable[[Seeded], set[str]]  # the subjects not (completely) cleaned up
    act: tuple[str, str]  # (service, operation) that acts on a subject: denied, and where the kill strikes
    settings: tuple[tuple[str, str], ...] = ()
    storm_services: tuple[str, ...] = ("ec2", "dynamodb", "sns")
    #: a clean run first, whose work the faulted run finishes a day later: it announces (grace_days 1), or
    #: takes the final snapshots (instances, which terminate only on the next run)
    warm_up: bool = False


FAMILIES = {
    "cleanup-ebs-volumes": Family(cleanup_volumes.handler, _old_volumes, _volumes_left, ("ec2", "DeleteVolume"),
                                  (("final_snapshot", "false"),)),
    "cleanup-ebs-snapshots": Family(cleanup_snapshots.handler, _old_snapshots, _snapshots_left,
                                    ("ec2", "DeleteSnapshot")),
    "cleanup-elastic-ips": Family(cleanup_addresses.handler, _idle_addresses, _addresses_left,
                                  ("ec2", "ReleaseAddress"), (("min_unassociated_days", "0"),)),
    "cleanup-amis": Family(cleanup_images.handler, _old_images, _images_left, ("ec2", "DeregisterImage"),
                           (("grace_days", "1"),), storm_services=("ec2", "dynamodb", "sns", "autoscaling"),
                           warm_up=True),
    "cleanup-stopped-instances": Family(cleanup_instances.handler, _long_stopped_instances, _instances_left,
                                        ("ec2", "TerminateInstances"), (("stopped_instance_action", "terminate"),),
                                        warm_up=True),
    "cleanup-log-retention": Family(cleanup_log_groups.handler, _groups_without_retention, _groups_left,
                                    ("logs", "PutRetentionPolicy"), storm_services=("logs", "dynamodb", "sns")),
    "cleanup-security-groups": Family(cleanup_security_groups.handler, _unused_security_groups,
                                      _groups_still_there, ("ec2", "DeleteSecurityGroup"),
                                      storm_services=("ec2", "dynamodb", "sns", "autoscaling")),
}


def test_every_cleanup_family_is_under_faults() -> None:
    cleanups = {spec.name for spec in discover() if spec.handler.startswith("automations.scheduled.cleanup_")}
    assert set(FAMILIES) == cleanups == {f.handler.spec.name for f in FAMILIES.values()}


@dataclass
class Case:
    family: Family
    h: Scheduled
    seeded: Seeded

    @property
    def subjects(self) -> list[str]:
        return sorted(self.seeded)

    @property
    def watched(self) -> set[str]:
        return set(self.seeded) | {r for owned in self.seeded.values() for r in owned}

    def left(self) -> set[str]:
        return self.family.left(self.seeded)


@pytest.fixture(params=sorted(FAMILIES))
def case(request: pytest.FixtureRequest, state_table: str, alerts: Any, lambda_context: LambdaContext,
         monkeypatch: pytest.MonkeyPatch) -> Case:
    spec = FAMILIES[request.param]
    test_clock = use_test_clock(monkeypatch)
    seeded = spec.seed(test_clock)
    assert len(seeded) == COUNT
    settings = {"grace_days": "0", "max_concurrency": "1", **dict(spec.settings)}
    h = Scheduled(spec.handler, state_table, test_clock, lambda_context, **settings)
    if spec.warm_up:
        assert h.invoke()["status"] == "ok"
        assert spec.left(seeded) == set(seeded)
        test_clock.advance(days=int(settings["grace_days"]) + 1)
    return Case(spec, h, seeded)


def test_access_denied_on_a_seeded_fraction(case: Case) -> None:
    h = case.h
    faulty = h.clients(seed=21)
    denied = faulty.deny(0.25, case.subjects, [case.family.act[1]])

    result = h.invoke(faulty)

    assert uncovered_changes(faulty, case.watched) == []
    assert case.left() == denied
    failed = {r["resource_id"] for r in h.records(faulty) if r.get("outcome") == "failed"}
    assert failed == denied and result["status"] == "partial"
    h.assert_counts_true(faulty, result)

    again = h.clients()
    result = h.invoke(again)
    assert result["status"] == "ok" and case.left() == set()
    assert acted_twice(h.runs, case.watched) == {}
    h.assert_counts_true(again, result)


def test_a_throttling_storm(case: Case, retry_time: VirtualTime) -> None:
    h = case.h
    faulty = h.clients(seed=4)
    storm = faulty.storm(fraction=0.8, max_throttled_attempts=3, services=case.family.storm_services)

    result = h.invoke(faulty)

    assert storm.throttled >= COUNT and retry_time.sleeps >= storm.throttled
    assert result["status"] == "ok", result
    assert case.left() == set()
    assert uncovered_changes(faulty, case.watched) == []
    assert acted_twice([faulty], case.watched) == {}
    h.assert_counts_true(faulty, result)


@pytest.mark.parametrize("writes", [0, 1, 3])
def test_the_state_table_failing_mid_run(case: Case, writes: int) -> None:
    h = case.h
    faulty = h.clients()
    faulty.state_table_fails_after(writes)

    with pytest.raises(StateLogError):
        h.invoke(faulty)

    assert uncovered_changes(faulty, case.watched) == []
    again = h.clients()
    result = h.invoke(again)
    assert result["status"] == "ok" and case.left() == set()
    assert acted_twice(h.runs, case.watched) == {}
    h.assert_counts_true(again, result)


def test_sns_down(case: Case) -> None:
    h = case.h
    faulty = h.clients()
    faulty.sns_down()

    result = h.invoke(faulty)

    assert result["status"] == "ok" and case.left() == set()
    assert [c.operation for c in faulty.calls if c.service == "sns"] == ["Publish"]  # the cleanup notice
    assert h.summary(faulty)["notifications_failed"] == 1
    h.assert_counts_true(faulty, result)


@pytest.mark.parametrize("nth", [1, 5])
def test_killed_between_planned_and_the_call(case: Case, nth: int) -> None:
    h = case.h
    service, operation = case.family.act
    killed = h.clients()
    killed.kill_at(service, operation, nth)

    with pytest.raises(Killed):
        h.invoke(killed)

    assert uncovered_changes(killed, case.watched) == []
    assert len([c for c in killed.calls if c.operation == operation and c.succeeded]) == nth - 1
    victim = [c for c in killed.calls if c.operation == operation][-1]
    assert strings(victim.params) & set(unfinished(h.records(killed)))
    assert len(case.left()) > COUNT - nth  # the victim and those after it are left

    h.clock.advance(minutes=1)
    again = h.clients()
    result = h.invoke(again)
    assert result["status"] == "ok" and case.left() == set()
    assert uncovered_changes(again, case.watched) == []
    assert acted_twice(h.runs, case.watched) == {}
    h.assert_counts_true(again, result)


def test_instances_killed_while_taking_final_snapshots_are_not_snapshotted_twice(
        state_table: str, alerts: Any, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = FAMILIES["cleanup-stopped-instances"]
    test_clock = use_test_clock(monkeypatch)
    seeded = spec.seed(test_clock)
    h = Scheduled(spec.handler, state_table, test_clock, lambda_context, grace_days="0", max_concurrency="1",
                  **dict(spec.settings))
    killed = h.clients()
    killed.kill_at("ec2", "CreateSnapshots", 5)
    with pytest.raises(Killed):
        h.invoke(killed)
    assert len([c for c in killed.calls if c.operation == "CreateSnapshots" and c.succeeded]) == 4

    for _ in range(2):  # the snapshots of the rest, then every termination
        h.clock.advance(minutes=1)
        again = h.clients()
        result = h.invoke(again)
        assert result["status"] == "ok"
        assert uncovered_changes(again, seeded) == []
        h.assert_counts_true(again, result)
    assert spec.left(seeded) == set()
    assert acted_twice(h.runs, seeded) == {}
