"""Access-key rotation: the multi-day lifecycle, interruption at every step, the two-key limit,
reports and deactivation for users not opted in, modes and failure paths."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from automations.core.errors import EventError, SettingsError, StateLogError
from automations.core.ledger import run_items
from automations.scheduled.access_key_rotation import handler
from automations.scheduled.access_key_steps import version_id
from tests.automations.conftest import REGION, Alerts, Clock, LambdaContext, scheduled_event
from tests.declared_calls import Guard
from tests.notifications import message_body
from tests.recording import RecordingClients

ACCOUNT = "123456789012"
OPT_IN = {"caretaker:rotate": "true"}


@pytest.fixture
def iam_clock(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The test clock, also stamping moto's IAM keys (CreateDate, last used) so keys age with it."""
    import moto.iam.models as iam_model

    monkeypatch.setattr(iam_model, "utcnow", lambda: clock.now.astimezone(UTC).replace(tzinfo=None))
    clock.now = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
    return clock


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


@pytest.fixture(autouse=True)
def _fresh_shared_clients() -> Iterator[None]:
    _SHARED.clear()
    yield
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


@pytest.fixture
def alice(iam_clock: Clock) -> Iterator[tuple[str, str]]:
    """An opted-in user with one key, created now."""
    name = user("alice", OPT_IN)
    yield name, new_key(name)


# ---------------------------------------------------------------------- the lifecycle


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


# ---------------------------------------------------------------------- users not opted in


def test_old_and_unused_keys_are_reported_and_unused_ones_deactivated(
        state_table: str, alerts: Alerts, iam_clock: Clock, lambda_context: LambdaContext) -> None:
    name = user("dave")
    busy_old = new_key(name)
    idle_old = new_key(name)
    iam_clock.advance(days=100)
    mark_used(busy_old, iam_clock.now)
    result = run(iam_clock, lambda_context)
    assert keys(name) == {busy_old: "Active", idle_old: "Inactive"}
    records = outcomes(state_table, result["run_id"])
    assert ("report-old-access-key", busy_old, "skipped") in records
    assert ("report-old-access-key", idle_old, "skipped") in records
    assert ("deactivate-unused-access-key", idle_old, "succeeded") in records
    assert not any(r[0] == "deactivate-unused-access-key" and r[1] == busy_old for r in records)
    assert (result["old_keys"], result["unused_keys"], result["keys_deactivated"]) == (2, 1, 1)
    assert state(state_table, name) is None  # no rotation state for users not opted in
    body = message_body(alerts.messages()[0]["Message"])
    assert {(f["finding"], f["keys"][0]) for f in body["findings"]} == {
        ("old-key", busy_old), ("old-key", idle_old), ("unused-key", idle_old)}


def test_a_key_unused_since_its_last_use_long_ago_is_deactivated(
        state_table: str, iam_clock: Clock, lambda_context: LambdaContext) -> None:
    name = user("erin")
    key_id = new_key(name)
    iam_clock.advance(days=10)
    mark_used(key_id, iam_clock.now)
    iam_clock.advance(days=40)
    run(iam_clock, lambda_context, max_unused_days="30")
    assert keys(name) == {key_id: "Inactive"}


def test_audit_mode_changes_nothing(state_table: str, iam_clock: Clock, lambda_context: LambdaContext,
                                    alice: tuple[str, str]) -> None:
    name, first = alice
    idle = user("frank")
    idle_key = new_key(idle)
    iam_clock.advance(days=100)
    clients = RecordingClients()
    result = run(iam_clock, lambda_context, clients, mode="audit")
    assert keys(name) == {first: "Active"} and keys(idle) == {idle_key: "Active"}
    assert not {"CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey"} & set(clients.count("iam"))
    assert clients.count("secretsmanager")["CreateSecret"] == 0
    planned = {(a["action"], a["resource_id"]) for a in actions(state_table, result["run_id"])
               if a["outcome"] == "planned"}
    assert planned == {("create-access-key", name), ("deactivate-unused-access-key", idle_key)}
    assert all(a["dry_run"] for a in actions(state_table, result["run_id"]))
    assert state(state_table, name) is None  # audit writes no rotation state either
    assert summary(state_table, result["run_id"])["mode"] == "audit"


def test_audit_is_the_default_mode(state_table: str, iam_clock: Clock, lambda_context: LambdaContext,
                                   alice: tuple[str, str]) -> None:
    iam_clock.advance(days=100)
    environ = {k: v for k, v in os.environ.items() if k != "CARETAKER_MODE"}
    result = handler.invoke(scheduled_event(), lambda_context, environ=environ, clients=RecordingClients(),
                            clock=iam_clock)
    assert result["mode"] == "audit" and len(keys(alice[0])) == 1


def test_protected_users_keep_their_keys(state_table: str, iam_clock: Clock, lambda_context: LambdaContext) -> None:
    rotating = user("gina", {**OPT_IN, "caretaker:protect": "true"})
    unused = user("hank", {"caretaker:protect": "true"})
    rotating_key, unused_key = new_key(rotating), new_key(unused)
    iam_clock.advance(days=100)
    result = run(iam_clock, lambda_context)
    assert keys(rotating) == {rotating_key: "Active"} and keys(unused) == {unused_key: "Active"}
    skipped = {(a["action"], a["resource_id"]) for a in actions(state_table, result["run_id"])
               if a["outcome"] == "skipped" and "protected" in a["reason"]}
    assert skipped == {("rotate-access-key", rotating), ("deactivate-unused-access-key", unused_key)}


def test_a_user_no_longer_opted_in_stops_its_rotation(state_table: str, iam_clock: Clock,
                                                      lambda_context: LambdaContext, alice: tuple[str, str]) -> None:
    name, first = alice
    iam_clock.advance(days=91)
    run(iam_clock, lambda_context)
    iam().untag_user(UserName=name, TagKeys=["caretaker:rotate"])
    iam_clock.advance(days=8)
    mark_used(first, iam_clock.now)  # still in use, so not deactivated as unused either
    result = run(iam_clock, lambda_context)
    assert keys(name)[first] == "Active"
    assert state(state_table, name)["phase"] == "idle"  # type: ignore[index]
    assert any("no longer opted in" in a["reason"] for a in actions(state_table, result["run_id"]))


# ---------------------------------------------------------------------- bad input and failures


def test_an_invalid_threshold_fails_the_run_before_anything_is_done(
        state_table: str, iam_clock: Clock, lambda_context: LambdaContext, alice: tuple[str, str]) -> None:
    iam_clock.advance(days=100)
    clients = RecordingClients()
    with pytest.raises(SettingsError, match="CARETAKER_MAX_KEY_AGE_DAYS must be an integer from 1 to 3650, got '0'"):
        run(iam_clock, lambda_context, clients, max_key_age_days="0")
    with pytest.raises(SettingsError, match="CARETAKER_GRACE_DAYS"):
        run(iam_clock, lambda_context, clients, grace_days="a week")
    assert clients.count("iam") == {}
    assert len(keys(alice[0])) == 1


def test_scheduled_event_with_extra_fields_is_accepted_and_other_events_rejected(
        state_table: str, iam_clock: Clock, lambda_context: LambdaContext) -> None:
    event = {**scheduled_event(), "unexpected": {"nested": True}, "detail": {"surprise": 1}}
    assert handler.invoke(event, lambda_context, clients=RecordingClients(), clock=iam_clock)["status"] == "ok"
    with pytest.raises(EventError, match="Scheduled Event"):
        handler.invoke({"detail-type": "AWS API Call via CloudTrail"}, lambda_context, clients=RecordingClients(),
                       clock=iam_clock)


def test_access_denied_on_one_user_fails_that_user_only(
        state_table: str, alerts: Alerts, iam_clock: Clock, lambda_context: LambdaContext,
        alice: tuple[str, str]) -> None:
    name, _ = alice
    denied = user("ivan", OPT_IN)
    denied_key = new_key(denied)
    iam_clock.advance(days=91)
    clients = RecordingClients()
    clients.fail("iam", "ListAccessKeys", when=lambda body: body.get("UserName") == denied)
    result = run(iam_clock, lambda_context, clients)
    assert result["status"] == "partial"
    assert len(keys(name)) == 2 and keys(denied) == {denied_key: "Active"}
    [failed] = [a for a in actions(state_table, result["run_id"]) if a["outcome"] == "failed"]
    assert (failed["resource_id"], failed["action"]) == (denied, "evaluate-user")
    assert failed["reason"].startswith("AccessDenied")
    run_summary = summary(state_table, result["run_id"])
    assert (run_summary["status"], run_summary["failed"]) == ("partial", 1)
    assert any("partial" in m["Subject"] for m in alerts.messages())


def test_the_state_table_unreachable_means_nothing_is_touched(
        monkeypatch: pytest.MonkeyPatch, iam_clock: Clock, lambda_context: LambdaContext,
        alice: tuple[str, str]) -> None:
    monkeypatch.setenv("CARETAKER_STATE_TABLE", "missing-table")
    iam_clock.advance(days=100)
    clients = RecordingClients()
    with pytest.raises(StateLogError, match="missing-table"):
        run(iam_clock, lambda_context, clients)
    assert len(keys(alice[0])) == 1
    assert clients.count("iam")["CreateAccessKey"] == 0


def test_a_concurrent_run_that_moved_the_user_first_wins(
        state_table: str, iam_clock: Clock, lambda_context: LambdaContext, alice: tuple[str, str]) -> None:
    name, first = alice
    iam_clock.advance(days=91)
    clients = RecordingClients()
    # another run writes the user's state between this run's read and its first write
    dynamodb = boto3.client("dynamodb")

    def sneak_in(body: Mapping[str, Any]) -> bool:
        if phase_write("creating")(body):
            dynamodb.put_item(TableName=state_table, Item={
                "pk": {"S": "ROTATION#access-keys"}, "sk": {"S": f"USER#{name}"}, "user": {"S": name},
                "phase": {"S": "idle"}, "version": {"N": "1"}})
        return False

    clients.fail("dynamodb", "PutItem", when=sneak_in)
    result = run(iam_clock, lambda_context, clients)
    assert keys(name) == {first: "Active"}
    [record] = actions(state_table, result["run_id"])
    assert record["outcome"] == "skipped" and "another run" in record["reason"]


def test_a_secret_it_did_not_make_is_not_overwritten(state_table: str, iam_clock: Clock,
                                                      lambda_context: LambdaContext, alice: tuple[str, str]) -> None:
    name, first = alice
    secrets().create_secret(Name=f"caretaker/access-keys/{name}", SecretString="someone else's")
    iam_clock.advance(days=91)
    result = run(iam_clock, lambda_context)
    assert keys(name) == {first: "Active"}
    assert secrets().get_secret_value(SecretId=f"caretaker/access-keys/{name}")["SecretString"] == "someone else's"
    [record] = actions(state_table, result["run_id"])
    assert record["outcome"] == "skipped" and "does not overwrite" in record["reason"]
