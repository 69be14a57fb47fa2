"""A cleanup run over many resources that needs several invocations, on in-process moto.

    python bench/continuation_scale.py [--volumes 20000] [--items-per-invocation 2500] [--max-concurrency 8]
                                       [--seed boto3|backend]

Creates N unattached volumes, 100 days old, and runs `cleanup-ebs-volumes` in enforce mode
(grace_days=0, no final snapshot). The Lambda context's remaining time drops by one second at every
read, so a run checkpoints after about `--items-per-invocation` resources (the act phase reads it once
per batch of 25 x max_concurrency and once per chunk of 25). moto cannot run Lambda code: the
function's `lambda.Invoke` is answered by a botocore hook and the bench calls the handler with the
payload it sent, until the run finishes.

What it measures is continuation (checkpoint, self-invoke, resume, acted once), not throttling: the
function's clients run with `RateLimiter.unlimited()` (the client-side limiter would otherwise hold the
calls to AWS's documented refill rates, docs/performance.md). Seeding goes straight to moto's EC2 backend
by default (`--seed backend`: the volumes are the same objects `CreateVolume` makes); the automation itself
goes through boto3 against moto, and every `DeleteVolume` it sends is counted by a botocore hook.

Prints resources, invocations, wall time, acted-on / acted-twice / skipped counts and the run summary's
counts against the state log and against the calls made, and the notifications sent (one per run);
exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REGION = "us-east-1"
ACCOUNT = "123456789012"


class Context:
    """A Lambda context whose remaining time drops by `step_ms` at every read."""

    def __init__(self, remaining_ms: int, step_ms: int) -> None:
        self.remaining_ms = remaining_ms
        self.step_ms = step_ms
        self.aws_request_id = "bench"
        self.function_name = "caretaker-cleanup-ebs-volumes"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        self.remaining_ms -= self.step_ms
        return self.remaining_ms


class _Accepted:
    status_code = 202
    headers: dict[str, str] = {}


def seed(count: int, how: str, created_at: datetime) -> list[str]:
    """`count` unattached 1 GiB volumes created at `created_at`; returns their ids."""
    import boto3
    import moto.ec2.models.elastic_block_store as ebs_model

    ebs_model.utcnow = lambda: created_at.replace(tzinfo=None)
    try:
        if how == "backend":
            from moto.ec2.models import ec2_backends

            backend = ec2_backends[ACCOUNT][REGION]
            return [backend.create_volume(size=1, zone_name=f"{REGION}a").id for _ in range(count)]
        ec2 = boto3.client("ec2", region_name=REGION)
        return [str(ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]) for _ in range(count)]
    finally:
        ebs_model.utcnow = lambda: datetime.now(UTC).replace(tzinfo=None)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--volumes", type=int, default=20_000)
    parser.add_argument("--items-per-invocation", type=int, default=2_500)
    parser.add_argument("--max-concurrency", type=int, default=8)
    parser.add_argument("--seed", choices=("backend", "boto3"), default="backend",
                        help="create the volumes in moto's backend directly (fast) or through boto3 CreateVolume")
    args = parser.parse_args()
    for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": REGION, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
                       "POWERTOOLS_METRICS_DISABLED": "true"}.items():  # no EMF lines between the figures
        os.environ[key] = value
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(key, None)

    import logging

    import boto3
    from moto import mock_aws

    from automations.core.aws import Clients
    from automations.core.ledger import run_items
    from automations.core.spec import CONTINUATION_MARGIN
    from automations.core.throttle import RateLimiter
    from automations.scheduled.cleanup_volumes import handler
    from tests.automations.conftest import create_state_table, scheduled_event

    logging.disable(logging.INFO)  # the run logs a line per checkpoint; keep the output to the figures

    with mock_aws():
        t0 = time.perf_counter()
        volumes = seed(args.volumes, args.seed, datetime.now(UTC) - timedelta(days=100))
        seeded = time.perf_counter() - t0
        table = create_state_table()
        topic = boto3.client("sns", region_name=REGION).create_topic(Name="caretaker-alerts")["TopicArn"]
        environ = {**os.environ, "CARETAKER_STATE_TABLE": table, "CARETAKER_ALERT_TOPIC_ARN": topic,
                   "CARETAKER_MODE": "enforce",
                   "CARETAKER_GRACE_DAYS": "0", "CARETAKER_FINAL_SNAPSHOT": "false",
                   "CARETAKER_MAX_CONCURRENCY": str(args.max_concurrency)}
        margin_ms = int(CONTINUATION_MARGIN.default) * 1000
        batch = 25 * args.max_concurrency
        # per batch of the act phase: one read before it (checkpoint?) and one per chunk of 25 (time reserve)
        reads = max(1, args.items_per_invocation // batch) * (1 + args.max_concurrency)
        sent: list[dict[str, Any]] = []
        deletes: Counter[str] = Counter()
        published: list[str] = []
        lock = threading.Lock()

        def answer(params: Any, **_: Any) -> tuple[Any, dict[str, Any]]:
            sent.append({"FunctionName": unquote(params["url_path"].split("/")[3]),
                         "InvocationType": params["headers"].get("X-Amz-Invocation-Type"),
                         "Payload": json.loads(params["body"])})
            return _Accepted(), {"StatusCode": 202}

        def count_publish(params: Any, **_: Any) -> None:
            published.append(str(params["Subject"]))

        def count_delete(params: Any, **_: Any) -> None:
            with lock:
                deletes[str(params["VolumeId"])] += 1

        events: list[dict[str, Any]] = [scheduled_event()]
        results: list[dict[str, Any]] = []
        per_invocation: list[float] = []
        t0 = time.perf_counter()
        while events:
            session = boto3.session.Session(region_name=REGION)
            answering: Callable[..., Any] = answer  # the stubs type handlers `-> None`
            session.events.register("before-call.lambda.Invoke", answering)
            session.events.register("before-parameter-build.ec2.DeleteVolume", count_delete)
            session.events.register("before-parameter-build.sns.Publish", count_publish)
            before = len(sent)
            started = time.perf_counter()
            results.append(handler.invoke(events.pop(0), Context(margin_ms + reads * 1000, 1000), environ=environ,
                                          clients=Clients(session, limiter=RateLimiter.unlimited())))
            per_invocation.append(time.perf_counter() - started)
            events.extend(s["Payload"] for s in sent[before:])
        elapsed = time.perf_counter() - t0

        run_id = results[0]["run_id"]
        records = run_items(boto3.client("dynamodb", region_name=REGION), table, run_id)
        summary = next(i for i in records if i["type"] == "run")
        logged = Counter(i["outcome"] for i in records if i["type"] == "action")
        per_resource = Counter((i["resource_id"], i["outcome"]) for i in records if i["type"] == "action")
        ec2 = boto3.client("ec2", region_name=REGION)
        left = {v["VolumeId"] for p in ec2.get_paginator("describe_volumes").paginate() for v in p["Volumes"]}
        acted_on = len(deletes)
        acted_twice = sum(1 for n in deletes.values() if n > 1)
        skipped = sum(1 for v in volumes if v not in deletes)
        not_logged_once = sum(1 for v in volumes
                              if per_resource[(v, "planned")] != 1 or per_resource[(v, "succeeded")] != 1)
        counts = {k: int(summary.get(k, 0)) for k in ("planned", "succeeded", "failed", "skipped")}
        actual = {"planned": logged["planned"], "succeeded": logged["succeeded"], "failed": logged["failed"],
                  "skipped": logged["skipped"]}
        self_invokes = {(s["FunctionName"], s["InvocationType"], json.dumps(s["Payload"])) for s in sent}

        checks = {
            "acted twice = 0": acted_twice == 0,
            "skipped = 0": skipped == 0 and not left,
            "acted on = resources": acted_on == args.volumes,
            "state log: one planned + one succeeded per volume": not_logged_once == 0,
            "summary counts = state log": counts == actual,
            "summary succeeded = DeleteVolume calls": counts["succeeded"] == sum(deletes.values()),
            "summary invocations = invocations": int(summary.get("invocations", 0)) == len(results),
            "status ok": summary.get("status") == "ok",
            "one notification for the run": len(published) == 1,
            "self-invocations carry only the run id": self_invokes == (
                {(Context(0, 0).invoked_function_arn, "Event", json.dumps({"caretaker": {"continue_run": run_id}}))}
                if sent else set()),
        }
        print(f"date:                 {datetime.now(UTC).date().isoformat()}")
        print("rate limiter:         off (RateLimiter.unlimited(): this bench measures continuation, not throttling)")
        print(f"resources:            {args.volumes} unattached volumes, seeded via {args.seed} in {seeded:.1f} s")
        print(f"settings:             max_concurrency {args.max_concurrency}, ~{args.items_per_invocation} "
              f"resources per invocation (remaining time = margin + {reads} s, 1 s per read)")
        print(f"invocations:          {len(results)} ({len(sent)} self-invocations)")
        print(f"wall time:            {elapsed:.1f} s for the run; per invocation {min(per_invocation):.1f}-"
              f"{max(per_invocation):.1f} s (median {sorted(per_invocation)[len(per_invocation) // 2]:.1f} s)")
        print(f"acted on:             {acted_on} volumes ({sum(deletes.values())} DeleteVolume calls)")
        print(f"acted twice:          {acted_twice}")
        print(f"skipped:              {skipped} (volumes never deleted; {len(left)} left in moto)")
        print(f"summary counts:       {counts}, invocations {summary.get('invocations')}, "
              f"status {summary.get('status')}")
        print(f"state log (actual):   {actual}")
        print(f"notifications:        {len(published)} {published}")
        for name, ok in checks.items():
            print(f"check {name + ':':<50} {'ok' if ok else 'FAILED'}")
        return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
