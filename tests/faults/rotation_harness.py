"""Driving the Secrets Manager rotation functions under faults: the two functions (`rotate-iam-access-key`,
`rotate-password`) with their secrets, and `Rotations`, which calls their steps as Secrets Manager would.
The tests are in `test_rotation_functions.py`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3

from automations.core.errors import StateLogError
from automations.core.ledger import run_items
from automations.core.runtime import Entrypoint
from automations.core.settings import load_settings
from automations.rotation import iam_access_key, password
from automations.rotation.password import PasswordRules
from tests.automations.rotation.conftest import STEPS, stages, start_rotation, value
from tests.automations.rotation.conftest import iam as _iam
from tests.automations.rotation.conftest import secrets as _sm
from tests.faults.conftest import REGION, Clock, LambdaContext
from tests.faults.faults import (
    FaultClients,
    Killed,
    acted_twice,
    counts_of,
    summary_counts,
    uncovered_changes,
)

ACCOUNT = "123456789012"
KEY_COUNT = ("CreateAccessKey", "DeleteAccessKey")


@dataclass
class Secret:
    arn: str
    user: str | None  # the IAM flavour's user
    before: str  # AWSCURRENT's value before the rotation
    token: str = ""


# ---------------------------------------------------------------------- the two functions


class AccessKeyFunction:
    """rotate-iam-access-key: user `svc-<n>` holds an inactive key and the active key its secret holds."""

    name = iam_access_key.NAME
    handler: Entrypoint = iam_access_key.handler
    acting = {"iam": ("DeleteAccessKey", "CreateAccessKey", "UpdateAccessKey"),
              "secretsmanager": ("PutSecretValue", "UpdateSecretVersionStage")}

    def make(self, n: int) -> Secret:
        user, name = f"svc-{n}", f"caretaker/keys/svc-{n}"
        _iam().create_user(UserName=user, Tags=[{"Key": "caretaker:rotation-secret", "Value": name}])
        retired = _iam().create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        key = _iam().create_access_key(UserName=user)["AccessKey"]
        _iam().update_access_key(UserName=user, AccessKeyId=retired, Status="Inactive")
        content = json.dumps({"UserName": user, "AccessKeyId": key["AccessKeyId"],
                              "SecretAccessKey": key["SecretAccessKey"]})
        arn = _sm().create_secret(Name=name, SecretString=content)["ARN"]
        return Secret(str(arn), user, content)

    @staticmethod
    def keys(user: str) -> dict[str, tuple[str, str]]:
        """IAM's keys of the user: id -> (status, secret access key), as moto holds them."""
        from moto.iam.models import iam_backends

        held = iam_backends[ACCOUNT]["global"].get_user(user).access_keys
        return {k.access_key_id: (k.status, k.secret_access_key) for k in held}

    def assert_safe(self, secret: Secret) -> None:
        assert secret.user is not None
        keys = self.keys(secret.user)
        current = json.loads(value(secret.arn))
        assert len(keys) <= 2, keys
        assert keys.get(current["AccessKeyId"]) == ("Active", current["SecretAccessKey"]), "AWSCURRENT must work"

    def assert_rotated(self, secret: Secret) -> None:
        assert secret.user is not None
        old, new = json.loads(secret.before)["AccessKeyId"], json.loads(value(secret.arn))["AccessKeyId"]
        assert "AWSCURRENT" in stages(secret.arn)[secret.token]
        assert {k: s for k, (s, _) in self.keys(secret.user).items()} == {old: "Inactive", new: "Active"}
        assert json.loads(value(secret.arn, "AWSPREVIOUS"))["AccessKeyId"] == old

    @staticmethod
    def deny_pool(secrets: list[Secret], service: str) -> list[str]:
        return [s.user or "" for s in secrets] if service == "iam" else [s.arn for s in secrets]


class PasswordFunction:
    """rotate-password: a JSON secret `{"username", "password"}`."""

    name = password.NAME
    handler: Entrypoint = password.handler
    acting = {"secretsmanager": ("PutSecretValue", "UpdateSecretVersionStage")}
    rules = PasswordRules.from_settings(load_settings(password.SPEC, {}))

    def make(self, n: int) -> Secret:
        content = json.dumps({"username": f"app-{n}", "password": f"initial-password-{n}"})
        arn = _sm().create_secret(Name=f"caretaker/passwords/app-{n}", SecretString=content)["ARN"]
        return Secret(str(arn), None, content)

    def assert_safe(self, secret: Secret) -> None:
        current = value(secret.arn)
        assert current == secret.before or self.rules.problems(json.loads(current)["password"]) == []

    def assert_rotated(self, secret: Secret) -> None:
        assert "AWSCURRENT" in stages(secret.arn)[secret.token]
        assert value(secret.arn) != secret.before and value(secret.arn, "AWSPREVIOUS") == secret.before
        self.assert_safe(secret)

    @staticmethod
    def deny_pool(secrets: list[Secret], service: str) -> list[str]:
        return [s.arn for s in secrets]


Function = AccessKeyFunction | PasswordFunction
FUNCTIONS: dict[str, Callable[[], Function]] = {"iam-key": AccessKeyFunction, "password": PasswordFunction}


# ---------------------------------------------------------------------- driving the steps


@dataclass
class Invocation:
    secret: Secret
    step: str
    clients: FaultClients
    run_id: str | None
    result: dict[str, Any] | None
    error: BaseException | None


@dataclass
class Rotations:
    """Rotates secrets with one function as Secrets Manager would, and keeps every invocation."""

    function: Function
    table: str
    clock: Clock
    context: LambdaContext
    invocations: list[Invocation] = field(default_factory=list)
    made: list[Secret] = field(default_factory=list)

    def secrets(self, count: int) -> list[Secret]:
        made = [self.function.make(n) for n in range(len(self.made), len(self.made) + count)]
        self.made.extend(made)
        for secret in made:
            secret.token = start_rotation(secret.arn)
        return made

    def step(self, secret: Secret, step: str, clients: FaultClients) -> Invocation:
        """One invocation; what it raised is kept, not raised. AWSCURRENT must work after it."""
        event = {"SecretId": secret.arn, "ClientRequestToken": secret.token, "Step": step}
        start = len(clients.calls)
        self.clock.advance(seconds=1)
        result: dict[str, Any] | None = None
        error: BaseException | None = None
        try:
            result = self.function.handler.invoke(event, self.context, environ=dict(os.environ), clients=clients,
                                                  clock=self.clock)
        except (Exception, Killed) as exc:  # a failed step is an outcome here
            error = exc
        run_id = next((str(c.params["Item"]["pk"]["S"]).removeprefix("RUN#") for c in clients.calls[start:]
                       if c.service == "dynamodb" and c.operation == "PutItem" and c.succeeded
                       and c.params["Item"].get("sk", {}).get("S") == "SUMMARY"), None)
        invocation = Invocation(secret, step, clients, run_id, result, error)
        self.invocations.append(invocation)
        self.function.assert_safe(secret)
        return invocation

    def rotate(self, secrets: Iterable[Secret], clients: Callable[[], FaultClients],
               from_step: dict[str, str] | None = None) -> dict[str, Invocation]:
        """Each secret's steps in order (from `from_step[arn]`, default createSecret) until one fails, as
        Secrets Manager stops a rotation at a failed step; the failed invocation of each secret."""
        failed: dict[str, Invocation] = {}
        for secret in secrets:
            first = STEPS.index((from_step or {}).get(secret.arn, STEPS[0]))
            for step in STEPS[first:]:
                invocation = self.step(secret, step, clients())
                if invocation.error is not None:
                    failed[secret.arn] = invocation
                    break
        return failed

    def retry(self, secrets: list[Secret], failed: dict[str, Invocation]) -> None:
        """Secrets Manager calls the failed step again (same token), then the rest: all succeed."""
        self.clock.advance(minutes=5)
        again = self.rotate([s for s in secrets if s.arn in failed], FaultClients,
                            {arn: inv.step for arn, inv in failed.items()})
        assert again == {}, {arn: repr(inv.error) for arn, inv in again.items()}
        for secret in secrets:
            self.function.assert_rotated(secret)

    # ------------------------------------------------------------------ reading what happened

    def records(self, invocation: Invocation) -> list[dict[str, Any]]:
        assert invocation.run_id is not None
        return run_items(boto3.client("dynamodb", region_name=REGION), self.table, invocation.run_id)

    def summary(self, invocation: Invocation) -> dict[str, Any]:
        return next(i for i in self.records(invocation) if i["type"] == "run")

    def clients(self) -> list[FaultClients]:
        return list({id(i.clients): i.clients for i in self.invocations}.values())

    def watched(self) -> set[str]:
        """Secrets, users and every access key the calls named."""
        names = {i.secret.arn for i in self.invocations} | {i.secret.user for i in self.invocations if i.secret.user}
        keys = {str(c.params["AccessKeyId"]) for cl in self.clients() for c in cl.calls if "AccessKeyId" in c.params}
        return names | keys

    def assert_invariants(self) -> None:
        """No change without an accepted plan; nothing done twice; never three keys; true counts."""
        watched = self.watched()
        for clients in self.clients():
            assert uncovered_changes(clients, watched) == []
        # CreateAccessKey may repeat for a user (a key whose secret was lost is deleted and made again):
        # what must hold for it is the two-key bound below
        users = {i.secret.user for i in self.invocations}
        assert acted_twice(self.clients(), watched - users) == {}
        self.assert_never_three_keys()
        for invocation in self.invocations:
            if invocation.run_id is None:
                continue
            records, summary = self.records(invocation), self.summary(invocation)
            if summary["status"] == "running":  # stopped mid-run (killed, state table gone): nothing counted yet
                assert isinstance(invocation.error, (Killed, StateLogError)), invocation.error
                continue
            assert summary_counts(summary) == counts_of(records)
            if invocation.result is not None:
                assert dict(invocation.result["counts"]) == counts_of(records)
            assert summary["status"] == ("ok" if invocation.error is None else "failed")

    def assert_never_three_keys(self) -> None:
        """Replaying every successful CreateAccessKey/DeleteAccessKey in order: no user ever held three keys,
        and IAM never refused a key for the quota."""
        held = {i.secret.user: 2 for i in self.invocations if i.secret.user}
        for clients in self.clients():
            for call in clients.calls:
                assert "LimitExceeded" not in call.error
                if call.service == "iam" and call.succeeded and call.operation in KEY_COUNT:
                    user = str(call.params["UserName"])
                    held[user] += 1 if call.operation == "CreateAccessKey" else -1
                    assert held[user] <= 2, f"{user} held {held[user]} keys"
