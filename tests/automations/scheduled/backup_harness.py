"""Shared helpers of the backup-family tests: moto's RDS and DynamoDB clocks, resources, invoking a handler."""

from __future__ import annotations

import os
from typing import Any

import boto3

from automations.core.ledger import run_items
from automations.core.runtime import Entrypoint
from tests.automations.conftest import REGION, Clock, LambdaContext, scheduled_event
from tests.recording import RecordingClients

BACKUP = {"caretaker:backup": "true"}
OTHER_REGION = "us-west-2"


def tags(mapping: dict[str, str]) -> list[Any]:  # Any: each service stubs its own tag TypedDict
    return [{"Key": k, "Value": v} for k, v in mapping.items()]


def tag_dict(raw: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw or []}


def rds(region: str = REGION) -> Any:
    return boto3.client("rds", region_name=region)


def kms_key(region: str = REGION) -> str:
    return str(boto3.client("kms", region_name=region).create_key()["KeyMetadata"]["Arn"])


def db_instance(name: str, tag_map: dict[str, str] | None = None, *, encrypted_with: str | None = None) -> str:
    extra: dict[str, Any] = {"StorageEncrypted": True, "KmsKeyId": encrypted_with} if encrypted_with else {}
    return str(rds().create_db_instance(
        DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine="postgres", MasterUsername="admin",
        MasterUserPassword="password123", AllocatedStorage=20, Tags=tags(tag_map or {}), **extra,
    )["DBInstance"]["DBInstanceArn"])


def db_cluster(name: str, tag_map: dict[str, str] | None = None) -> str:
    return str(rds().create_db_cluster(
        DBClusterIdentifier=name, Engine="aurora-postgresql", MasterUsername="admin",
        MasterUserPassword="password123", Tags=tags(tag_map or {}))["DBCluster"]["DBClusterArn"])


def table(name: str, tag_map: dict[str, str] | None = None, region: str = REGION) -> str:
    client = boto3.client("dynamodb", region_name=region)
    return str(client.create_table(
        TableName=name, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        Tags=tags(tag_map or {}))["TableDescription"]["TableArn"])


def invoke(handler: Entrypoint, clock: Clock, context: LambdaContext, clients: RecordingClients | None = None,
           **settings: str) -> dict[str, Any]:
    environ = {**os.environ, **{f"CARETAKER_{k.upper()}": v for k, v in settings.items()}}
    return handler.invoke(scheduled_event(), context, environ=environ, clients=clients or RecordingClients(),
                          clock=clock)


def actions(state_table: str, run_id: str) -> list[dict[str, Any]]:
    return [i for i in run_items(boto3.client("dynamodb"), state_table, run_id) if i["type"] == "action"]


def outcomes(state_table: str, run_id: str, action: str | None = None) -> dict[str, list[str]]:
    """resource id -> the outcomes recorded for it in the run, sorted (optionally of one action)."""
    found: dict[str, list[str]] = {}
    for item in actions(state_table, run_id):
        if action is None or item["action"] == action:
            found.setdefault(item["resource_id"], []).append(item["outcome"])
    return {k: sorted(v) for k, v in found.items()}


def summary(state_table: str, run_id: str) -> dict[str, Any]:
    return next(i for i in run_items(boto3.client("dynamodb"), state_table, run_id) if i["type"] == "run")

