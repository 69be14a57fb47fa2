"""The Secrets Manager rotation functions (`rotate-iam-access-key`, `rotate-password`) under faults.

Secrets Manager calls a rotation function once per step with the version's token; a step that fails
fails the rotation, and Secrets Manager calls that step again later with the same token. moto cannot
run the function (its RotateSecret only enables rotation and stages the AWSPENDING version), so the
tests call the steps as Secrets Manager would: each invocation gets its own `FaultClients`, except where
one Lambda container's clients see the state table go away across invocations.

The IAM flavour starts from what its previous rotation left (an inactive key and the active key in
AWSCURRENT), so one rotation makes every IAM change: `DeleteAccessKey` (room), `CreateAccessKey`,
`UpdateAccessKey` (deactivate the replaced key). After every invocation: AWSCURRENT holds a working
credential, no user holds more than two keys. After the retries: every rotation finished, nothing was
acted on twice, and no change call was made without a `planned` record the state table accepted.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import boto3
import pytest

from automations.core.errors import StateLogError
from automations.core.ledger import run_items
from automations.core.runtime import Entrypoint
from automations.core.settings import load_settings
from automations.rotation import iam_access_key, password
from automations.rotation.errors import RotationError
from automations.rotation.password import PasswordRules
from tests.automations.rotation.conftest import STEPS, stages, start_rotation, value
from tests.automations.rotation.conftest import iam as _iam
from tests.automations.rotation.conftest import secrets as _sm
from tests.faults.conftest import REGION, Alerts, Clock, LambdaContext
from tests.faults.faults import (
    STATE_WRITES,
    FaultClients,
    Killed,
    Throttle,
    VirtualTime,
    acted_twice,
    counts_of,
    summary_counts,
    uncovered_changes,
    unfinished,
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


@pytest.fixture(autouse=True)
def iam_follows_the_clock(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Key creation dates come from the test clock (createSecret compares them with its own clock)."""
    import moto.iam.models as iam_model

    monkeypatch.setattr(iam_model, "utcnow", lambda: clock.now.astimezone(UTC).replace(tzinfo=None))


@pytest.fixture(params=sorted(FUNCTIONS))
def function(request: pytest.FixtureRequest) -> Function:
    return FUNCTIONS[request.param]()


@pytest.fixture
def rotations(function: Function, state_table: str, alerts: Alerts, clock: Clock,
              lambda_context: LambdaContext) -> Rotations:
    return Rotations(function, state_table, clock, lambda_context)


def failed_records(rotations: Rotations, invocation: Invocation) -> list[dict[str, Any]]:
    return [r for r in rotations.records(invocation) if r.get("outcome") == "failed"]


# ---------------------------------------------------------------------- the faults


DENIALS = [
    ("iam-key", "iam", ()),  # the room-making DeleteAccessKey is refused first: nothing created
    ("iam-key", "iam", ("UpdateAccessKey",)),  # after the move: the replaced key stays active until the retry
    ("iam-key", "secretsmanager", ("PutSecretValue",)),  # the new key is deleted again (rollback)
    ("password", "secretsmanager", ("PutSecretValue",)),
    ("password", "secretsmanager", ("UpdateSecretVersionStage",)),
]


@pytest.mark.parametrize(("kind", "service", "operations"), DENIALS)
def test_access_denied_on_a_seeded_fraction_of_secrets(kind: str, service: str, operations: tuple[str, ...],
                                                       state_table: str, alerts: Alerts, clock: Clock,
                                                       lambda_context: LambdaContext) -> None:
    h = Rotations(FUNCTIONS[kind](), state_table, clock, lambda_context)
    secrets = h.secrets(3)
    pool = h.function.deny_pool(secrets, service)
    denied: set[str] = set()

    def denying() -> FaultClients:
        clients = FaultClients(seed=3)
        denied.update(clients.deny(1 / 3, pool, operations or h.function.acting[service]))
        return clients

    failed = h.rotate(secrets, denying)

    assert len(denied) == 1
    assert {s.arn for s in secrets if set(pool) & denied & {s.arn, s.user}} == set(failed)
    for invocation in failed.values():
        assert isinstance(invocation.error, RotationError)
        [record] = failed_records(h, invocation)
        assert record["reason"].startswith("AccessDenied")
        assert h.summary(invocation)["status"] == "failed"
    h.retry(secrets, failed)
    h.assert_invariants()


def test_a_throttling_storm(rotations: Rotations, retry_time: VirtualTime) -> None:
    secrets = rotations.secrets(1)
    storms: list[Throttle] = []

    def stormy() -> FaultClients:
        clients = FaultClients(seed=len(storms))
        storms.append(clients.storm(fraction=0.8, max_throttled_attempts=3,
                                    services=("dynamodb", "iam", "secretsmanager", "sns", "sts")))
        return clients

    assert rotations.rotate(secrets, stormy) == {}

    assert sum(s.throttled for s in storms) >= 20 and retry_time.sleeps >= sum(s.throttled for s in storms)
    for secret in secrets:
        rotations.function.assert_rotated(secret)
    rotations.assert_invariants()


@pytest.mark.parametrize("kind", sorted(FUNCTIONS))
def test_the_state_table_failing_mid_rotation(kind: str, state_table: str, alerts: Alerts, clock: Clock,
                                              lambda_context: LambdaContext) -> None:
    """One Lambda container's clients: the table accepts `writes` writes, then fails for every step after.
    Swept over every 4th write of a rotation (counted on a fault-free one first): 0, 4 (the IAM flavour's
    `new_key_id`, right after CreateAccessKey), 8, ..."""
    clean = Rotations(FUNCTIONS[kind](), state_table, clock, lambda_context)
    counting = FaultClients()
    assert clean.rotate(clean.secrets(1), lambda: counting) == {}
    total = sum(1 for c in counting.calls if c.service == "dynamodb" and c.operation in STATE_WRITES)
    for writes in range(0, total, 4):
        h = Rotations(FUNCTIONS[kind](), state_table, clock, lambda_context, made=clean.made)
        (secret,) = h.secrets(1)  # a new secret (and user) per point of failure
        container = FaultClients()
        container.state_table_fails_after(writes)

        failed = h.rotate([secret], itertools.repeat(container).__next__)

        assert set(failed) == {secret.arn}, writes
        assert isinstance(failed[secret.arn].error, StateLogError)
        gone = next(c.seq for c in container.calls if c.service == "dynamodb" and c.error)
        assert [c for c in container.changes() if c.seq > gone] == [], "a change call after the table went"
        h.retry([secret], failed)
        h.assert_invariants()


def test_a_failed_step_whose_alert_is_lost_is_recorded(rotations: Rotations, alerts: Alerts) -> None:
    """Both functions publish: the run alert of a failed step (and audit mode's notice). With SNS down the
    step still fails as it should and its summary says the alert was lost; a healthy rotation needs no SNS."""
    good, bad = rotations.secrets(2)

    def down() -> FaultClients:
        clients = FaultClients()
        clients.sns_down()
        clients.deny(1.0, [bad.arn], ("PutSecretValue",))
        return clients

    failed = rotations.rotate([good, bad], down)

    assert set(failed) == {bad.arn}
    rotations.function.assert_rotated(good)
    assert isinstance(failed[bad.arn].error, RotationError)
    summary = rotations.summary(failed[bad.arn])
    assert summary["status"] == "failed" and summary["notifications_failed"] == 1
    assert alerts.messages() == []
    rotations.retry([good, bad], failed)
    rotations.assert_invariants()


KILLS = [
    ("iam-key", "createSecret", "iam", "DeleteAccessKey", 1),
    ("iam-key", "createSecret", "iam", "CreateAccessKey", 1),
    ("iam-key", "createSecret", "secretsmanager", "PutSecretValue", 1),  # the new key's secret dies with it
    ("iam-key", "finishSecret", "secretsmanager", "UpdateSecretVersionStage", 1),
    ("iam-key", "finishSecret", "iam", "UpdateAccessKey", 1),
    ("password", "createSecret", "secretsmanager", "PutSecretValue", 1),
    ("password", "finishSecret", "secretsmanager", "UpdateSecretVersionStage", 1),
]


@pytest.mark.parametrize(("kind", "step", "service", "operation", "nth"), KILLS)
def test_killed_between_the_planned_record_and_the_call(kind: str, step: str, service: str, operation: str, nth: int,
                                                        state_table: str, alerts: Alerts, clock: Clock,
                                                        lambda_context: LambdaContext) -> None:
    h = Rotations(FUNCTIONS[kind](), state_table, clock, lambda_context)
    (secret,) = h.secrets(1)

    def killing() -> Iterator[FaultClients]:
        while True:
            clients = FaultClients()
            clients.kill_at(service, operation, nth)
            yield clients

    source = killing()
    failed = h.rotate([secret], lambda: next(source))

    killed = failed[secret.arn]
    assert (killed.step, type(killed.error)) == (step, Killed)
    assert h.summary(killed)["status"] == "running"
    [last] = [c for c in killed.clients.calls if c.operation == operation]
    target = {last.params.get("AccessKeyId") or last.params.get("UserName") or last.params["SecretId"]}
    assert target <= set(unfinished(h.records(killed))) <= h.watched()  # outcomes are buffered: earlier ones too
    h.retry([secret], failed)
    h.assert_invariants()
