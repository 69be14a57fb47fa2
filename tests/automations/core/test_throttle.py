"""The client-side rate limiter: the table of AWS buckets, the blocking token bucket, the share setting,
and the hooks `Clients` puts on every client."""

from __future__ import annotations

import threading
import time

import boto3
import pytest

from automations.core.aws import Clients
from automations.core.errors import SettingsError
from automations.core.rate_limits import (
    AWS_LIMITS,
    EC2_MUTATING,
    EC2_NON_MUTATING,
    EC2_RESOURCE,
    EC2_RESOURCE_INTENSIVE,
    EC2_UNCATEGORIZED,
    EC2_UNFILTERED,
    Bucket,
    RateTable,
)
from automations.core.settings import load_settings
from automations.core.spec import FunctionSpec, Permission, Rate
from automations.core.throttle import SHARE_ENV, RateLimiter, TokenBucket
from tests.automations.conftest import REGION
from tests.throttling.simulator import ThrottlingSimulator, VirtualClock, overdraft, virtual_botocore_time

# ---------------------------------------------------------------------- the table


@pytest.mark.parametrize(("operation", "params", "key", "category", "bucket"), [
    ("DescribeVolumes", {"Filters": [{"Name": "status", "Values": ["available"]}]}, "DescribeVolumes",
     EC2_NON_MUTATING, Bucket(100, 20)),
    ("DescribeVolumes", {"MaxResults": 500}, "DescribeVolumes", EC2_NON_MUTATING, Bucket(100, 20)),
    ("DescribeVolumes", {}, "DescribeVolumes/unfiltered", EC2_UNFILTERED, Bucket(50, 10)),
    ("DescribeVolumes", {"VolumeIds": ["vol-1"]}, "DescribeVolumes/unfiltered", EC2_UNFILTERED, Bucket(50, 10)),
    ("DescribeImages", {}, "DescribeImages", EC2_NON_MUTATING, Bucket(100, 20)),
    ("GetEbsEncryptionByDefault", {}, "GetEbsEncryptionByDefault", EC2_NON_MUTATING, Bucket(100, 20)),
    ("DeleteVolume", {"VolumeId": "vol-1"}, "DeleteVolume", EC2_UNCATEGORIZED, Bucket(100, 5)),
    ("CreateSnapshot", {}, "CreateSnapshot", EC2_UNCATEGORIZED, Bucket(100, 5)),
    ("CreateTags", {}, "CreateTags", EC2_UNCATEGORIZED, Bucket(100, 10)),
    ("ReleaseAddress", {}, "ReleaseAddress", EC2_MUTATING, Bucket(50, 5)),
    ("CopySnapshot", {}, "CopySnapshot", EC2_MUTATING, Bucket(50, 5)),
    ("RevokeSecurityGroupIngress", {}, "RevokeSecurityGroupIngress", EC2_RESOURCE_INTENSIVE, Bucket(50, 5)),
])
def test_ec2_requests_draw_from_their_documented_bucket(operation: str, params: dict[str, object], key: str,
                                                        category: str, bucket: Bucket) -> None:
    (charge,) = AWS_LIMITS.charges("ec2", operation, params)
    assert (charge.key, charge.category, charge.bucket, charge.tokens) == (key, category, bucket, 1.0)


def test_instance_actions_also_draw_one_resource_token_per_instance() -> None:
    request, resources = AWS_LIMITS.charges("ec2", "TerminateInstances", {"InstanceIds": ["i-1", "i-2", "i-3"]})
    assert (request.key, request.bucket) == ("TerminateInstances", Bucket(100, 5))
    assert (resources.category, resources.bucket, resources.tokens) == (EC2_RESOURCE, Bucket(1000, 20), 3.0)
    assert AWS_LIMITS.charges("ec2", "RunInstances", {"MinCount": 1, "MaxCount": 4})[1].tokens == 4.0


def test_other_services_are_not_limited_unless_a_table_gives_them_buckets() -> None:
    assert AWS_LIMITS.charges("dynamodb", "PutItem", {}) == ()
    assert not AWS_LIMITS.covers("dynamodb")
    table = AWS_LIMITS.with_buckets(services={"dynamodb": Bucket(10, 1)})
    assert table.charges("dynamodb", "PutItem", {})[0].bucket == Bucket(10, 1)
    assert RateTable.empty().charges("ec2", "DeleteVolume", {}) == ()


def test_scaling_a_table_scales_every_bucket() -> None:
    table = AWS_LIMITS.scaled(capacity=2, refill=10)
    assert table.charges("ec2", "DeleteVolume", {})[0].bucket == Bucket(200, 50)
    assert table.charges("ec2", "DescribeVolumes", {})[0].bucket == Bucket(100, 100)


def test_a_share_cuts_size_and_rate_but_keeps_at_least_one_token() -> None:
    assert Bucket(100, 5).share(0.5) == Bucket(50, 2.5)
    assert Bucket(1, 0.1).share(0.5) == Bucket(1.0, 0.05)
    assert Bucket(100, 5).minimum_seconds(150) == 10.0
    for share in (0, -0.1, 1.01):
        with pytest.raises(ValueError, match="share"):
            Bucket(100, 5).share(share)


# ---------------------------------------------------------------------- the token bucket


def test_the_bucket_lets_a_burst_through_then_spaces_callers_by_the_refill_rate() -> None:
    clock = VirtualClock()
    bucket = TokenBucket(Bucket(3, 2), clock)
    start = clock.monotonic()
    times = []
    for _ in range(7):
        bucket.acquire()
        times.append(clock.monotonic() - start)
    assert times == pytest.approx([0, 0, 0, 0.5, 1.0, 1.5, 2.0])


def test_the_bucket_blocks_instead_of_failing_and_refills_while_idle() -> None:
    clock = VirtualClock()
    bucket = TokenBucket(Bucket(1, 0.1), clock)
    assert bucket.acquire() == 0
    assert bucket.acquire() == pytest.approx(10.0)  # waited, did not raise
    clock.sleep(100)
    assert bucket.acquire() == 0  # refilled, but never above capacity:
    assert bucket.acquire() == pytest.approx(10.0)
    assert bucket.acquire(tokens=5) == pytest.approx(10.0)  # more than the capacity: charged the capacity


class RecordingClock:
    """The system clock, remembering per thread when it was last read (inside `acquire`, under its lock)."""

    def __init__(self) -> None:
        self.local = threading.local()

    def monotonic(self) -> float:
        self.local.now = time.monotonic()
        return float(self.local.now)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def test_threads_sharing_a_bucket_never_get_more_than_it_allows() -> None:
    """Each caller's turn is the time it reserved at plus what it waited: those turns conform exactly."""
    bucket = Bucket(5, 400)
    clock = RecordingClock()
    limiter = TokenBucket(bucket, clock)
    turns: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            waited = limiter.acquire()
            with lock:
                turns.append(clock.local.now + waited)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(turns) == 200
    assert overdraft(turns, bucket) < 1e-6
    assert time.monotonic() - started >= (200 - 5) / 400 - 0.01


# ---------------------------------------------------------------------- the share


def spec() -> FunctionSpec:
    return FunctionSpec(name="demo-thing", description="demo", handler="automations.scheduled.demo.handler",
                        trigger=Rate(1, "day"), permissions=(Permission(("ec2:DescribeVolumes",)),),
                        default_mode="audit")


def test_every_function_has_the_share_setting_with_default_one_half() -> None:
    assert load_settings(spec(), {})["api_rate_share"] == 0.5
    assert load_settings(spec(), {SHARE_ENV: "1"})["api_rate_share"] == 1.0
    assert load_settings(spec(), {SHARE_ENV: "0.01"})["api_rate_share"] == 0.01


@pytest.mark.parametrize("raw", ["0", "-0.5", "1.5", "half", "nan", "inf"])
def test_the_share_setting_must_be_above_0_and_at_most_1(raw: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(spec(), {SHARE_ENV: raw})
    assert f"{SHARE_ENV} must be a number from 0.01 to 1, got {raw!r}" in str(err.value)


def test_share_precedence_is_explicit_then_environment_then_default() -> None:
    assert RateLimiter(environ={}).share == 0.5
    assert RateLimiter(environ={SHARE_ENV: "0.25"}).share == 0.25
    assert RateLimiter(environ={SHARE_ENV: "2"}).share == 0.5  # invalid: the runtime reports it, not the limiter
    limiter = RateLimiter(0.75, environ={SHARE_ENV: "0.25"})
    assert limiter.share == 0.75
    limiter.share = 1.0
    assert limiter.share == 1.0
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError):
            limiter.share = bad
        with pytest.raises(ValueError):
            RateLimiter(bad)


# ---------------------------------------------------------------------- the hooks on clients


def volumes(n: int) -> list[str]:
    ec2 = boto3.client("ec2", region_name=REGION)
    return [ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"] for _ in range(n)]


def test_clients_limit_every_client_they_create_and_waiting_is_the_only_effect() -> None:
    clock = VirtualClock()
    table = AWS_LIMITS.with_buckets(ec2={"DeleteVolume": Bucket(2, 1)})
    clients = Clients(boto3.session.Session(region_name=REGION), limiter=RateLimiter(0.5, table=table, clock=clock))
    ids = volumes(4)
    start = clock.monotonic()
    for volume_id in ids:
        clients("ec2").delete_volume(VolumeId=volume_id)
    assert clock.monotonic() - start == pytest.approx(6.0)  # 1 at once, then one every 2 s (share of 1/s)
    for _ in range(20):
        clients("dynamodb").list_tables()  # not in the table: never waits
    assert clock.monotonic() - start == pytest.approx(6.0)
    assert clients.limiter.requests == {"ec2:DeleteVolume": 4}
    assert clients.limiter.waited_s == pytest.approx(6.0)
    assert boto3.client("ec2", region_name=REGION).describe_volumes()["Volumes"] == []


def test_buckets_are_per_region() -> None:
    clock = VirtualClock()
    table = AWS_LIMITS.with_buckets(ec2={"DescribeRegions": Bucket(1, 1)})
    clients = Clients(boto3.session.Session(region_name=REGION), limiter=RateLimiter(1.0, table=table, clock=clock))
    start = clock.monotonic()
    clients("ec2").describe_regions()
    clients("ec2", "eu-west-1").describe_regions()
    assert clock.monotonic() == start
    clients("ec2").describe_regions()
    assert clock.monotonic() - start == pytest.approx(1.0)


def test_retries_wait_for_a_token_too() -> None:
    """Each HTTP attempt is charged: a throttled call's retry also waits its turn client-side."""
    clock = VirtualClock()
    table = AWS_LIMITS.with_buckets(ec2={"DeleteVolume": Bucket(1, 1)})
    simulator = ThrottlingSimulator(table, clock=clock, other_load=0.5)  # others take half the refill
    session = boto3.session.Session(region_name=REGION)
    simulator.attach(session)
    clients = Clients(session, limiter=RateLimiter(1.0, table=table, clock=clock))
    with virtual_botocore_time(clock):
        for volume_id in volumes(3):
            clients("ec2").delete_volume(VolumeId=volume_id)
    attempts = simulator.stats.attempts[("caretaker", "ec2", "DeleteVolume")]
    assert simulator.stats.throttled[("caretaker", "ec2", "DeleteVolume")] >= 1
    assert clients.limiter.requests["ec2:DeleteVolume"] == attempts


def test_an_unlimited_limiter_hooks_nothing() -> None:
    clock = VirtualClock()
    clients = Clients(boto3.session.Session(region_name=REGION), limiter=RateLimiter.unlimited())
    clients.limiter.clock = clock
    for volume_id in volumes(60):
        clients("ec2").delete_volume(VolumeId=volume_id)
    assert clients.limiter.requests == {}


def test_clients_keep_their_old_signature() -> None:
    session = boto3.session.Session(region_name=REGION)
    clients = Clients(session, None)
    assert clients.session is session
    assert isinstance(clients.limiter, RateLimiter)
    assert clients("ec2") is clients("ec2")
