"""A cleanup run over many resources that needs several invocations, on in-process moto.

    python bench/continuation_scale.py [--volumes 20000] [--items-per-invocation 2500] [--max-concurrency 8]

Creates N unattached volumes, 100 days old, and runs `cleanup-ebs-volumes` in enforce mode
(grace_days=0, no final snapshot). The Lambda context's remaining time drops by one second at every
read, so a run checkpoints after about `--items-per-invocation` resources (the act phase reads it once
per batch of 25 x max_concurrency and once per chunk of 25). moto cannot run Lambda code: the
function's `lambda.Invoke` is answered by a botocore hook and the bench calls the handler with the
payload it sent, until the run finishes. Prints invocations, resources, time, and the acted-once check
(one `planned` + one `succeeded` record per volume in the state log, every volume gone).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REGION = "us-east-1"


class Context:
    """A Lambda context whose remaining time drops by `step_ms` at every read."""

    def __init__(self, remaining_ms: int, step_ms: int) -> None:
        self.remaining_ms = remaining_ms
        self.step_ms = step_ms
        self.aws_request_id = "bench"
        self.function_name = "caretaker-cleanup-ebs-volumes"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        self.remaining_ms -= self.step_ms
        return self.remaining_ms


class _Accepted:
    status_code = 202
    headers: dict[str, str] = {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=20_000)
    parser.add_argument("--items-per-invocation", type=int, default=2_500)
    parser.add_argument("--max-concurrency", type=int, default=8)
    args = parser.parse_args()
    for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": REGION, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}.items():
        os.environ[key] = value
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(key, None)

    import boto3
    import moto.ec2.models.elastic_block_store as ebs_model
    from moto import mock_aws

    from automations.core.aws import Clients
    from automations.core.spec import CONTINUATION_MARGIN
    from automations.core.state_log import run_items
    from automations.core.throttle import RateLimiter
    from automations.scheduled.cleanup_volumes import handler
    from tests.automations.conftest import create_state_table, scheduled_event

    with mock_aws():
        now = datetime.now(UTC)
        ebs_model.utcnow = lambda: (now - timedelta(days=100)).replace(tzinfo=None)
        ec2 = boto3.client("ec2", region_name=REGION)
        started = time.perf_counter()
        for _ in range(args.volumes):
            ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)
        ebs_model.utcnow = lambda: datetime.now(UTC).replace(tzinfo=None)
        seeded = time.perf_counter() - started
        table = create_state_table()
        environ = {**os.environ, "CARETAKER_STATE_TABLE": table, "CARETAKER_MODE": "enforce",
                   "CARETAKER_GRACE_DAYS": "0", "CARETAKER_FINAL_SNAPSHOT": "false",
                   "CARETAKER_MAX_CONCURRENCY": str(args.max_concurrency)}
        margin_ms = int(CONTINUATION_MARGIN.default) * 1000
        batch = 25 * args.max_concurrency
        reads = max(1, args.items_per_invocation // batch) * 2  # one per batch, one per chunk of 25 (roughly)
        sent: list[dict[str, Any]] = []

        def answer(params: Any, **_: Any) -> tuple[Any, dict[str, Any]]:
            sent.append({"FunctionName": unquote(params["url_path"].split("/")[3]),
                         "InvocationType": params["headers"].get("X-Amz-Invocation-Type"),
                         "Payload": json.loads(params["body"])})
            return _Accepted(), {"StatusCode": 202}

        events: list[dict[str, Any]] = [scheduled_event()]
        results: list[dict[str, Any]] = []
        per_invocation: list[float] = []
        started = time.perf_counter()
        while events:
            session = boto3.session.Session(region_name=REGION)
            session.events.register("before-call.lambda.Invoke", answer)
            before = len(sent)
            t0 = time.perf_counter()
            results.append(handler.invoke(events.pop(0), Context(margin_ms + reads * 1000, 1000), environ=environ,
                                          clients=Clients(session, limiter=RateLimiter.unlimited())))
            per_invocation.append(time.perf_counter() - t0)
            events.extend(s["Payload"] for s in sent[before:])
        elapsed = time.perf_counter() - started

        run_id = results[0]["run_id"]
        records = [i for i in run_items(boto3.client("dynamodb", region_name=REGION), table, run_id)]
        summary = next(i for i in records if i["type"] == "run")
        per = Counter((i["resource_id"], i["outcome"]) for i in records if i["type"] == "action")
        left = sum(len(p["Volumes"]) for p in ec2.get_paginator("describe_volumes").paginate())
        acted_once = (all(per[(r, "planned")] == 1 and per[(r, "succeeded")] == 1 for r, _ in per)
                      and len({r for r, _ in per}) == args.volumes and left == 0)
        print(f"volumes seeded:        {args.volumes} in {seeded:.1f} s")
        print(f"invocations:           {len(results)} (self-invocations {len(sent)}, "
              f"payloads {sorted({json.dumps(s['Payload']) for s in sent})[:1]})")
        print(f"resources acted on:    {summary.get('succeeded')} succeeded, {summary.get('failed')} failed, "
              f"{summary.get('planned')} planned; status {summary.get('status')}, "
              f"summary invocations {summary.get('invocations')}")
        print(f"time:                  {elapsed:.1f} s for the run, per invocation "
              f"{min(per_invocation):.1f}-{max(per_invocation):.1f} s")
        print(f"acted-once check:      {'ok' if acted_once else 'FAILED'} (volumes left {left})")
        return 0 if acted_once else 1


if __name__ == "__main__":
    raise SystemExit(main())
