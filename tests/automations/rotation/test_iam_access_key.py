"""Rotation function for IAM access keys: the four steps, retries, failures, refusals and audit mode."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automations.core.errors import EventError, StateLogError
from automations.rotation import iam_access_key
from automations.rotation.errors import RotationError, RotationRefused, RotationTestFailed
from automations.rotation.iam_access_key import handler
from tests.automations.rotation.conftest import STEPS, Rotator, iam, secrets, stages, start_rotation, value
from tests.declared_calls import Guard
from tests.recording import RecordingClients

SECRET = "caretaker/app/deployer-key"


@pytest.fixture
def rotator(make_rotator: Any) -> Rotator:
    rotator: Rotator = make_rotator(handler)
    return rotator


def deployer(tags: dict[str, str] | None = None, *, in_json: bool = True) -> tuple[str, str]:
    """The user `deployer` with one key, its secret holding that key; (secret ARN, key id)."""
    all_tags = {"caretaker:rotation-secret": SECRET, **(tags or {})}
    iam().create_user(UserName="deployer", Tags=[{"Key": k, "Value": v} for k, v in all_tags.items()])
    key = iam().create_access_key(UserName="deployer")["AccessKey"]
    content = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"], "Region": "eu-west-1"}
    if in_json:
        content["UserName"] = "deployer"
    arn = secrets().create_secret(Name=SECRET, SecretString=json.dumps(content),
                                  Tags=[] if in_json else [{"Key": "caretaker:iam-user", "Value": "deployer"}])["ARN"]
    return str(arn), str(key["AccessKeyId"])


def keys() -> dict[str, str]:
    return {k["AccessKeyId"]: k["Status"] for k in iam().list_access_keys(UserName="deployer")["AccessKeyMetadata"]}


def key_in(stage: str) -> str:
    return str(json.loads(value(SECRET, stage))["AccessKeyId"])


# ---------------------------------------------------------------------- the protocol


def test_a_rotation_stages_tests_and_promotes_a_new_key_and_deactivates_the_old(rotator: Rotator) -> None:
    arn, old = deployer()
    token = start_rotation(arn)

    created, was_set, tested, finished = rotator.rotate(arn, token)

    new = key_in("AWSCURRENT")
    assert new != old and keys() == {old: "Inactive", new: "Active"}
    assert key_in("AWSPREVIOUS") == old
    assert stages(arn)[token] == ["AWSPENDING", "AWSCURRENT"]
    current = json.loads(value(SECRET))
    assert current["UserName"] == "deployer" and current["Region"] == "eu-west-1"  # other fields kept
    assert rotator.outcomes(created["run_id"]) == [
        ("create-access-key", "planned"), ("create-access-key", "succeeded"),
        ("stage-pending", "planned"), ("stage-pending", "succeeded")]
    assert rotator.outcomes(was_set["run_id"]) == [("set-secret", "skipped")]
    assert rotator.outcomes(tested["run_id"]) == [("test-secret", "planned"), ("test-secret", "succeeded")]
    assert rotator.outcomes(finished["run_id"]) == [
        ("deactivate-access-key", "planned"), ("deactivate-access-key", "succeeded"),
        ("move-current-stage", "planned"), ("move-current-stage", "succeeded")]
    assert all(r["status"] == "ok" and r["mode"] == "enforce" for r in (created, was_set, tested, finished))
    item = rotator.token_item(arn, token)
    assert item is not None and item["new_key_id"] == new and item["user"] == "deployer"
    assert {f"{s}_at" for s in STEPS} <= set(item)
    records = json.dumps([rotator.actions(r["run_id"]) for r in (created, was_set, tested, finished)])
    assert json.loads(value(SECRET))["SecretAccessKey"] not in records  # secret values never reach the log


def test_the_next_rotation_deletes_the_deactivated_key_to_make_room(rotator: Rotator, declared_calls: Guard) -> None:
    arn, first = deployer(in_json=False)  # the user named by the secret's tag this time
    rotator.rotate(arn, start_rotation(arn))
    second = key_in("AWSCURRENT")

    token = start_rotation(arn)
    created = rotator.step(arn, token, "createSecret")

    assert first not in keys()
    assert ("delete-access-key", "succeeded") in rotator.outcomes(created["run_id"])
    for step in STEPS[1:]:
        rotator.step(arn, token, step)
    third = key_in("AWSCURRENT")
    assert keys() == {second: "Inactive", third: "Active"}
    assert key_in("AWSPREVIOUS") == second
    # every AWS call the two rotations made is declared in the function's permissions
    assert declared_calls.undeclared() == {}


def test_every_step_called_twice_is_idempotent(rotator: Rotator) -> None:
    arn, old = deployer()
    token = start_rotation(arn)
    clients = RecordingClients()
    for step in STEPS:
        first = rotator.step(arn, token, step, clients=clients)
        again = rotator.step(arn, token, step, clients=clients)
        assert first["status"] == again["status"] == "ok"
    new = key_in("AWSCURRENT")
    assert clients.count("iam")["CreateAccessKey"] == 1
    assert clients.count("secretsmanager")["PutSecretValue"] == 1
    assert clients.count("secretsmanager")["UpdateSecretVersionStage"] == 1
    assert clients.count("iam")["UpdateAccessKey"] == 1
    assert keys() == {old: "Inactive", new: "Active"}
    assert stages(arn)[token] == ["AWSPENDING", "AWSCURRENT"]


def test_a_retried_finish_completes_the_deactivation(rotator: Rotator) -> None:
    arn, old = deployer()
    token = start_rotation(arn)
    for step in STEPS[:3]:
        rotator.step(arn, token, step)
    faulty = RecordingClients()
    faulty.fail("iam", "UpdateAccessKey", code="ServiceFailure")
    with pytest.raises(RotationError, match="could not be deactivated"):
        rotator.step(arn, token, "finishSecret", clients=faulty)
    assert key_in("AWSCURRENT") != old and keys()[old] == "Active"  # promoted, old key not yet deactivated

    again = rotator.step(arn, token, "finishSecret")

    assert again["already_current"] is True and keys()[old] == "Inactive"


def test_a_key_created_by_a_crashed_create_is_replaced_not_kept(rotator: Rotator) -> None:
    arn, old = deployer()
    token = start_rotation(arn)
    crashing = RecordingClients()
    crashing.fail("dynamodb", "UpdateItem", code="InternalServerError",
                  times=1, when=lambda body: "new_key_id" in json.dumps(body))
    with pytest.raises(StateLogError):
        rotator.step(arn, token, "createSecret", clients=crashing)
    assert len(keys()) == 2  # the key exists, its secret is lost: nobody can use it

    for step in STEPS:
        rotator.step(arn, token, step)

    new = key_in("AWSCURRENT")
    assert keys() == {old: "Inactive", new: "Active"}


def test_a_key_that_cannot_be_staged_is_deleted_again(rotator: Rotator) -> None:
    arn, old = deployer()
    token = start_rotation(arn)
    faulty = RecordingClients()
    faulty.fail("secretsmanager", "PutSecretValue", code="InternalServiceError")
    with pytest.raises(RotationError, match="could not be staged"):
        rotator.step(arn, token, "createSecret", clients=faulty)
    assert keys() == {old: "Active"}
    assert rotator.outcomes(rotator.last_run()["run_id"]) == [
        ("create-access-key", "planned"), ("create-access-key", "succeeded"),
        ("delete-access-key", "planned"), ("delete-access-key", "succeeded"),
        ("stage-pending", "failed"), ("stage-pending", "planned")]


# ---------------------------------------------------------------------- testSecret failing


def test_a_deactivated_pending_key_fails_the_test_and_current_stays(rotator: Rotator) -> None:
    arn, old = deployer()
    token = start_rotation(arn)
    rotator.step(arn, token, "createSecret")
    pending = key_in("AWSPENDING")
    iam().update_access_key(UserName="deployer", AccessKeyId=pending, Status="Inactive")

    with pytest.raises(RotationTestFailed, match=f"key {pending} is inactive"):
        rotator.step(arn, token, "testSecret")

    assert key_in("AWSCURRENT") == old and keys()[old] == "Active"
    run = rotator.last_run()
    assert run["status"] == "failed" and "inactive" in run["error"]
    assert rotator.outcomes(run["run_id"]) == [("test-secret", "failed"), ("test-secret", "planned")]
    [(subject, body)] = rotator.alert_bodies()
    assert "failed" in subject and pending in body["error"]


def test_a_test_with_nothing_staged_fails_and_keys_stay(rotator: Rotator) -> None:
    arn, old = deployer()
    token = start_rotation(arn)  # a pending version without a value: createSecret never ran
    with pytest.raises(RotationTestFailed, match="createSecret did not complete"):
        rotator.step(arn, token, "testSecret")
    assert keys() == {old: "Active"} and key_in("AWSCURRENT") == old
    run_id = rotator.last_run()["run_id"]
    assert sorted(rotator.outcomes(run_id)) == [("test-secret", "failed"), ("test-secret", "planned")]


def test_sts_refusing_the_pending_key_fails_the_test(rotator: Rotator) -> None:
    arn, old = deployer()
    token = start_rotation(arn)
    rotator.step(arn, token, "createSecret")
    refusing = RecordingClients()
    refusing.fail("sts", "GetCallerIdentity", code="AccessDenied")
    with pytest.raises(RotationTestFailed, match="GetCallerIdentity signed with the pending key failed: AccessDenied"):
        rotator.step(arn, token, "testSecret", clients=refusing)
    assert key_in("AWSCURRENT") == old
    [failed] = [a for a in rotator.actions(rotator.last_run()["run_id"]) if a["outcome"] == "failed"]
    assert failed["resource_id"] == arn and failed["details"]["access_key_id"] == key_in("AWSPENDING")


def test_a_new_key_not_yet_usable_is_tried_again(rotator: Rotator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iam_access_key, "PROPAGATION_DELAYS_S", (0.0, 0.0))
    arn, _ = deployer()
    token = start_rotation(arn)
    rotator.step(arn, token, "createSecret")
    slow = RecordingClients()
    slow.fail("sts", "GetCallerIdentity", code="InvalidClientTokenId", times=1)
    assert rotator.step(arn, token, "testSecret", clients=slow)["status"] == "ok"
    assert slow.count("sts")["GetCallerIdentity"] == 2


def test_a_key_signing_as_someone_else_fails_the_test(rotator: Rotator) -> None:
    arn, _ = deployer()
    token = start_rotation(arn)
    stranger = {"UserName": "deployer", "AccessKeyId": "AKIAEXAMPLEUNKNOWN01", "SecretAccessKey": "x" * 40}
    secrets().put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=json.dumps(stranger),
                               VersionStages=["AWSPENDING"])
    with pytest.raises(RotationTestFailed, match="not a key of deployer"):
        rotator.step(arn, token, "testSecret")


# ---------------------------------------------------------------------- refusals and bad input


def test_rotation_not_enabled_is_refused(rotator: Rotator) -> None:
    arn, old = deployer()
    token = str(secrets().describe_secret(SecretId=arn)["VersionIdsToStages"].popitem()[0])
    with pytest.raises(RotationRefused, match="rotation is not enabled"):
        rotator.step(arn, token, "createSecret")
    assert keys() == {old: "Active"}
    [record] = rotator.actions(rotator.last_run()["run_id"])
    assert (record["action"], record["outcome"]) == ("create-secret", "skipped")
    assert record["reason"].startswith("refused: rotation is not enabled")


def test_versions_that_are_not_pending_are_refused_or_done(rotator: Rotator) -> None:
    arn, old = deployer()
    token = start_rotation(arn)
    with pytest.raises(RotationRefused, match="not a version of this secret"):
        rotator.step(arn, "00000000-0000-4000-8000-000000000000", "createSecret")
    rotator.rotate(arn, token)
    previous = next(v for v, s in stages(arn).items() if s == ["AWSPREVIOUS"])
    with pytest.raises(RotationRefused, match="not staged for rotation: its labels are AWSPREVIOUS"):
        rotator.step(arn, previous, "testSecret")
    done = rotator.step(arn, token, "createSecret")  # a late duplicate of a finished rotation's step
    assert done["already_current"] is True and rotator.outcomes(done["run_id"]) == [("create-secret", "skipped")]
    assert len(keys()) == 2 and old in keys()


def test_an_event_missing_a_field_or_with_an_unknown_step_is_rejected_and_changes_nothing(rotator: Rotator) -> None:
    arn, old = deployer()
    token = start_rotation(arn)
    clients = RecordingClients()
    for missing in ("SecretId", "ClientRequestToken", "Step"):
        event = {"SecretId": arn, "ClientRequestToken": token, "Step": "createSecret"}
        del event[missing]
        with pytest.raises(EventError, match=f"not a Secrets Manager rotation request: {missing} missing"):
            handler.invoke(event, rotator.context, clients=clients, clock=rotator.clock)
    with pytest.raises(EventError, match="unknown rotation Step 'rotateSecret'"):
        rotator.step(arn, token, "rotateSecret", clients=clients)
    assert keys() == {old: "Active"} and stages(arn)[token] == ["AWSPENDING"]
    assert set(clients.count()) <= {"Query", "PutItem", "UpdateItem", "Publish"}  # the run's own records only
    last = rotator.last_run()
    assert last["status"] == "failed" and "unknown rotation Step" in last["error"]


@pytest.mark.parametrize(("tags", "reason"), [
    ({"caretaker:rotation-secret": "caretaker/some/other"}, "does not name this secret"),
    ({"caretaker:protect": "true"}, "is protected"),
])
def test_users_that_did_not_opt_this_secret_in_are_refused(rotator: Rotator, tags: dict[str, str],
                                                           reason: str) -> None:
    arn, old = deployer(tags)
    with pytest.raises(RotationRefused, match=reason):
        rotator.step(arn, start_rotation(arn), "createSecret")
    assert keys() == {old: "Active"}


def test_a_user_with_two_active_keys_is_refused(rotator: Rotator) -> None:
    arn, old = deployer()
    other = iam().create_access_key(UserName="deployer")["AccessKey"]["AccessKeyId"]
    with pytest.raises(RotationRefused, match="two active keys"):
        rotator.step(arn, start_rotation(arn), "createSecret")
    assert keys() == {old: "Active", other: "Active"}


# ---------------------------------------------------------------------- audit mode


def test_audit_mode_records_the_plan_and_changes_nothing(rotator: Rotator) -> None:
    arn, old = deployer()
    token = start_rotation(arn)
    clients = RecordingClients()
    runs = [rotator.step(arn, token, step, clients=clients, mode="audit") for step in STEPS]
    assert keys() == {old: "Active"} and key_in("AWSCURRENT") == old
    assert stages(arn)[token] == ["AWSPENDING"]
    assert not {"CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"} & set(clients.count("iam"))
    assert not {"PutSecretValue", "UpdateSecretVersionStage"} & set(clients.count("secretsmanager"))
    planned = {a["action"] for r in runs for a in rotator.actions(r["run_id"]) if a["outcome"] == "planned"}
    assert planned == {"create-access-key", "move-current-stage", "deactivate-access-key"}
    assert all(r["mode"] == "audit" and r["status"] == "ok" for r in runs)
    assert rotator.token_item(arn, token) is None
    [(subject, body)] = rotator.alert_bodies()
    assert "not performed" in subject and body["secret"] == SECRET


def test_a_secret_naming_only_the_user_gets_its_first_key(rotator: Rotator) -> None:
    iam().create_user(UserName="deployer", Tags=[{"Key": "caretaker:rotation-secret", "Value": SECRET}])
    arn = secrets().create_secret(Name=SECRET, SecretString=json.dumps({"UserName": "deployer"}))["ARN"]
    finished = rotator.rotate(arn, start_rotation(arn))[-1]
    new = key_in("AWSCURRENT")
    assert keys() == {new: "Active"}
    assert ("deactivate-access-key", "skipped") in rotator.outcomes(finished["run_id"])
