"""instance-scheduler at scale on in-process moto.

    python bench/instance_scheduler.py [--instances 2000] [--groups 0] [--databases 0]

Creates N running EC2 instances tagged `caretaker:schedule=office-hours` (Europe/Berlin, mon-fri 08:00-18:00),
then runs `instance-scheduler` twice in enforce mode: at 22:00 local (every instance to stop) and the next
morning at 08:00 local (every instance to start). Prints, per run: the wall time, the seconds and AWS calls per
instance, the calls by operation (StopInstances / StartInstances batch 50 instances each), and the state-log
writes per action. A third run at 10:00 (all as wanted) shows what a run costs when there is nothing to do.
The rate limiter is off (moto's raw speed; bench/throttle.py measures the limiter).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REGION = "us-east-1"
SCHEDULES = {"office-hours": {"timezone": "Europe/Berlin",
                              "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]}}
RUNS = (("stop at 22:00 local", "2026-12-02T21:00:00Z"), ("start at 08:00 local", "2026-12-03T07:00:00Z"),
        ("nothing to do at 10:00 local", "2026-12-03T09:00:00Z"))


class CountingClients:
    """`Clients` on a session whose API calls are counted, with the rate limiter off."""

    def __init__(self) -> None:
        import boto3

        from automations.core.aws import Clients
        from automations.core.throttle import RateLimiter

        self.session = boto3.session.Session(region_name=REGION)
        self.calls: Counter[tuple[str, str]] = Counter()
        self.session.events.register("before-parameter-build.*.*", self._call)
        self.clients = Clients(self.session, limiter=RateLimiter.unlimited())

    def _call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls[(model.service_model.service_name, model.name)] += 1

    def total(self, service: str | None = None) -> int:
        return sum(n for (s, _), n in self.calls.items() if service is None or s == service)


def setup(instances: int, groups: int, databases: int) -> tuple[str, str, float]:
    import boto3

    from tests.automations.conftest import create_state_table

    started = time.perf_counter()
    ec2 = boto3.client("ec2", region_name=REGION)
    image = ec2.register_image(Name="base", RootDeviceName="/dev/sda1")["ImageId"]
    for start in range(0, instances, 500):
        count = min(500, instances - start)
        ec2.run_instances(ImageId=image, MinCount=count, MaxCount=count, InstanceType="t3.micro",
                          TagSpecifications=[{"ResourceType": "instance",
                                              "Tags": [{"Key": "caretaker:schedule", "Value": "office-hours"}]}])
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    if groups:
        autoscaling.create_launch_configuration(LaunchConfigurationName="lc", ImageId=image, InstanceType="t3.micro")
    for n in range(groups):
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=f"group-{n}", LaunchConfigurationName="lc", MinSize=1, MaxSize=2,
            DesiredCapacity=1, AvailabilityZones=[f"{REGION}a"],
            Tags=[{"Key": "caretaker:schedule", "Value": "office-hours", "PropagateAtLaunch": False}])
    rds = boto3.client("rds", region_name=REGION)
    for n in range(databases):
        rds.create_db_instance(DBInstanceIdentifier=f"db-{n}", DBInstanceClass="db.t3.micro", Engine="postgres",
                               MasterUsername="admin", MasterUserPassword="password-123", AllocatedStorage=20,
                               Tags=[{"Key": "caretaker:schedule", "Value": "office-hours"}])
    table = create_state_table()
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="caretaker-alerts")["TopicArn"]
    return table, topic, time.perf_counter() - started


def run_once(table: str, topic: str, at: str) -> tuple[dict[str, Any], CountingClients, float]:
    from automations.scheduled.instance_scheduler import handler
    from tests.automations.conftest import LambdaContext, scheduled_event

    counting = CountingClients()
    environ = {**os.environ, "CARETAKER_STATE_TABLE": table, "CARETAKER_ALERT_TOPIC_ARN": topic,
               "CARETAKER_SCHEDULES": json.dumps(SCHEDULES)}
    started = time.perf_counter()
    result = handler.invoke({**scheduled_event(), "time": at}, LambdaContext(), environ=environ,
                            clients=counting.clients)
    return result, counting, time.perf_counter() - started


def bare_survey_seconds() -> float:
    """moto's own time for the survey's DescribeInstances, for scale (it dominates the wall time)."""
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    started = time.perf_counter()
    for _ in ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "tag-key", "Values": ["caretaker:schedule"]}], PaginationConfig={"PageSize": 1000}):
        pass
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=0)
    parser.add_argument("--databases", type=int, default=0)
    args = parser.parse_args(argv)
    import logging

    logging.disable(logging.INFO)  # the handler's JSON log lines would drown the figures
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
                      AWS_DEFAULT_REGION=REGION, MOTO_EC2_LOAD_DEFAULT_AMIS="false")
    for key in [k for k in os.environ if k.startswith("CARETAKER_") or k in ("AWS_ENDPOINT_URL", "AWS_PROFILE")]:
        del os.environ[key]
    from moto import mock_aws

    with mock_aws():
        table, topic, setup_s = setup(args.instances, args.groups, args.databases)
        scheduled = args.instances + args.groups + args.databases
        bare = bare_survey_seconds()
        print(f"instance-scheduler bench: {args.instances} instances, {args.groups} groups, {args.databases} "
              f"RDS instances on moto (setup {setup_s:.1f} s)")
        for title, at in RUNS:
            result, counting, seconds = run_once(table, topic, at)
            acted = result["stopped"] + result["started"]
            counts = result["counts"]
            print(f"\n== {title} ({at}): status {result['status']}, stopped {result['stopped']}, started "
                  f"{result['started']}, failed {counts['failed']}, {seconds:.2f} s")
            for (service, operation), n in sorted(counting.calls.items()):
                print(f"   {service:<12} {operation:<28} {n:>6}")
            print(f"   seconds per scheduled resource:   {seconds / max(scheduled, 1):.5f}  (a bare paginated "
                  f"DescribeInstances of them all takes {bare:.2f} s on moto)")
            print(f"   AWS calls per scheduled resource: {counting.total() / max(scheduled, 1):.4f}  "
                  f"(EC2 {counting.total('ec2') / max(scheduled, 1):.4f}, DynamoDB "
                  f"{counting.total('dynamodb') / max(scheduled, 1):.4f})")
            if acted:
                batches = counting.calls[("ec2", "StopInstances")] + counting.calls[("ec2", "StartInstances")]
                print(f"   EC2 stop/start calls per instance acted on: {batches / max(args.instances, 1):.4f}")
            print(f"   estimated saving: ${result['estimated_saving_usd']:,.2f} until the next start; "
                  f"monthly {result['estimated_monthly_saving_usd']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
