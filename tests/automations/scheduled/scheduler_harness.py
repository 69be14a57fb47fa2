"""Helpers of the instance-scheduler tests: the schedules setting, EC2 instances on moto, runs of the handler
at an event time and what they recorded and sent."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import boto3

from automations.core.ledger import run_items
from automations.scheduled.instance_scheduler import handler
from tests.automations.conftest import REGION, Alerts, Clock, LambdaContext, scheduled_event
from tests.notifications import parse_message
from tests.recording import RecordingClients

SCHEDULES = {
    "office-hours": {"timezone": "Europe/Berlin", "periods": [{"days": "mon-fri", "start": "08:00", "stop": "18:00"}]},
    "nights-off": {"timezone": "UTC", "periods": [{"days": "mon-sun", "stop": "20:00"}]},
    "mornings": {"timezone": "UTC", "periods": [{"days": "mon-sun", "start": "07:00"}]},
}
# Wednesday 2026-12-02 in Berlin (CET, UTC+1)
OFFICE_TIME = "2026-12-02T10:00:00Z"  # 11:00: office hours
NIGHT_TIME = "2026-12-02T21:00:00Z"  # 22:00: outside


def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def rds() -> Any:
    return boto3.client("rds", region_name=REGION)


def autoscaling() -> Any:
    return boto3.client("autoscaling", region_name=REGION)


def image() -> str:
    return str(ec2().register_image(Name="base", RootDeviceName="/dev/sda1")["ImageId"])


def instances(n: int, schedule: str | None = "office-hours", *, stopped: bool = False, hibernation: bool = False,
              tags: Mapping[str, str] | None = None) -> list[str]:
    all_tags = {**({"caretaker:schedule": schedule} if schedule else {}), **(tags or {})}
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in all_tags.items()]}]
    made = ec2().run_instances(ImageId=image(), MinCount=n, MaxCount=n, InstanceType="t3.micro",
                               TagSpecifications=spec, HibernationOptions={"Configured": hibernation})
    ids = sorted(i["InstanceId"] for i in made["Instances"])
    if stopped:
        ec2().stop_instances(InstanceIds=ids)
    return ids


def state_of(instance_id: str) -> str:
    found = ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return str(found["State"]["Name"])


def run(at: str, context: LambdaContext, clock: Clock, clients: RecordingClients | None = None,
        schedules: Any = SCHEDULES, **env: str) -> dict[str, Any]:
    event = {**scheduled_event(), "time": at}
    environ = {**os.environ, "CARETAKER_SCHEDULES": schedules if isinstance(schedules, str) else json.dumps(schedules),
               **{f"CARETAKER_{k.upper()}": v for k, v in env.items()}}
    return handler.invoke(event, context, environ=environ, clients=clients or RecordingClients(), clock=clock)


def actions(table: str, run_id: str) -> list[dict[str, Any]]:
    return [i for i in run_items(boto3.client("dynamodb"), table, run_id) if i["type"] == "action"]


def outcomes(table: str, run_id: str) -> dict[tuple[str, str], str]:
    """(resource id, action) -> final outcome."""
    final: dict[tuple[str, str], str] = {}
    for item in sorted(actions(table, run_id), key=lambda i: i["sk"]):
        final[(item["resource_id"], item["action"])] = item["outcome"]
    return final


def notices(alerts: Alerts) -> list[tuple[str, dict[str, Any]]]:
    return [parse_message(m["Message"]) for m in alerts.messages()]
