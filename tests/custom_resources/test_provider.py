"""The protocol every provider shares: one response whatever happens, before the timeout, no secrets
in logs, the state log, the mode, and no AWS client at import time."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from automations.core.mode_override import set_mode_override
from automations.core.settings import clear_cache
from custom_resources import password_policy, random_secret, secure_string_parameter
from custom_resources.cfn_helper import TIMEOUT_MARGIN_S
from custom_resources.response import FAILED_CREATE_PREFIX
from tests.custom_resources.conftest import (
    REGION,
    STATE_TABLE,
    CapturedLogs,
    Cfn,
    FakeContext,
    Responder,
    summary_of,
)
from tests.recording import RecordingClients

POLICY = {"MinimumPasswordLength": "12"}


def policy_length() -> int | None:
    iam = boto3.client("iam", region_name=REGION)
    try:
        return int(iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"])
    except iam.exceptions.NoSuchEntityException:
        return None


# ---------------------------------------------------------------------------- one response, always


def test_the_lambda_entry_point_answers_once(cfn: Cfn) -> None:
    event = cfn.event(password_policy, "Create", POLICY)

    password_policy.handler(event, cfn.context(password_policy))  # as Lambda calls it: nothing injected

    assert cfn.answer(event)["Status"] == "SUCCESS"
    assert policy_length() == 12


def test_settings_that_fail_to_load_give_one_failed_response_and_are_read_again_next_time(
        cfn: Cfn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARETAKER_STATE_TTL_DAYS", "soon")

    failed = cfn.create(password_policy, POLICY)

    assert failed["Status"] == "FAILED"
    assert failed["Reason"] == ("the provider could not initialise: SettingsError: invalid settings: "
                                "CARETAKER_STATE_TTL_DAYS must be an integer from 1 to 3650, got 'soon'")
    assert failed["PhysicalResourceId"].startswith(FAILED_CREATE_PREFIX)
    assert policy_length() is None
    monkeypatch.delenv("CARETAKER_STATE_TTL_DAYS")
    clear_cache()
    assert cfn.create(password_policy, POLICY)["Status"] == "SUCCESS"  # the failure was not kept


def test_crhelper_failing_to_initialise_gives_one_failed_response(cfn: Cfn, monkeypatch: pytest.MonkeyPatch) -> None:

    def no_clients(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no clients today")

    with monkeypatch.context() as patched:
        patched.setattr("crhelper.resource_helper.boto3.client", no_clients)
        failed = cfn.create(password_policy, POLICY)

    assert failed["Status"] == "FAILED" and failed["Reason"] == "no clients today"
    assert policy_length() is None


def test_a_missing_crhelper_is_still_answered_once(cfn: Cfn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "crhelper", None)  # as if the dependency layer lacked it
    monkeypatch.delitem(sys.modules, "custom_resources.cfn_helper")

    failed = cfn.create(password_policy, POLICY)

    assert failed["Status"] == "FAILED"
    assert failed["Reason"].startswith("the provider could not initialise: ModuleNotFoundError: ")
    assert "crhelper" in failed["Reason"]
    assert failed["PhysicalResourceId"].startswith(FAILED_CREATE_PREFIX)
    assert policy_length() is None


def test_an_unexpected_exception_gives_one_failed_response(
        cfn: Cfn, hooks: RecordingClients, logs: CapturedLogs) -> None:
    def explode(params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("something unforeseen")

    hooks.answer("iam", "GetAccountPasswordPolicy", explode)

    failed = cfn.create(password_policy, POLICY)

    assert failed["Status"] == "FAILED" and failed["Reason"].startswith("RuntimeError: something unforeseen")
    assert logs.contains("Traceback")


def test_a_malformed_event_is_answered_once(cfn: Cfn) -> None:
    event = cfn.event(password_policy, "Create", POLICY)
    del event["StackId"]

    cfn.invoke(password_policy, event)

    [body] = cfn.responses(event)
    assert body["Status"] == "FAILED" and body["Reason"] == "malformed request: missing StackId"


def test_the_response_is_sent_before_the_lambda_timeout(
        cfn: Cfn, hooks: RecordingClients, responder: Responder) -> None:
    hooks.stall("iam", "UpdateAccountPasswordPolicy", 1.5)
    context = FakeContext(function_name=password_policy.SPEC.function_name,
                          remaining_ms=int((TIMEOUT_MARGIN_S + 0.5) * 1000))  # the timer fires after 0.5 s
    event = cfn.event(password_policy, "Create", POLICY)
    started = time.monotonic()

    cfn.invoke(password_policy, event, context)

    finished = time.monotonic()
    body = cfn.answer(event)  # exactly one: the late success is not sent
    assert body["Status"] == "FAILED" and "did not finish in time" in body["Reason"]
    assert body["PhysicalResourceId"].startswith(FAILED_CREATE_PREFIX)
    [arrived] = responder.arrivals(event["RequestId"])
    assert arrived - started < 1.2 and arrived < finished - 0.5  # answered while the work was still running


# ---------------------------------------------------------------------------- ids


def test_an_update_of_a_failed_create_makes_the_resource(cfn: Cfn) -> None:
    failed = cfn.create(password_policy, {"MinimumPasswordLength": "3"})

    updated = cfn.update(password_policy, failed["PhysicalResourceId"], POLICY, {"MinimumPasswordLength": "3"})

    assert updated["Status"] == "SUCCESS", updated["Reason"]
    assert updated["PhysicalResourceId"].startswith("caretaker:account-password-policy:")
    assert policy_length() == 12


@pytest.mark.parametrize("physical_id", [
    "consumer_Resource_AB12CD34",  # crhelper's own generated id
    "2026/11/27/[$LATEST]0123456789abcdef",  # a log stream name
])
def test_delete_of_an_id_from_elsewhere_changes_nothing(cfn: Cfn, hooks: RecordingClients, physical_id: str) -> None:
    deleted = cfn.delete(password_policy, physical_id, POLICY)

    assert deleted["Status"] == "SUCCESS" and deleted["PhysicalResourceId"] == physical_id
    assert not hooks.called("iam")


# ---------------------------------------------------------------------------- state log


def test_without_a_state_table_nothing_is_changed(
        cfn: Cfn, hooks: RecordingClients, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARETAKER_STATE_TABLE")

    failed = cfn.create(password_policy, POLICY)

    assert failed["Status"] == "FAILED"
    assert failed["Reason"].startswith("the state log cannot be used, so nothing was changed: "
                                       "CARETAKER_STATE_TABLE is not set")
    assert not hooks.called("iam")
    deleted = cfn.delete(password_policy, failed["PhysicalResourceId"], POLICY)  # a failed create still goes
    assert deleted["Status"] == "SUCCESS" and "not recorded in the state log" in deleted["Reason"]


def test_a_state_log_failure_after_acting_is_reported_in_the_reason(cfn: Cfn, hooks: RecordingClients) -> None:
    hooks.fail("dynamodb", "UpdateItem", "InternalServerError", "table trouble", times=1)

    created = cfn.create(password_policy, POLICY)

    assert created["Status"] == "SUCCESS"  # the policy was applied: saying otherwise would be false
    assert "the state log could not record this outcome" in created["Reason"]
    assert policy_length() == 12


def test_a_state_log_failure_on_a_failure_path_is_reported_in_the_reason(cfn: Cfn, hooks: RecordingClients) -> None:
    hooks.fail("ssm", "PutParameter", "ParameterLimitExceeded", "too many", times=1)
    hooks.fail("dynamodb", "UpdateItem", "InternalServerError", "table trouble", times=1)

    failed = cfn.create(secure_string_parameter, {"Name": "/p", "Value": "value"})

    assert failed["Status"] == "FAILED"
    assert "ParameterLimitExceeded: too many" in failed["Reason"]
    assert "the state log could not record this outcome" in failed["Reason"]


def test_each_request_is_recorded_with_its_ids_and_outcome(cfn: Cfn) -> None:
    created = cfn.create(secure_string_parameter, {"Name": "/p", "Value": "value"})
    replaced = cfn.update(secure_string_parameter, created["PhysicalResourceId"], {"Name": "/q", "Value": "value"},
                          {"Name": "/p", "Value": "value"})

    summary = summary_of(cfn.records(replaced))

    assert summary["automation"] == "secure-string-parameter" and summary["run_id"] == replaced["RequestId"]
    assert summary["stack_id"] == replaced["StackId"] and summary["logical_id"] == replaced["LogicalResourceId"]
    assert summary["request_type"] == "Update" and summary["resource_type"] == "Custom::SecureStringParameter"
    assert summary["old_physical_id"] == created["PhysicalResourceId"]
    assert summary["physical_id"] == replaced["PhysicalResourceId"] and summary["replaced"] is True
    assert summary["outcome"] == "succeeded" and summary["status"] == "ok"
    assert summary["reason"] == f"replaced {created['PhysicalResourceId']}"


# ---------------------------------------------------------------------------- mode


def test_in_audit_mode_create_fails_and_delete_leaves_things_as_they_are(
        cfn: Cfn, monkeypatch: pytest.MonkeyPatch) -> None:
    created = cfn.create(password_policy, POLICY)
    monkeypatch.setenv("CARETAKER_MODE", "audit")
    clear_cache()

    refused = cfn.create(password_policy, {"MinimumPasswordLength": "20"}, logical_id="Another")
    deleted = cfn.delete(password_policy, created["PhysicalResourceId"], POLICY)

    assert refused["Status"] == "FAILED" and "is in audit mode (environment)" in refused["Reason"]
    assert deleted["Status"] == "SUCCESS" and "nothing was changed" in deleted["Reason"]
    assert policy_length() == 12


def test_a_run_time_override_in_the_state_table_wins(cfn: Cfn) -> None:
    set_mode_override(boto3.client("dynamodb", region_name=REGION), STATE_TABLE, "account-password-policy", "off",
                      by="test", reason="incident")

    refused = cfn.create(password_policy, POLICY)

    assert refused["Status"] == "FAILED" and "is in off mode (override:account-password-policy)" in refused["Reason"]
    assert policy_length() is None


# ---------------------------------------------------------------------------- logs and import


def test_secret_values_never_reach_logs_responses_reasons_or_the_state_log(
        cfn: Cfn, logs: CapturedLogs, hooks: RecordingClients) -> None:
    value, rotated = "Sup3r-Secret-Value-1", "Sup3r-Secret-Value-2"
    created = cfn.create(secure_string_parameter, {"Name": "/p", "Value": value})
    cfn.update(secure_string_parameter, created["PhysicalResourceId"], {"Name": "/p", "Value": rotated},
               {"Name": "/p", "Value": value})
    hooks.fail("ssm", "PutParameter", "ValidationException", f"bad value {rotated}", times=1)  # an error that echoes it
    echoed = cfn.update(secure_string_parameter, created["PhysicalResourceId"], {"Name": "/p", "Value": rotated},
                        {"Name": "/p", "Value": value, "Misspelt": value})
    cfn.delete(secure_string_parameter, created["PhysicalResourceId"], {"Name": "/p", "Value": rotated})
    generated = cfn.create(random_secret, {"Name": "app/pw", "ReturnValue": "true"})
    token = generated["Data"]["Value"]
    cfn.update(random_secret, generated["PhysicalResourceId"], {"Name": "app/pw", "ReturnValue": "true"},
               {"Name": "app/pw"})

    assert echoed["Status"] == "FAILED" and rotated not in echoed["Reason"] and "bad value ***" in echoed["Reason"]
    assert logs.texts  # the capture works
    for secret in (value, rotated, token):
        assert not logs.contains(secret), secret
    assert not any(text.startswith(("{'RequestType'", '{"RequestType"')) for text in logs.texts)
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=STATE_TABLE)["Items"]
    assert not any(s in json.dumps(items) for s in (value, rotated, token))


def test_crhelper_does_not_reconfigure_root_logging(cfn: Cfn) -> None:
    root = logging.getLogger()
    before = (root.level, [(h, h.formatter) for h in root.handlers])

    cfn.create(password_policy, POLICY)

    assert (root.level, [(h, h.formatter) for h in root.handlers]) == before
    assert logging.getLogger("crhelper").getEffectiveLevel() >= logging.INFO
    assert logging.getLogger("botocore").getEffectiveLevel() >= logging.WARNING


def test_no_aws_client_is_created_at_import_time() -> None:
    script = """
import botocore.session
def refuse(*args, **kwargs):
    raise AssertionError("a boto3/botocore client was created at import time")
botocore.session.Session.create_client = refuse
import importlib, pkgutil, custom_resources
from automations.core import registry
names = [i.name for i in pkgutil.iter_modules(custom_resources.__path__, "custom_resources.")]
for name in names:
    importlib.import_module(name)
registry.discover()
print(len(names))
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) >= 7
