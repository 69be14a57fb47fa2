"""A throttling storm longer than botocore's retry budget (`aws.MAX_ATTEMPTS` retries, adaptive mode).

A call throttled on every attempt fails after MAX_ATTEMPTS + 1 tries. The run must not lose or hide
that work: each action that never got through is a `failed` record (never acted on, planned first), the
summary's counts are the records, the `run failed` alert goes out, and the next run, once the storm is
over, does the rest without acting on anything twice. When even the state table is throttled beyond the
budget, the run stops before acting. Retry waits run on virtual time: the test takes about a second.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from automations.core.aws import MAX_ATTEMPTS
from automations.core.errors import StateLogError
from automations.scheduled import cleanup_volumes
from tests.automations.scheduled.cleanup_harness import use_test_clock
from tests.faults.conftest import REGION, Alerts, LambdaContext, Scheduled
from tests.faults.faults import VirtualTime, acted_twice, uncovered_changes

COUNT = 6
BEYOND_BUDGET = MAX_ATTEMPTS + 5  # throttled attempts per call: more than botocore will make


@pytest.fixture
def volumes(state_table: str, lambda_context: LambdaContext,
            monkeypatch: pytest.MonkeyPatch) -> tuple[Scheduled, list[str]]:
    clock = use_test_clock(monkeypatch)
    ec2 = boto3.client("ec2", region_name=REGION)
    clock.advance(days=-30)
    ids = [str(ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]) for _ in range(COUNT)]
    clock.advance(days=30)
    return Scheduled(cleanup_volumes.handler, state_table, clock, lambda_context, grace_days="0",
                     max_concurrency="1", final_snapshot="false"), ids


def left(ids: list[str]) -> set[str]:
    return {v["VolumeId"] for v in boto3.client("ec2", region_name=REGION).describe_volumes()["Volumes"]} & set(ids)


def test_actions_throttled_beyond_the_retry_budget_are_failed_alerted_and_done_next_run(
        volumes: tuple[Scheduled, list[str]], alerts: Alerts, retry_time: VirtualTime) -> None:
    h, ids = volumes
    stormy = h.clients()
    storm = stormy.storm(fraction=1.0, min_throttled_attempts=BEYOND_BUDGET,
                         max_throttled_attempts=BEYOND_BUDGET, services=("ec2",),
                         operations=("DeleteVolume",))

    result = h.invoke(stormy)

    attempts = storm.throttled
    assert attempts == COUNT * (MAX_ATTEMPTS + 1)  # every try botocore made, none more
    assert retry_time.slept > 0
    assert result["status"] == "failed" and left(ids) == set(ids)
    records = h.records(stormy)
    failed = {r["resource_id"]: r["reason"] for r in records if r.get("outcome") == "failed"}
    assert set(failed) == set(ids)
    assert all("RequestLimitExceeded" in reason for reason in failed.values())
    assert uncovered_changes(stormy, ids) == []
    h.assert_counts_true(stormy, result)
    alert = [m for m in alerts.messages() if "run failed" in m["Subject"]]
    assert len(alert) == 1 and f"{COUNT} failed" in alert[0]["Message"]

    calm = h.clients()
    result = h.invoke(calm)
    assert result["status"] == "ok" and left(ids) == set()
    assert acted_twice(h.runs, ids) == {}
    h.assert_counts_true(calm, result)


def test_a_state_table_throttled_beyond_the_budget_stops_the_run_before_it_acts(
        volumes: tuple[Scheduled, list[str]], retry_time: VirtualTime) -> None:
    h, ids = volumes
    stormy = h.clients()
    stormy.storm(fraction=1.0, min_throttled_attempts=BEYOND_BUDGET,
                         max_throttled_attempts=BEYOND_BUDGET, services=("dynamodb",))

    with pytest.raises(StateLogError, match="ProvisionedThroughputExceeded"):
        h.invoke(stormy)

    assert stormy.changes() == [] and left(ids) == set(ids)

    calm = h.clients()
    result: dict[str, Any] = h.invoke(calm)
    assert result["status"] == "ok" and left(ids) == set()
    h.assert_counts_true(calm, result)
