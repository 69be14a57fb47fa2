"""Whole runs under simulated AWS throttling (tests/throttling/simulator.py), on a virtual clock.

With the documented EC2 limits and the default share (0.5), a run loses and fails nothing, never
takes more than its share of a bucket (burst included), and finishes within 1.2x the shortest time
that share allows for its work. When other workloads take so much of a bucket that Caretaker is
throttled anyway, botocore's retries still get every action through.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from automations.core.aws import Clients
from automations.core.runtime import Entrypoint
from automations.core.throttle import AWS_LIMITS, Bucket, RateLimiter, RateTable
from automations.scheduled import ebs_snapshots
from tests.automations.conftest import REGION, Clock, LambdaContext, scheduled_event
from tests.throttling.simulator import ThrottlingSimulator, VirtualClock, overdraft, virtual_botocore_time

LATENCY_S = 0.02
SHARE = 0.5


@pytest.fixture
def vclock() -> Iterator[VirtualClock]:
    virtual = VirtualClock()
    with virtual_botocore_time(virtual):
        yield virtual


def simulated_clients(clock: VirtualClock, table: RateTable = AWS_LIMITS,
                      other_load: float = 0.0) -> tuple[Clients, ThrottlingSimulator]:
    simulator = ThrottlingSimulator(table, latency=LATENCY_S, clock=clock, other_load=other_load)
    session = boto3.session.Session(region_name=REGION)
    simulator.attach(session)
    return Clients(session, limiter=RateLimiter(table=table, clock=clock)), simulator


def invoke(handler: Entrypoint, clients: Clients, clock: Clock, context: LambdaContext,
           **settings: str) -> dict[str, Any]:
    environ = {**os.environ, **{f"CARETAKER_{k.upper()}": v for k, v in settings.items()}}
    return handler.invoke(scheduled_event(), context, environ=environ, clients=clients, clock=clock)


def old_volumes(clock: Clock, n: int, tags: dict[str, str] | None = None) -> list[str]:
    ec2 = boto3.client("ec2", region_name=REGION)  # the fixture, outside the simulator
    spec: list[Any] = ([{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
                       if tags else [])
    clock.advance(days=-30)
    ids = [ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8, TagSpecifications=spec)["VolumeId"]
           for _ in range(n)]
    clock.advance(days=30)
    return ids


def remaining(ids: list[str]) -> set[str]:
    found = boto3.client("ec2", region_name=REGION).describe_volumes()["Volumes"]
    return {v["VolumeId"] for v in found} & set(ids)


def cleanup_handler() -> Entrypoint:
    module = pytest.importorskip("automations.scheduled.cleanup_volumes")
    handler: Entrypoint = module.handler
    return handler


CLEANUP = {"mode": "enforce", "grace_days": "0", "min_age_days": "0", "final_snapshot": "false"}


def test_cleanup_takes_its_share_of_the_bucket_fails_nothing_and_finishes_near_the_limit(
        state_table: str, clock: Clock, lambda_context: LambdaContext, vclock: VirtualClock) -> None:
    handler = cleanup_handler()
    ids = old_volumes(clock, 100)
    clients, simulator = simulated_clients(vclock)
    start = vclock.monotonic()
    result = invoke(handler, clients, clock, lambda_context, max_concurrency="1", **CLEANUP)
    elapsed = vclock.monotonic() - start

    assert result["status"] == "ok"
    assert (result["counts"]["succeeded"], result["counts"]["failed"]) == (100, 0)
    assert remaining(ids) == set()
    assert simulator.stats.total(simulator.stats.throttled) == 0
    share = Bucket(100, 5).share(SHARE)  # DeleteVolume's own bucket, at the default share
    deletes = simulator.stats.accepted_times("caretaker", "DeleteVolume")
    assert len(deletes) == 100
    assert overdraft(deletes, share) < 1e-6  # never above share x refill, burst included
    minimum = share.minimum_seconds(100)  # (100 - 50) / 2.5 = 20 s
    assert minimum <= elapsed <= 1.2 * minimum


def test_cleanup_under_a_bucket_others_overdraw_still_fails_nothing(
        state_table: str, clock: Clock, lambda_context: LambdaContext, vclock: VirtualClock) -> None:
    """Others take 70% of the refill; with Caretaker's 50% the bucket is overdrawn and AWS throttles."""
    handler = cleanup_handler()
    ids = old_volumes(clock, 60)
    table = AWS_LIMITS.with_buckets(ec2={"DeleteVolume": Bucket(10, 4)})
    clients, simulator = simulated_clients(vclock, table, other_load=0.7)
    result = invoke(handler, clients, clock, lambda_context, max_concurrency="4", **CLEANUP)

    assert simulator.stats.total(simulator.stats.throttled, operation="DeleteVolume") > 0
    assert result["status"] == "ok"
    assert (result["counts"]["succeeded"], result["counts"]["failed"]) == (60, 0)
    assert remaining(ids) == set()


def test_snapshots_take_their_share_fail_nothing_and_finish_near_the_limit(
        state_table: str, clock: Clock, lambda_context: LambdaContext, vclock: VirtualClock) -> None:
    ids = old_volumes(clock, 70, {"caretaker:backup": "true"})
    clients, simulator = simulated_clients(vclock)
    start = vclock.monotonic()
    result = invoke(ebs_snapshots.handler, clients, clock, lambda_context)
    elapsed = vclock.monotonic() - start

    assert result["status"] == "ok"
    assert result["snapshots_created"] == 70
    assert result["counts"]["failed"] == 0
    assert simulator.stats.total(simulator.stats.throttled) == 0
    share = Bucket(100, 5).share(SHARE)  # CreateSnapshot's own bucket
    creates = simulator.stats.accepted_times("caretaker", "CreateSnapshot")
    assert len(creates) == len(ids)
    assert overdraft(creates, share) < 1e-6
    minimum = share.minimum_seconds(70)  # (70 - 50) / 2.5 = 8 s
    assert minimum <= elapsed <= 1.2 * minimum


def test_the_share_setting_reaches_the_limiter_and_a_full_share_is_never_throttled(
        state_table: str, clock: Clock, lambda_context: LambdaContext, vclock: VirtualClock) -> None:
    old_volumes(clock, 120, {"caretaker:backup": "true"})
    bucket = Bucket(20, 2)  # small enough that tokens, not latency, bound the run
    clients, simulator = simulated_clients(vclock, AWS_LIMITS.with_buckets(ec2={"CreateSnapshot": bucket}))
    start = vclock.monotonic()
    result = invoke(ebs_snapshots.handler, clients, clock, lambda_context, api_rate_share="1")
    elapsed = vclock.monotonic() - start

    assert clients.limiter.share == 1.0
    assert result["counts"]["failed"] == 0
    assert simulator.stats.total(simulator.stats.throttled) == 0  # the limiter matches AWS exactly
    assert overdraft(simulator.stats.accepted_times("caretaker", "CreateSnapshot"), bucket) < 1e-6
    assert bucket.minimum_seconds(120) <= elapsed <= 1.2 * bucket.minimum_seconds(120)
