"""Rotation function for generated passwords: formats, rules, idempotency, a failing test, settings."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest

from automations.core.errors import SettingsError
from automations.rotation.errors import RotationRefused, RotationTestFailed
from automations.rotation.password import handler
from tests.automations.rotation.conftest import STEPS, Rotator, secrets, stages, start_rotation, value
from tests.declared_calls import Guard

SECRET = "caretaker/app/db-password"


@pytest.fixture
def rotator(make_rotator: Any) -> Rotator:
    rotator: Rotator = make_rotator(handler)
    return rotator


def secret(content: str) -> str:
    return str(secrets().create_secret(Name=SECRET, SecretString=content)["ARN"])


def test_a_plain_password_is_replaced_by_one_that_follows_the_rules(rotator: Rotator, declared_calls: Guard) -> None:
    arn = secret("old-password")
    token = start_rotation(arn)

    runs = rotator.rotate(arn, token)

    new = value(SECRET)
    assert value(SECRET, "AWSPREVIOUS") == "old-password"
    assert len(new) == 32 and new != "old-password"
    for alphabet in (string.ascii_lowercase, string.ascii_uppercase, string.digits):
        assert set(new) & set(alphabet)
    assert not set(new) & set("\"'`\\/@")
    assert [rotator.outcomes(r["run_id"]) for r in runs] == [
        [("stage-pending", "planned"), ("stage-pending", "succeeded")],
        [("set-secret", "skipped")],
        [("test-secret", "planned"), ("test-secret", "succeeded")],
        [("move-current-stage", "planned"), ("move-current-stage", "succeeded")]]
    assert new not in json.dumps([rotator.actions(r["run_id"]) for r in runs])
    assert declared_calls.undeclared() == {}


def test_a_json_secret_keeps_its_other_fields(rotator: Rotator) -> None:
    arn = secret(json.dumps({"username": "app", "password": "old", "host": "db.internal"}))
    rotator.rotate(arn, start_rotation(arn))
    current = json.loads(value(SECRET))
    assert (current["username"], current["host"]) == ("app", "db.internal")
    assert current["password"] != "old" and len(current["password"]) == 32


def test_settings_shape_the_password(rotator: Rotator) -> None:
    arn = secret(json.dumps({"pin": "0000"}))
    rotator.rotate(arn, start_rotation(arn), password_length="12", character_classes="digits",
                   exclude_characters="0123", json_key="pin")
    pin = json.loads(value(SECRET))["pin"]
    assert len(pin) == 12 and set(pin) <= set("456789")


def test_every_step_called_twice_is_idempotent(rotator: Rotator) -> None:
    arn = secret("old-password")
    token = start_rotation(arn)
    staged: list[str] = []
    for step in STEPS:
        for _ in range(2):
            assert rotator.step(arn, token, step)["status"] == "ok"
        if step == "createSecret":
            staged.append(value(SECRET, "AWSPENDING"))
    assert value(SECRET) == staged[0]  # the retried createSecret did not generate another password
    assert stages(arn)[token] == ["AWSPENDING", "AWSCURRENT"]
    assert value(SECRET, "AWSPREVIOUS") == "old-password"


def test_a_malformed_staged_value_fails_the_test_and_current_stays(rotator: Rotator) -> None:
    arn = secret(json.dumps({"password": "old"}))
    token = start_rotation(arn)
    secrets().put_secret_value(SecretId=arn, ClientRequestToken=token, VersionStages=["AWSPENDING"],
                               SecretString=json.dumps({"password": "short", "extra": 1}))
    with pytest.raises(RotationTestFailed, match="JSON fields differ"):
        rotator.step(arn, token, "testSecret")
    assert json.loads(value(SECRET)) == {"password": "old"}
    run = rotator.last_run()
    assert run["status"] == "failed"
    [failed] = [a for a in rotator.actions(run["run_id"]) if a["outcome"] == "failed"]
    assert failed["action"] == "test-secret" and "short" not in failed["reason"]
    [(subject, body)] = rotator.alert_bodies()
    assert "failed" in subject and "JSON fields differ" in body["error"]


def test_a_test_with_nothing_staged_fails_and_current_stays(rotator: Rotator) -> None:
    arn = secret("old-password")
    token = start_rotation(arn)  # a pending version without a value: createSecret never ran
    with pytest.raises(RotationTestFailed, match="createSecret did not complete"):
        rotator.step(arn, token, "testSecret")
    assert value(SECRET) == "old-password" and stages(arn)[token] == ["AWSPENDING"]
    run_id = rotator.last_run()["run_id"]
    assert sorted(rotator.outcomes(run_id)) == [("test-secret", "failed"), ("test-secret", "planned")]
    [failed] = [a for a in rotator.actions(run_id) if a["outcome"] == "failed"]
    assert failed["reason"] == "this version holds no value: createSecret did not complete"


def test_a_password_breaking_the_rules_fails_the_test(rotator: Rotator) -> None:
    arn = secret("old-password")
    token = start_rotation(arn)
    secrets().put_secret_value(SecretId=arn, ClientRequestToken=token, VersionStages=["AWSPENDING"],
                               SecretString="all-lowercase/and-too-short")
    with pytest.raises(RotationTestFailed) as failure:
        rotator.step(arn, token, "testSecret")
    message = str(failure.value)
    assert "length 27, expected 32" in message and "no character of uppercase, digits" in message
    assert "outside the allowed classes or excluded" in message and "too-short" not in message
    assert value(SECRET) == "old-password"


def test_a_json_secret_without_the_password_field_is_refused(rotator: Rotator) -> None:
    arn = secret(json.dumps({"username": "app"}))
    token = start_rotation(arn)
    with pytest.raises(RotationRefused, match="without a string field 'password'"):
        rotator.step(arn, token, "createSecret")
    assert stages(arn)[token] == ["AWSPENDING"]


def test_settings_that_cannot_make_a_password_fail_before_anything_is_done(rotator: Rotator) -> None:
    arn = secret("old-password")
    token = start_rotation(arn)
    with pytest.raises(SettingsError, match="CARETAKER_EXCLUDE_CHARACTERS must be characters that leave something "
                                            "of each class"):
        rotator.step(arn, token, "createSecret", character_classes="digits,lowercase", exclude_characters="0123456789")
    with pytest.raises(SettingsError, match="CARETAKER_CHARACTER_CLASSES must be one of"):
        rotator.step(arn, token, "createSecret", character_classes="digits,emoji")
    assert value(SECRET) == "old-password" and stages(arn)[token] == ["AWSPENDING"]


def test_audit_mode_leaves_the_secret_as_it_is(rotator: Rotator) -> None:
    arn = secret("old-password")
    token = start_rotation(arn)
    runs = rotator.rotate(arn, token, mode="audit")
    assert value(SECRET) == "old-password" and stages(arn)[token] == ["AWSPENDING"]
    assert [rotator.outcomes(r["run_id"]) for r in runs] == [
        [("stage-pending", "planned")], [("set-secret", "skipped")], [("test-secret", "skipped")],
        [("move-current-stage", "planned")]]
    assert all(a["dry_run"] for r in runs for a in rotator.actions(r["run_id"]))


def test_extra_event_fields_are_ignored(rotator: Rotator) -> None:
    arn = secret("old-password")
    token = start_rotation(arn)
    event = {"SecretId": arn, "ClientRequestToken": token, "Step": "createSecret", "RotationToken": "opaque"}
    result = handler.invoke(event, rotator.context, clients=rotator.clients, clock=rotator.clock)
    assert result["status"] == "ok" and len(value(SECRET, "AWSPENDING")) == 32
