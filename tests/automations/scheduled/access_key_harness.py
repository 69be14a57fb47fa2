"""Helpers of the access-key-rotation tests (their fixtures are in conftest.py): users and keys on moto IAM,
the stored secret, runs of the handler and their state-log records, and the invariants checked after any run."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3

from automations.core.ledger import run_items
from automations.scheduled.access_key_rotation import handler
from tests.automations.conftest import REGION, Clock, LambdaContext, scheduled_event
from tests.recording import RecordingClients

ACCOUNT = "123456789012"
OPT_IN = {"caretaker:rotate": "true"}


# ---------------------------------------------------------------------- helpers


def iam() -> Any:
    return boto3.client("iam", region_name=REGION)


def secrets() -> Any:
    return boto3.client("secretsmanager", region_name=REGION)


def user(name: str, tags: Mapping[str, str] | None = None, path: str = "/") -> str:
    iam().create_user(UserName=name, Path=path, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
    return name


def new_key(name: str, active: bool = True) -> str:
    key_id = str(iam().create_access_key(UserName=name)["AccessKey"]["AccessKeyId"])
    if not active:
        iam().update_access_key(UserName=name, AccessKeyId=key_id, Status="Inactive")
    return key_id


def keys(name: str) -> dict[str, str]:
    """key id -> Active/Inactive"""
    return {k["AccessKeyId"]: k["Status"] for k in iam().list_access_keys(UserName=name)["AccessKeyMetadata"]}


def mark_used(key_id: str, at: datetime) -> None:
    """Set a key's last use in moto's backend (test only: moto stamps it only for requests it signs)."""
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    key = iam_backends[ACCOUNT]["aws"].access_keys[key_id]
    key.last_used = AccessKeyLastUsed(at.astimezone(UTC).replace(tzinfo=None), "s3", REGION)


def secret_stages(name: str) -> dict[str, list[str]]:
    stages: dict[str, list[str]] = secrets().describe_secret(SecretId=f"caretaker/access-keys/{name}")[
        "VersionIdsToStages"]
    return stages


def stored_key(name: str, stage: str = "AWSCURRENT") -> str:
    value = json.loads(secrets().get_secret_value(SecretId=f"caretaker/access-keys/{name}",
                                                  VersionStage=stage)["SecretString"])
    assert set(value) == {"AccessKeyId", "SecretAccessKey"} and len(value["SecretAccessKey"]) == 40
    return str(value["AccessKeyId"])


_SHARED: list[RecordingClients] = []


def forget_shared_clients() -> None:
    _SHARED.clear()


def shared_clients() -> RecordingClients:
    """One set of clients for every fault-free run of a test (creating clients is the slow part)."""
    if not _SHARED:
        _SHARED.append(RecordingClients())
    return _SHARED[0]


def run(clock: Clock, context: LambdaContext, clients: RecordingClients | None = None, mode: str = "enforce",
        **env: str) -> dict[str, Any]:
    environ = {**os.environ, "CARETAKER_MODE": mode, **{f"CARETAKER_{k.upper()}": v for k, v in env.items()}}
    return handler.invoke(scheduled_event(), context, environ=environ, clients=clients or shared_clients(),
                          clock=clock)


def actions(table: str, run_id: str) -> list[dict[str, Any]]:
    return [i for i in run_items(boto3.client("dynamodb"), table, run_id) if i["type"] == "action"]


def outcomes(table: str, run_id: str) -> list[tuple[str, str, str]]:
    """(action, resource, outcome) of a run's records, planned ones included, sorted (records written at
    the same instant of the test clock have no order among themselves)."""
    return sorted((i["action"], i["resource_id"], i["outcome"]) for i in actions(table, run_id))


def summary(table: str, run_id: str) -> dict[str, Any]:
    return next(i for i in run_items(boto3.client("dynamodb"), table, run_id) if i["type"] == "run")


def state(table: str, name: str) -> dict[str, Any] | None:
    from automations.core.codec import deserialize

    item = boto3.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": "ROTATION#access-keys"}, "sk": {"S": f"USER#{name}"}}).get("Item")
    return deserialize(item) if item else None


def assert_safe(name: str) -> None:
    """The invariants after any run: at most two keys, at least one active, and a stored key is a live one."""
    held = keys(name)
    assert 1 <= len(held) <= 2, held
    assert "Active" in held.values(), held
    try:
        current = stored_key(name)
    except secrets().exceptions.ResourceNotFoundException:
        return
    assert current in held


def phase_write(phase: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda body: (body.get("Item", {}).get("pk", {}).get("S") == "ROTATION#access-keys"
                         and body.get("Item", {}).get("phase", {}).get("S") == phase)
