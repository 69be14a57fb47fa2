"""Building blocks of the throttling benchmarks (bench/throttle.py, bench/custodian_compare.py).

They run in-process on moto behind a `ThrottlingSimulator` on the real clock: fixtures are made with
plain moto clients (not simulated, not timed); only the automation under test goes through the
simulator, so what is timed and counted is that automation's calls alone.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

REGION = "us-east-1"
BACKUP_TAG = "caretaker:backup"


def quiet_environment() -> None:
    """Fake credentials, no default AMIs, and logs and metrics quiet enough to time a run."""
    for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_SESSION_TOKEN": "bench", "AWS_DEFAULT_REGION": REGION,
                       "MOTO_EC2_LOAD_DEFAULT_AMIS": "false", "POWERTOOLS_LOG_LEVEL": "WARNING",
                       "POWERTOOLS_METRICS_DISABLED": "true"}.items():
        os.environ[key] = value
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(key, None)
    for key in [k for k in os.environ if k.startswith("CARETAKER_")]:
        os.environ.pop(key)
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")


@contextmanager
def created_at(at: datetime) -> Iterator[None]:
    """EBS resources created inside get `at` as their creation time (moto's EBS model clock)."""
    import moto.ec2.models.elastic_block_store as ebs_model

    original = ebs_model.utcnow
    ebs_model.utcnow = lambda: at.astimezone(UTC).replace(tzinfo=None)
    try:
        yield
    finally:
        ebs_model.utcnow = original


def make_volumes(n: int, tags: Mapping[str, str] | None = None, age_days: int = 100) -> list[str]:
    """`n` unattached volumes, `age_days` old, made without the simulator."""
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    spec: list[Any] = ([{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
                       if tags else [])
    with created_at(datetime.now(UTC) - timedelta(days=age_days)):
        return [ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8, TagSpecifications=spec)["VolumeId"]
                for _ in range(n)]


def remaining_volumes(ids: list[str]) -> int:
    import boto3

    pages = boto3.client("ec2", region_name=REGION).get_paginator("describe_volumes").paginate()
    found = {v["VolumeId"] for page in pages for v in page["Volumes"]}
    return len(found & set(ids))


def volumes_without_snapshot(ids: list[str]) -> int:
    import boto3

    pages = boto3.client("ec2", region_name=REGION).get_paginator("describe_snapshots").paginate(OwnerIds=["self"])
    snapshotted = {s.get("VolumeId") for page in pages for s in page["Snapshots"]}
    return len(set(ids) - snapshotted)


@dataclass
class Outcome:
    """One run of one tool in one scenario."""

    tool: str
    wall_s: float
    calls: dict[str, int]
    attempts: int
    throttled: int
    failed: int  # resources the run should have acted on and did not (counted in AWS afterwards)
    notes: list[str] = field(default_factory=list)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def caretaker_environment(table: str, topic: str, **settings: str) -> dict[str, str]:
    return {**os.environ, "CARETAKER_STATE_TABLE": table, "CARETAKER_ALERT_TOPIC_ARN": topic,
            **{f"CARETAKER_{k.upper()}": v for k, v in settings.items()}}


def state_table_and_topic() -> tuple[str, str]:
    import boto3

    from tests.automations.conftest import create_state_table

    table = create_state_table()
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="caretaker-alerts")["TopicArn"]
    return table, topic


def run_caretaker(handler: Any, simulator: Any, settings: Mapping[str, str],
                  label: str = "caretaker") -> tuple[dict[str, Any], float, Any]:
    """Invoke a Caretaker handler through the simulator; returns its result, wall seconds and clients."""
    import boto3

    from automations.core.aws import Clients
    from automations.core.throttle import RateLimiter
    from tests.automations.conftest import LambdaContext, scheduled_event

    table, topic = state_table_and_topic()
    session = boto3.session.Session(region_name=REGION)
    simulator.attach(session, label)
    clients = Clients(session, limiter=RateLimiter(table=simulator.table))
    environ = caretaker_environment(table, topic, **settings)
    started = time.perf_counter()
    result = handler.invoke(scheduled_event(), LambdaContext(), environ=environ, clients=clients)
    return result, time.perf_counter() - started, clients


def outcome(tool: str, simulator: Any, label: str, wall_s: float, failed: int) -> Outcome:
    stats = simulator.stats
    return Outcome(tool, wall_s, stats.by_operation(stats.calls, label), stats.total(stats.attempts, label),
                   stats.total(stats.throttled, label), failed)
