"""access-key-rotation under faults: opted-in users with keys past max_key_age_days (rotation), and users
not opted in with unused keys (deactivation). After any fault: every user keeps 1-2 keys with one active,
and a stored key is a live one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from automations.core.errors import StateLogError
from automations.scheduled import access_key_rotation
from tests.faults.conftest import REGION, Clock, LambdaContext, Scheduled
from tests.faults.faults import Killed, VirtualTime, acted_twice, uncovered_changes

ROTATING = [f"svc-{n}" for n in range(4)]
IDLE = [f"idle-{n}" for n in range(4)]
KEY_OPS = ("UpdateAccessKey", "DeleteAccessKey")


def _iam() -> Any:
    return boto3.client("iam", region_name=REGION)


@pytest.fixture
def world(state_table: str, alerts: Any, clock: Clock, lambda_context: LambdaContext,
          monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import moto.iam.models as iam_model

    monkeypatch.setattr(iam_model, "utcnow", lambda: clock.now.astimezone(UTC).replace(tzinfo=None))
    clock.now = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
    keys: dict[str, str] = {}
    for name in ROTATING + IDLE:
        tags = [{"Key": "caretaker:rotate", "Value": "true"}] if name in ROTATING else []
        _iam().create_user(UserName=name, Tags=tags)
        keys[name] = _iam().create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    clock.advance(days=100)
    return {"h": Scheduled(access_key_rotation.handler, state_table, clock, lambda_context), "keys": keys}


def held(name: str) -> dict[str, str]:
    return {k["AccessKeyId"]: k["Status"] for k in _iam().list_access_keys(UserName=name)["AccessKeyMetadata"]}


def stored(name: str) -> str | None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    try:
        value = sm.get_secret_value(SecretId=f"caretaker/access-keys/{name}")["SecretString"]
    except sm.exceptions.ResourceNotFoundException:
        return None
    return str(__import__("json").loads(value)["AccessKeyId"])


def assert_safe() -> None:
    """Opted-in users always keep a working key (idle users' unused keys are deactivated on purpose)."""
    for name in ROTATING:
        keys = held(name)
        assert 1 <= len(keys) <= 2 and "Active" in keys.values(), (name, keys)
        current = stored(name)
        assert current is None or keys.get(current) == "Active", (name, keys, current)


def assert_done(world: dict[str, Any]) -> None:
    """What a complete fault-free pass leaves: each opted-in user has its new key stored, each idle key is off."""
    for name in ROTATING:
        keys = held(name)
        assert len(keys) == 2 and stored(name) in keys and stored(name) != world["keys"][name], (name, keys)
    for name in IDLE:
        assert held(name) == {world["keys"][name]: "Inactive"}


def watched(world: dict[str, Any]) -> list[str]:
    return ROTATING + IDLE + list(world["keys"].values())


def test_access_denied_on_a_seeded_fraction_of_users(world: dict[str, Any]) -> None:
    h: Scheduled = world["h"]
    faulty = h.clients(seed=8)
    denied = faulty.deny(0.25, ROTATING + IDLE)

    result = h.invoke(faulty)

    assert uncovered_changes(faulty, watched(world)) == []
    assert_safe()
    failed = {r["details"]["user"] for r in h.records(faulty) if r.get("outcome") == "failed"}
    assert failed == denied and result["status"] == "partial"
    h.assert_counts_true(faulty, result)

    again = h.clients()
    result = h.invoke(again)
    assert result["status"] == "ok"
    assert_done(world)
    assert acted_twice(h.runs, world["keys"].values()) == {}


def test_a_throttling_storm(world: dict[str, Any], retry_time: VirtualTime) -> None:
    h: Scheduled = world["h"]
    faulty = h.clients(seed=9)
    storm = faulty.storm(fraction=0.8, max_throttled_attempts=3)

    result = h.invoke(faulty)

    assert storm.throttled >= 20 and retry_time.sleeps >= storm.throttled
    assert result["status"] == "ok", result
    assert_done(world)
    assert uncovered_changes(faulty, watched(world)) == []
    assert acted_twice([faulty], watched(world)) == {}
    h.assert_counts_true(faulty, result)


@pytest.mark.parametrize("writes", [0, 2, 7])
def test_the_state_table_failing_mid_run(world: dict[str, Any], writes: int) -> None:
    h: Scheduled = world["h"]
    faulty = h.clients()
    faulty.state_table_fails_after(writes)

    with pytest.raises(StateLogError):
        h.invoke(faulty)

    assert uncovered_changes(faulty, watched(world)) == []
    assert_safe()
    again = h.clients()
    result = h.invoke(again)
    assert result["status"] == "ok"
    assert_safe()
    assert_done(world)
    assert acted_twice(h.runs, world["keys"].values()) == {}
    h.assert_counts_true(again, result)


def test_sns_down(world: dict[str, Any]) -> None:
    h: Scheduled = world["h"]
    faulty = h.clients()
    faulty.sns_down()

    result = h.invoke(faulty)

    assert result["status"] == "ok"
    assert_done(world)
    assert h.summary(faulty)["notifications_failed"] == 1
    h.assert_counts_true(faulty, result)


@pytest.mark.parametrize(("service", "operation", "nth"), [
    ("iam", "CreateAccessKey", 2), ("secretsmanager", "CreateSecret", 3), ("iam", "UpdateAccessKey", 2)])
def test_killed_between_planned_and_the_call(world: dict[str, Any], service: str, operation: str, nth: int) -> None:
    h: Scheduled = world["h"]
    killed = h.clients()
    killed.kill_at(service, operation, nth)

    with pytest.raises(Killed):
        h.invoke(killed)

    assert uncovered_changes(killed, watched(world)) == []
    assert_safe()
    h.clock.advance(minutes=1)
    again = h.clients()
    result = h.invoke(again)
    assert result["status"] == "ok"
    assert_safe()
    assert_done(world)
    assert uncovered_changes(again, watched(world)) == []
    assert acted_twice(h.runs, world["keys"].values()) == {}
    h.assert_counts_true(again, result)
