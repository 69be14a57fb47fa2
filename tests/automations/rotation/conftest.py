"""Driving Secrets Manager rotation functions on moto.

moto's RotateSecret marks rotation enabled and labels a new, empty version AWSPENDING, then tries
to run the rotation function (which needs docker) and fails: `start_rotation` catches that failure
and returns the new version's token, and the tests call the four steps themselves, as Secrets
Manager would.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from automations.core.codec import deserialize
from automations.core.ledger import run_items
from automations.core.runtime import Entrypoint
from tests.automations.conftest import REGION, Alerts, Clock, LambdaContext
from tests.notifications import message_body
from tests.recording import RecordingClients

ACCOUNT = "123456789012"
ROTATION_LAMBDA = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:caretaker-rotation-under-test"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


def secrets() -> Any:
    return boto3.client("secretsmanager", region_name=REGION)


def iam() -> Any:
    return boto3.client("iam", region_name=REGION)


def start_rotation(secret_id: str) -> str:
    """Enable rotation (first call) or start the next one; the token of the new AWSPENDING version."""
    client = secrets()
    described = client.describe_secret(SecretId=secret_id)
    for version, stages in described.get("VersionIdsToStages", {}).items():
        if "AWSPENDING" in stages and "AWSCURRENT" in stages:
            # a finished rotation leaves AWSPENDING on the current version, which real Secrets Manager accepts
            # and moto 5.2.5 takes for a rotation in progress; drop the label as an operator could
            client.update_secret_version_stage(SecretId=secret_id, VersionStage="AWSPENDING",
                                               RemoveFromVersionId=version)
    with contextlib.suppress(client.exceptions.ResourceNotFoundException):  # moto cannot invoke the function;
        client.rotate_secret(SecretId=secret_id, RotationLambdaARN=ROTATION_LAMBDA,  # the version is staged anyway
                             RotationRules={"AutomaticallyAfterDays": 30})
    stages = client.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    (token,) = [v for v, s in stages.items() if s == ["AWSPENDING"]]
    return str(token)


def stages(secret_id: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = secrets().describe_secret(SecretId=secret_id)["VersionIdsToStages"]
    return found


def value(secret_id: str, stage: str = "AWSCURRENT") -> str:
    return str(secrets().get_secret_value(SecretId=secret_id, VersionStage=stage)["SecretString"])


@dataclass
class Rotator:
    """Invokes one rotation handler as Secrets Manager would, and reads back what the runs recorded."""

    handler: Entrypoint
    table: str
    alerts: Alerts
    clock: Clock
    context: LambdaContext
    clients: RecordingClients

    def step(self, secret_id: str, token: str, step: str, *, clients: RecordingClients | None = None,
             **env: str) -> dict[str, Any]:
        environ = {**os.environ, **{f"CARETAKER_{k.upper()}": v for k, v in env.items()}}
        event = {"SecretId": secret_id, "ClientRequestToken": token, "Step": step}
        self.clock.advance(seconds=1)  # runs then sort by time (see last_run)
        return self.handler.invoke(event, self.context, environ=environ, clients=clients or self.clients,
                                   clock=self.clock)

    def rotate(self, secret_id: str, token: str, **env: str) -> list[dict[str, Any]]:
        return [self.step(secret_id, token, step, clients=None, **env) for step in STEPS]

    def actions(self, run_id: str) -> list[dict[str, Any]]:
        return [i for i in run_items(boto3.client("dynamodb"), self.table, run_id) if i["type"] == "action"]

    def outcomes(self, run_id: str) -> list[tuple[str, str]]:
        return sorted((i["action"], i["outcome"]) for i in self.actions(run_id))

    def summary(self, run_id: str) -> dict[str, Any]:
        return next(i for i in run_items(boto3.client("dynamodb"), self.table, run_id) if i["type"] == "run")

    def last_run(self) -> dict[str, Any]:
        """The summary of the most recent run (also of one that raised)."""
        items = boto3.client("dynamodb").scan(TableName=self.table)["Items"]
        runs = [deserialize(i) for i in items if i["sk"]["S"] == "SUMMARY"]
        return max(runs, key=lambda r: (r["started_at"], r["run_id"]))

    def token_item(self, secret_arn: str, token: str) -> dict[str, Any] | None:
        item = boto3.client("dynamodb").get_item(TableName=self.table, Key={
            "pk": {"S": f"SECRET#{secret_arn}"}, "sk": {"S": f"TOKEN#{token}"}}).get("Item")
        return deserialize(item) if item else None

    def alert_bodies(self) -> list[tuple[str, dict[str, Any]]]:
        return [(m["Subject"], message_body(m["Message"])) for m in self.alerts.messages()]


@pytest.fixture
def make_rotator(state_table: str, alerts: Alerts, clock: Clock, lambda_context: LambdaContext) -> Any:
    def make(handler: Entrypoint) -> Rotator:
        return Rotator(handler, state_table, alerts, clock, lambda_context, RecordingClients())

    return make
