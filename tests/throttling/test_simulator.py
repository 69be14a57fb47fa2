"""The throttling simulator answers like AWS: the service's own throttling error, no effect in moto,
latency on every attempt, and botocore's retries get through once the bucket has refilled."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from automations.core.throttle import AWS_LIMITS, Bucket
from tests.throttling.conftest import REGION
from tests.throttling.simulator import ThrottlingSimulator, VirtualClock, overdraft

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def session_with(simulator: ThrottlingSimulator, label: str = "test") -> Any:
    session = boto3.session.Session(region_name=REGION)
    simulator.attach(session, label)
    return session


def volumes(n: int) -> list[str]:
    ec2 = boto3.client("ec2", region_name=REGION)  # not simulated: the fixture
    return [ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"] for _ in range(n)]


def remaining_volumes() -> set[str]:
    return {v["VolumeId"] for v in boto3.client("ec2", region_name=REGION).describe_volumes()["Volumes"]}


def test_an_empty_ec2_bucket_answers_request_limit_exceeded_and_moto_never_sees_the_call(clock: VirtualClock) -> None:
    table = AWS_LIMITS.with_buckets(ec2={"DeleteVolume": Bucket(3, 1)})
    simulator = ThrottlingSimulator(table, clock=clock)
    ec2 = session_with(simulator).client("ec2", config=NO_RETRIES)
    ids = volumes(4)
    for volume_id in ids[:3]:
        ec2.delete_volume(VolumeId=volume_id)
    with pytest.raises(ClientError) as err:
        ec2.delete_volume(VolumeId=ids[3])
    assert err.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert remaining_volumes() == {ids[3]}
    assert simulator.stats.throttled[("test", "ec2", "DeleteVolume")] == 1
    clock.sleep(1.0)  # one token back
    ec2.delete_volume(VolumeId=ids[3])
    assert remaining_volumes() == set()


def test_json_and_query_services_answer_their_own_throttling_codes(clock: VirtualClock) -> None:
    table = AWS_LIMITS.with_buckets(services={"dynamodb": Bucket(1, 1), "sns": Bucket(1, 1)})
    session = session_with(ThrottlingSimulator(table, clock=clock))
    dynamodb = session.client("dynamodb", config=NO_RETRIES)
    sns = session.client("sns", config=NO_RETRIES)
    dynamodb.list_tables()
    sns.list_topics()
    with pytest.raises(ClientError, match="ThrottlingException"):
        dynamodb.list_tables()
    with pytest.raises(ClientError) as err:
        sns.list_topics()
    assert err.value.response["Error"]["Code"] == "Throttling"


def test_services_without_a_bucket_are_never_throttled(clock: VirtualClock) -> None:
    dynamodb = session_with(ThrottlingSimulator(clock=clock)).client("dynamodb", config=NO_RETRIES)
    for _ in range(300):
        dynamodb.list_tables()


def test_every_attempt_takes_the_latency_on_the_simulators_clock(clock: VirtualClock) -> None:
    simulator = ThrottlingSimulator(clock=clock, latency={"ec2": 0.05, "*": 0.01})
    session = session_with(simulator)
    start = clock.monotonic()
    session.client("ec2").describe_volumes(MaxResults=5)
    session.client("dynamodb").list_tables()
    assert clock.monotonic() - start == pytest.approx(0.06)


def test_unfiltered_unpaginated_describes_draw_from_the_smaller_bucket(clock: VirtualClock) -> None:
    simulator = ThrottlingSimulator(clock=clock)
    ec2 = session_with(simulator).client("ec2", config=NO_RETRIES)
    for _ in range(50):
        ec2.describe_volumes()  # unfiltered bucket: 50
    with pytest.raises(ClientError, match="RequestLimitExceeded"):
        ec2.describe_volumes()
    ec2.describe_volumes(Filters=[{"Name": "status", "Values": ["available"]}])  # the normal bucket is full


def test_botocore_retries_get_a_throttled_call_through_once_the_bucket_refills(clock: VirtualClock) -> None:
    table = AWS_LIMITS.with_buckets(ec2={"DeleteVolume": Bucket(1, 0.5)})
    simulator = ThrottlingSimulator(table, clock=clock)
    ec2 = session_with(simulator).client("ec2", config=Config(retries={"max_attempts": 10, "mode": "adaptive"}))
    ids = volumes(3)
    start = clock.monotonic()
    for volume_id in ids:
        ec2.delete_volume(VolumeId=volume_id)
    assert remaining_volumes() == set()
    assert simulator.stats.throttled[("test", "ec2", "DeleteVolume")] >= 1
    assert clock.monotonic() - start >= 4.0  # two refills of 2 s each, waited on the virtual clock only


def test_other_load_takes_its_share_of_the_refill(clock: VirtualClock) -> None:
    table = AWS_LIMITS.with_buckets(ec2={"DeleteVolume": Bucket(1, 10)})
    simulator = ThrottlingSimulator(table, clock=clock, other_load=0.5)
    ec2 = session_with(simulator).client("ec2", config=NO_RETRIES)
    ids = volumes(2)
    ec2.delete_volume(VolumeId=ids[0])
    clock.sleep(0.1)  # 10/s refill, half of it taken by others: half a token back
    with pytest.raises(ClientError, match="RequestLimitExceeded"):
        ec2.delete_volume(VolumeId=ids[1])
    clock.sleep(0.1)
    ec2.delete_volume(VolumeId=ids[1])


def test_overdraft_measures_conformance_to_a_bucket() -> None:
    bucket = Bucket(2, 1)
    assert overdraft([0.0, 0.0, 1.0, 2.0, 3.0], bucket) == 0
    assert overdraft([0.0, 0.0, 0.5, 1.0], bucket) == pytest.approx(1.0)  # 4 in 1 s: one more than 2 + 1
    assert overdraft([], bucket) == 0


def test_attaching_twice_to_a_session_still_sends_each_attempt_once(clock: VirtualClock) -> None:
    simulator = ThrottlingSimulator(clock=clock, latency=0.05)
    session = session_with(simulator)
    simulator.attach(session, "test")
    start = clock.monotonic()
    session.client("ec2").delete_volume(VolumeId=volumes(1)[0])
    assert clock.monotonic() - start == pytest.approx(0.05)
    assert simulator.stats.calls[("test", "ec2", "DeleteVolume")] == 1
    assert simulator.stats.attempts[("test", "ec2", "DeleteVolume")] == 1
