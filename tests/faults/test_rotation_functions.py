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
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest

from automations.core.errors import StateLogError
from automations.rotation.errors import RotationError
from tests.faults.conftest import Alerts, Clock, LambdaContext
from tests.faults.faults import (
    STATE_WRITES,
    FaultClients,
    Killed,
    Throttle,
    VirtualTime,
    unfinished,
)
from tests.faults.rotation_harness import (
    FUNCTIONS,
    Function,
    Invocation,
    Rotations,
)


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
