"""Scale figures of the cleanup automations on in-process moto.

    python bench/cleanup_scale.py [--volumes 5000] [--snapshots 5000] [--two-phase-volumes 1000]
                                  [--final-snapshot-volumes 500] [--max-concurrency 8]

Creates N unattached volumes and N snapshots, 100 days old, then runs `cleanup-ebs-volumes` and
`cleanup-ebs-snapshots` in enforce mode with a grace period of 0 (act at once) and prints, per
automation and in total: the AWS API calls by operation (counted with a botocore `before-parameter-build` hook,
HTTP attempts with `before-send`), EC2 calls per deleted resource, DynamoDB calls per action, the
state-log items written per action (write-ahead `planned` vs outcome) and the wall time. Two smaller
passes follow: the two-phase path (grace_days=7: a run that tags and records pending, then one 8 days
later that deletes) and the volumes' final snapshot turned on, to show what each costs.

moto returns every volume and snapshot in one page; the projection line counts the pages AWS would
return at the page sizes the automations ask for (500 volumes, 1000 snapshots per page).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REGION = "us-east-1"
AGE = timedelta(days=100)


class CountingClients:
    """`automations.core.aws.Clients` on a session whose API calls and HTTP attempts are counted."""

    def __init__(self) -> None:
        import boto3

        from automations.core.aws import Clients
        from automations.core.throttle import RateLimiter

        self.session = boto3.session.Session(region_name=REGION)
        self.calls: Counter[tuple[str, str]] = Counter()
        self.attempts: Counter[str] = Counter()
        self.items_written: Counter[str] = Counter()  # state-log items, by kind
        self.session.events.register("before-parameter-build.*.*", self._call)
        self.session.events.register("before-send.*.*", self._attempt)
        # moto's raw speed: this bench counts calls; bench/throttle.py measures the rate limiter
        self.clients = Clients(self.session, limiter=RateLimiter.unlimited())

    def _call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        self.calls[(service, model.name)] += 1
        if model.name == "BatchWriteItem":
            for requests in params.get("RequestItems", {}).values():
                for request in requests:
                    if "DeleteRequest" in request:
                        self.items_written["pending removed"] += 1
                    else:
                        self.items_written[_kind(request["PutRequest"]["Item"])] += 1
        elif model.name == "PutItem":
            self.items_written[_kind(params.get("Item", {}))] += 1

    def _attempt(self, request: Any, **_: Any) -> None:
        self.attempts[request.url.split("//")[1].split(".")[0]] += 1

    def by_service(self, service: str) -> int:
        return sum(n for (svc, _), n in self.calls.items() if svc == service)


def _kind(item: dict[str, Any]) -> str:
    if item.get("type", {}).get("S") == "action":
        return "planned" if item.get("outcome", {}).get("S") == "planned" else "outcome"
    return str(item.get("type", {}).get("S", "other"))


@contextmanager
def moto_ebs_clock(at: datetime) -> Any:
    """Volumes and snapshots created inside get `at` as their creation time (moto's EBS model clock)."""
    import moto.ec2.models.elastic_block_store as ebs_model

    original = ebs_model.utcnow
    ebs_model.utcnow = lambda: at.replace(tzinfo=None)
    try:
        yield
    finally:
        ebs_model.utcnow = original


def setup(volumes: int, snapshots: int) -> tuple[str, str, float]:
    import boto3

    from tests.automations.conftest import create_state_table

    started = time.perf_counter()
    ec2 = boto3.client("ec2", region_name=REGION)
    with moto_ebs_clock(datetime.now(UTC) - AGE):
        ids = [ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"] for _ in range(max(volumes, 1))]
        for _ in range(snapshots):
            ec2.create_snapshot(VolumeId=ids[0])
    table = create_state_table()
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="caretaker-alerts")["TopicArn"]
    return table, topic, time.perf_counter() - started


def run(handler: Any, table: str, topic: str, settings: dict[str, str],
        later: timedelta = timedelta(0)) -> tuple[dict[str, Any], CountingClients, float]:
    from tests.automations.conftest import LambdaContext, scheduled_event

    counting = CountingClients()
    environ = {**os.environ, "CARETAKER_STATE_TABLE": table, "CARETAKER_ALERT_TOPIC_ARN": topic,
               "CARETAKER_MODE": "enforce", "CARETAKER_GRACE_DAYS": "0",
               **{f"CARETAKER_{k.upper()}": v for k, v in settings.items()}}
    started = time.perf_counter()
    result = handler.invoke(scheduled_event(), LambdaContext(), environ=environ, clients=counting.clients,
                            clock=lambda: datetime.now(UTC) + later)
    return result, counting, time.perf_counter() - started


def old_volumes(count: int) -> None:
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    with moto_ebs_clock(datetime.now(UTC) - AGE):
        for _ in range(count):
            ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)


def report(title: str, result: dict[str, Any], counting: CountingClients, seconds: float, acted: int,
           pages: Callable[[str], int] | None = None) -> None:
    counts = result["counts"]
    actions = counts["succeeded"] + counts["failed"]
    ec2_calls = counting.by_service("ec2")
    dynamodb = counting.by_service("dynamodb")
    print(f"\n== {title}: status {result['status']}, {acted} deleted, {seconds:.1f} s")
    for (service, operation), n in sorted(counting.calls.items()):
        print(f"   {service:<9} {operation:<24} {n:>7}")
    print(f"   HTTP attempts (retries included): {dict(sorted(counting.attempts.items()))}")
    per_deleted = f"{ec2_calls / acted:.4f}" if acted else f"- ({ec2_calls} calls, nothing deleted)"
    print(f"   EC2 calls per deleted resource:   {per_deleted}")
    print(f"   DynamoDB calls per action:        {dynamodb / max(actions, 1):.4f}  "
          f"({dynamodb} calls, {actions} actions)")
    items = counting.items_written
    print(f"   state-log items per action:       planned {items['planned'] / max(actions, 1):.2f} + outcome "
          f"{items['outcome'] / max(actions, 1):.2f}  (plus {items['run']} run summary put, "
          f"{items['pending']} pending records written, {items['pending removed']} removed)")
    if pages is not None:
        projected = ec2_calls - sum(n for (svc, op), n in counting.calls.items() if svc == "ec2" and op.startswith(
            "Describe")) + sum(pages(op) for (svc, op) in counting.calls if svc == "ec2" and op.startswith("Describe"))
        print(f"   projected on AWS (paged listings): {projected} EC2 calls = {projected / max(acted, 1):.4f} per "
              f"deleted resource")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volumes", type=int, default=5000)
    parser.add_argument("--snapshots", type=int, default=5000)
    parser.add_argument("--two-phase-volumes", type=int, default=1000,
                        help="volumes for the two-phase pass: announce, then act 8 days later (0 to skip)")
    parser.add_argument("--final-snapshot-volumes", type=int, default=500,
                        help="volumes for the pass with final snapshots on (0 to skip)")
    parser.add_argument("--max-concurrency", type=int, default=8)
    args = parser.parse_args(argv)

    for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_SESSION_TOKEN": "bench",
                       "AWS_DEFAULT_REGION": REGION, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}.items():
        os.environ[key] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import logging
    import warnings

    logging.disable(logging.INFO)
    warnings.simplefilter("ignore")
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    from moto import mock_aws

    from automations.scheduled import cleanup_snapshots, cleanup_volumes

    print(f"cleanup scale bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, moto in-process, enforce, grace 0, "
          f"max_concurrency {args.max_concurrency}")
    total = time.perf_counter()
    with mock_aws():
        table, topic, setup_s = setup(args.volumes, args.snapshots)
        print(f"setup: {args.volumes} volumes and {args.snapshots} snapshots, {AGE.days} days old ({setup_s:.1f} s)")
        common = {"max_concurrency": str(args.max_concurrency)}
        vol_result, vol_calls, vol_s = run(cleanup_volumes.handler, table, topic, {"final_snapshot": "false", **common})
        vol_deleted = int(vol_result["volumes_acted"])
        report("cleanup-ebs-volumes (final_snapshot=false)", vol_result, vol_calls, vol_s, vol_deleted,
               lambda op: math.ceil(max(args.volumes, 1) / cleanup_volumes.PAGE_SIZE) if op == "DescribeVolumes" else 1)
        snap_result, snap_calls, snap_s = run(cleanup_snapshots.handler, table, topic, common)
        snap_deleted = int(snap_result["snapshots_acted"])
        report("cleanup-ebs-snapshots", snap_result, snap_calls, snap_s, snap_deleted,
               lambda op: math.ceil(max(args.snapshots, 1) / cleanup_snapshots.PAGE_SIZE)
               if op == "DescribeSnapshots" else 1)

        deleted = vol_deleted + snap_deleted
        ec2_calls = vol_calls.by_service("ec2") + snap_calls.by_service("ec2")
        actions = sum(r["counts"]["succeeded"] + r["counts"]["failed"] for r in (vol_result, snap_result))
        dynamodb = vol_calls.by_service("dynamodb") + snap_calls.by_service("dynamodb")
        print(f"\n== total: {deleted} deleted in {vol_s + snap_s:.1f} s; EC2 calls per deleted resource "
              f"{ec2_calls / max(deleted, 1):.4f} (target <= 1.02); DynamoDB calls per action "
              f"{dynamodb / max(actions, 1):.4f}")

        if args.two_phase_volumes:
            old_volumes(args.two_phase_volumes)
            two_phase = {"final_snapshot": "false", "grace_days": "7", **common}
            first, first_calls, first_s = run(cleanup_volumes.handler, table, topic, two_phase)
            report(f"two phases, run 1: announce {args.two_phase_volumes} volumes (grace_days=7)", first,
                   first_calls, first_s, int(first["volumes_acted"]))
            second, second_calls, second_s = run(cleanup_volumes.handler, table, topic, two_phase,
                                                 later=timedelta(days=8))
            acted = int(second["volumes_acted"])
            report("two phases, run 2: 8 days later", second, second_calls, second_s, acted)
            both_ec2 = first_calls.by_service("ec2") + second_calls.by_service("ec2")
            both_dynamodb = first_calls.by_service("dynamodb") + second_calls.by_service("dynamodb")
            both_actions = sum(r["counts"]["succeeded"] + r["counts"]["failed"] for r in (first, second))
            print(f"   both runs: {both_ec2 / max(acted, 1):.4f} EC2 calls per deleted volume, "
                  f"{both_dynamodb / max(both_actions, 1):.4f} DynamoDB calls per action (tagging included)")

        if args.final_snapshot_volumes:
            old_volumes(args.final_snapshot_volumes)
            fs_result, fs_calls, fs_s = run(cleanup_volumes.handler, table, topic, {"final_snapshot": "true", **common})
            report(f"cleanup-ebs-volumes (final_snapshot=true, {args.final_snapshot_volumes} volumes)", fs_result,
                   fs_calls, fs_s, int(fs_result["volumes_acted"]))
            print("   moto completes snapshots at once, so the volume is deleted in the same run; on AWS the "
                  "snapshot is pending at first and a later run deletes the volume after one DescribeSnapshots "
                  "per 200 waiting volumes.")
    print(f"\nwall time, setup included: {time.perf_counter() - total:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
