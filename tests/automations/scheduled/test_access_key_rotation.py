"""Access-key rotation: the multi-day lifecycle, interruption at every step and the two-key limit."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from automations.core.errors import StateLogError
from automations.scheduled.access_key_steps import version_id
from tests.automations.conftest import REGION, Alerts, Clock, LambdaContext
from tests.automations.scheduled.access_key_harness import (
    ACCOUNT,
    OPT_IN,
    actions,
    assert_safe,
    iam,
    keys,
    mark_used,
    new_key,
    outcomes,
    phase_write,
    run,
    secret_stages,
    secrets,
    state,
    stored_key,
    user,
)
from tests.declared_calls import Guard
from tests.notifications import message_body
from tests.recording import RecordingClients

pytestmark = pytest.mark.usefixtures("_fresh_shared_clients")


def test_full_lifecycle_across_days(state_table: str, alerts: Alerts, iam_clock: Clock,
                                    lambda_context: LambdaContext, alice: tuple[str, str],
                                    declared_calls: Guard) -> None:
    name, first = alice
    clock = iam_clock

    clock.advance(days=30)
    young = run(clock, lambda_context)
    assert keys(name) == {first: "Active"} and young["status"] == "ok"
    assert actions(state_table, young["run_id"]) == []  # a young key: nothing to record

    clock.advance(days=61)  # 91 days old
    started = run(clock, lambda_context)
    second = stored_key(name)
    assert keys(name) == {first: "Active", second: "Active"}
    assert secret_stages(name) == {version_id(name, second): ["AWSCURRENT"]}
    assert outcomes(state_table, started["run_id"]) == [
        ("create-access-key", name, "planned"), ("create-access-key", name, "succeeded"),
        ("store-access-key", name, "planned"), ("store-access-key", name, "succeeded")]
    [created] = [a for a in actions(state_table, started["run_id"])
                 if (a["action"], a["outcome"]) == ("create-access-key", "succeeded")]
    assert created["details"]["access_key_id"] == second and created["details"]["old_key_id"] == first
    assert "SecretAccessKey" not in json.dumps(actions(state_table, started["run_id"]))
    assert state(state_table, name)["phase"] == "grace"  # type: ignore[index]
    tags = {t["Key"]: t["Value"] for t in secrets().describe_secret(SecretId=f"caretaker/access-keys/{name}")["Tags"]}
    assert tags == {"caretaker:automation": "access-key-rotation", "caretaker:iam-user": name}
    [message] = [m for m in alerts.messages() if "finding" in m["Subject"]]
    assert second in message["Message"] and "SecretAccessKey" not in message["Message"]

    clock.advance(days=3)
    waiting = run(clock, lambda_context)
    assert keys(name) == {first: "Active", second: "Active"}
    assert outcomes(state_table, waiting["run_id"]) == [("deactivate-access-key", first, "skipped")]

    clock.advance(days=5)  # grace (7 days) is over
    deactivated = run(clock, lambda_context)
    assert keys(name) == {first: "Inactive", second: "Active"}
    assert outcomes(state_table, deactivated["run_id"]) == [
        ("deactivate-access-key", first, "planned"), ("deactivate-access-key", first, "succeeded")]
    assert state(state_table, name)["phase"] == "deactivated"  # type: ignore[index]

    clock.advance(days=8)
    deleted = run(clock, lambda_context)
    assert keys(name) == {second: "Active"}
    assert outcomes(state_table, deleted["run_id"]) == [
        ("delete-access-key", first, "planned"), ("delete-access-key", first, "succeeded")]
    final = state(state_table, name)
    assert final is not None and (final["phase"], final["current_key_id"]) == ("idle", second)
    assert deleted["rotations_completed"] == 1

    clock.advance(days=91)  # the second rotation keeps the first replacement as AWSPREVIOUS
    run(clock, lambda_context)
    third = stored_key(name)
    assert stored_key(name, "AWSPREVIOUS") == second
    assert secret_stages(name) == {version_id(name, second): ["AWSPREVIOUS"], version_id(name, third): ["AWSCURRENT"]}
    assert keys(name) == {second: "Active", third: "Active"}
    # every AWS call the runs made is declared in the function's permissions
    assert declared_calls.undeclared() == {}


def test_only_the_rotate_tag_opts_a_user_in_not_its_path(state_table: str, iam_clock: Clock,
                                                         lambda_context: LambdaContext) -> None:
    """The IAM policy allows CreateAccessKey only on users tagged caretaker:rotate=true, so the code
    opts in exactly those: a service user's path does not, whatever the environment says."""
    service = user("svc-build", path="/service/ci/")
    tagged = user("svc-deploy", OPT_IN, path="/service/ci/")
    old_service, old_tagged = new_key(service), new_key(tagged)
    iam_clock.advance(days=100)
    result = run(iam_clock, lambda_context, rotate_path_prefixes="/service/", rotate_tag_key="team:rotate")
    assert keys(service) == {old_service: "Inactive"}  # not opted in: never used for 100 days, deactivated
    assert len(keys(tagged)) == 2 and stored_key(tagged) != old_tagged
    assert (result["users_opted_in"], result["rotations_started"]) == (1, 1)
    records = outcomes(state_table, result["run_id"])
    assert ("report-old-access-key", old_service, "skipped") in records
    assert ("create-access-key", tagged, "succeeded") in records
    assert not [r for r in records if r[1] == service and r[0] == "create-access-key"]


# ---------------------------------------------------------------------- interruption and resume

FAULTS: dict[str, tuple[str, str, Callable[[Mapping[str, Any]], bool], str]] = {
    # AWS refuses one call: recorded as failed, the next run retries
    "create-key-fails": ("iam", "CreateAccessKey", lambda _b: True, "ServiceFailure"),
    "store-fails": ("secretsmanager", "CreateSecret", lambda _b: True, "InternalServiceError"),
    "deactivate-fails": ("iam", "UpdateAccessKey", lambda _b: True, "ServiceFailure"),
    "delete-fails": ("iam", "DeleteAccessKey", lambda _b: True, "ServiceFailure"),
    # the run dies (state log unwritable) right before or right after an AWS call
    **{f"dies-writing-{phase}": ("dynamodb", "PutItem", phase_write(phase), "ProvisionedThroughputExceededException")
       for phase in ("creating", "storing", "grace", "deactivating", "deactivated", "deleting", "idle")},
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_interrupted_after_any_step_the_next_run_resumes(
        fault: str, state_table: str, iam_clock: Clock, lambda_context: LambdaContext,
        alice: tuple[str, str]) -> None:
    name, first = alice
    service, operation, predicate, code = FAULTS[fault]
    faulty = RecordingClients()
    faulty.fail(service, operation, code=code, times=1, when=predicate)
    created: set[str] = {first}

    def run_and_rerun() -> None:
        with contextlib.suppress(StateLogError):  # the run stopped: nothing after the failed write was done
            run(iam_clock, lambda_context, faulty)
        assert_safe(name)
        created.update(keys(name))
        run(iam_clock, lambda_context)  # the next run, with nothing failing
        assert_safe(name)
        created.update(keys(name))

    iam_clock.advance(days=91)
    run_and_rerun()
    new = stored_key(name)
    iam_clock.advance(days=8)
    run_and_rerun()
    assert keys(name) == {first: "Inactive", new: "Active"}
    iam_clock.advance(days=8)
    run_and_rerun()

    assert keys(name) == {new: "Active"}  # rotated: exactly one key left, the stored one
    assert stored_key(name) == new
    final = state(state_table, name)
    assert final is not None and (final["phase"], final["current_key_id"]) == ("idle", new)
    # a key created by a run that died before storing it is deleted, never kept as a third key
    assert len(created) <= 3
    assert fault in ("dies-writing-storing", "store-fails") or len(created) == 2


def test_a_key_that_appeared_during_the_rotation_and_was_used_is_not_deleted(
        state_table: str, iam_clock: Clock, lambda_context: LambdaContext, alice: tuple[str, str]) -> None:
    name, first = alice
    iam_clock.advance(days=91)
    faulty = RecordingClients()
    faulty.fail("iam", "CreateAccessKey", code="ServiceFailure")
    run(iam_clock, lambda_context, faulty)  # the rotation started, the key was not created
    foreign = new_key(name)  # someone creates and uses a key meanwhile
    mark_used(foreign, iam_clock.now)
    result = run(iam_clock, lambda_context)
    assert keys(name) == {first: "Active", foreign: "Active"}
    [blocked] = [a for a in actions(state_table, result["run_id"]) if a["action"] == "rotate-access-key"]
    assert blocked["outcome"] == "skipped" and foreign in blocked["reason"]


# ---------------------------------------------------------------------- the two-key limit


def test_an_extra_inactive_key_is_removed_before_the_new_key_is_created(
        state_table: str, iam_clock: Clock, lambda_context: LambdaContext) -> None:
    name = user("bob", OPT_IN)
    spare = new_key(name, active=False)
    current = new_key(name)
    iam_clock.advance(days=95)
    clients = RecordingClients()
    result = run(iam_clock, lambda_context, clients)
    created = stored_key(name)
    assert keys(name) == {current: "Active", created: "Active"}
    changes = [(op, body.get("AccessKeyId")) for svc, op, body in clients.calls
               if op in ("DeleteAccessKey", "CreateAccessKey")]
    assert changes == [("DeleteAccessKey", spare), ("CreateAccessKey", None)]
    assert ("delete-access-key", spare, "succeeded") in outcomes(state_table, result["run_id"])


def test_two_active_keys_are_reported_and_left_alone(
        state_table: str, alerts: Alerts, iam_clock: Clock, lambda_context: LambdaContext) -> None:
    name = user("carol", OPT_IN)
    held = {new_key(name), new_key(name)}
    iam_clock.advance(days=95)
    clients = RecordingClients()
    result = run(iam_clock, lambda_context, clients)
    assert set(keys(name)) == held and set(keys(name).values()) == {"Active"}
    assert not {"CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"} & set(clients.count("iam"))
    [record] = actions(state_table, result["run_id"])
    assert (record["action"], record["outcome"]) == ("rotate-access-key", "skipped")
    assert "two active access keys" in record["reason"]
    [message] = alerts.messages()
    body = message_body(message["Message"])
    assert body["findings"][0]["finding"] == "rotation-blocked" and set(body["findings"][0]["keys"]) == held


def test_a_reactivated_old_key_is_not_deleted(state_table: str, iam_clock: Clock, lambda_context: LambdaContext,
                                              alice: tuple[str, str]) -> None:
    name, first = alice
    iam_clock.advance(days=91)
    run(iam_clock, lambda_context)
    iam_clock.advance(days=8)
    run(iam_clock, lambda_context)
    iam().update_access_key(UserName=name, AccessKeyId=first, Status="Active")  # someone rolls back
    iam_clock.advance(days=8)
    result = run(iam_clock, lambda_context)
    assert keys(name)[first] == "Active"
    [record] = actions(state_table, result["run_id"])
    assert record["outcome"] == "skipped" and "active again" in record["reason"]


def test_the_old_key_stays_active_when_the_new_one_was_deleted(
        state_table: str, iam_clock: Clock, lambda_context: LambdaContext, alice: tuple[str, str]) -> None:
    name, first = alice
    iam_clock.advance(days=91)
    run(iam_clock, lambda_context)
    iam().delete_access_key(UserName=name, AccessKeyId=stored_key(name))
    iam_clock.advance(days=8)
    result = run(iam_clock, lambda_context)
    assert keys(name) == {first: "Active"}
    assert result["status"] == "failed"
    failed = [a for a in actions(state_table, result["run_id"]) if a["outcome"] == "failed"]
    assert failed[0]["resource_id"] == first and "keeps a working key" in failed[0]["reason"]


def test_a_secret_rotated_by_secrets_manager_is_left_to_its_rotation_function(
        state_table: str, iam_clock: Clock, lambda_context: LambdaContext, alice: tuple[str, str]) -> None:
    name, first = alice
    secrets().create_secret(Name=f"caretaker/access-keys/{name}", SecretString="{}")
    with contextlib.suppress(secrets().exceptions.ResourceNotFoundException):  # moto cannot run the function;
        secrets().rotate_secret(SecretId=f"caretaker/access-keys/{name}",  # rotation is enabled all the same
                                RotationRules={"AutomaticallyAfterDays": 30},
                                RotationLambdaARN=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:rotator")
    iam_clock.advance(days=91)
    result = run(iam_clock, lambda_context)
    assert keys(name) == {first: "Active"}
    [record] = actions(state_table, result["run_id"])
    assert record["outcome"] == "skipped" and "rotation enabled" in record["reason"]
