"""Custom::RandomSecret through the real protocol."""

from __future__ import annotations

import json
import string
from typing import Any

import boto3
import pytest

from custom_resources import random_secret
from custom_resources.response import FAILED_CREATE_PREFIX
from tests.custom_resources.conftest import REGION, Cfn, actions_of
from tests.recording import RecordingClients

SECRETS = {"Name": "app/db-password"}


def secret_value(arn: str) -> str:
    return str(boto3.client("secretsmanager", region_name=REGION).get_secret_value(SecretId=arn)["SecretString"])


def parameter_value(name: str) -> str:
    ssm = boto3.client("ssm", region_name=REGION)
    return str(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])


def test_create_stores_a_generated_value_in_secrets_manager_and_returns_no_value(cfn: Cfn) -> None:
    created = cfn.create(random_secret, SECRETS)

    assert created["Status"] == "SUCCESS", created["Reason"]
    arn = created["PhysicalResourceId"]
    assert arn.startswith(f"arn:aws:secretsmanager:{REGION}:") and ":secret:app/db-password-" in arn
    assert created["Data"] == {"Arn": arn, "Name": "app/db-password"} and created["NoEcho"] is False
    value = secret_value(arn)
    assert len(value) == 32
    for chars in (string.ascii_uppercase, string.ascii_lowercase, string.digits, string.punctuation):
        assert set(value) & set(chars)
    tags = boto3.client("secretsmanager", region_name=REGION).describe_secret(SecretId=arn)["Tags"]
    assert {"Key": "caretaker:automation", "Value": "random-secret"} in tags
    assert all(value not in str(item) for item in cfn.records(created))


def test_create_returns_the_value_only_when_asked_and_then_with_no_echo(cfn: Cfn) -> None:
    created = cfn.create(random_secret, {**SECRETS, "ReturnValue": "true", "Length": "12",
                                         "IncludeSymbols": "false", "ExcludeCharacters": "abcdefABCDEF012345"})

    assert created["NoEcho"] is True
    value = created["Data"]["Value"]
    assert value == secret_value(created["PhysicalResourceId"])
    assert len(value) == 12 and not set(value) & set("abcdefABCDEF012345" + string.punctuation)


def test_create_in_ssm_stores_a_secure_string_parameter(cfn: Cfn) -> None:
    created = cfn.create(random_secret, {"Name": "/app/token", "Storage": "SSM", "Length": "40"})

    assert created["PhysicalResourceId"] == f"arn:aws:ssm:{REGION}:123456789012:parameter/app/token"
    parameter = boto3.client("ssm", region_name=REGION).get_parameter(Name="/app/token")["Parameter"]
    assert parameter["Type"] == "SecureString"
    assert len(parameter_value("/app/token")) == 40


def test_update_without_a_generation_change_keeps_the_value_and_returns_it_when_asked(cfn: Cfn) -> None:
    created = cfn.create(random_secret, SECRETS)
    value = secret_value(created["PhysicalResourceId"])

    updated = cfn.update(random_secret, created["PhysicalResourceId"],
                         {**SECRETS, "ReturnValue": "true", "RecoveryWindowInDays": "7"}, SECRETS)

    assert updated["Status"] == "SUCCESS", updated["Reason"]
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert updated["Data"]["Value"] == value == secret_value(created["PhysicalResourceId"])
    assert updated["NoEcho"] is True


def test_update_of_a_generation_property_regenerates_in_place(cfn: Cfn) -> None:
    created = cfn.create(random_secret, SECRETS)
    before = secret_value(created["PhysicalResourceId"])

    updated = cfn.update(random_secret, created["PhysicalResourceId"], {**SECRETS, "Length": "64"}, SECRETS)

    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    after = secret_value(created["PhysicalResourceId"])
    assert after != before and len(after) == 64


def test_a_new_name_replaces_the_secret_and_carries_the_value_over(cfn: Cfn) -> None:
    created = cfn.create(random_secret, SECRETS)
    value = secret_value(created["PhysicalResourceId"])

    replaced = cfn.update(random_secret, created["PhysicalResourceId"], {"Name": "app/renamed"}, SECRETS)

    assert replaced["PhysicalResourceId"] != created["PhysicalResourceId"]
    assert ":secret:app/renamed-" in replaced["PhysicalResourceId"]
    assert secret_value(replaced["PhysicalResourceId"]) == value
    # CloudFormation then deletes the old resource, with its old properties
    cleanup = cfn.delete(random_secret, created["PhysicalResourceId"], {**SECRETS, "RecoveryWindowInDays": "0"})
    assert cleanup["Status"] == "SUCCESS", cleanup["Reason"]
    with pytest.raises(boto3.client("secretsmanager", region_name=REGION).exceptions.ResourceNotFoundException):
        secret_value(created["PhysicalResourceId"])
    assert secret_value(replaced["PhysicalResourceId"]) == value


def test_moving_to_ssm_replaces_the_resource(cfn: Cfn) -> None:
    created = cfn.create(random_secret, {"Name": "app-token"})
    value = secret_value(created["PhysicalResourceId"])

    moved = cfn.update(random_secret, created["PhysicalResourceId"], {"Name": "app-token", "Storage": "SSM"},
                       {"Name": "app-token"})

    assert moved["PhysicalResourceId"].endswith(":parameter/app-token")
    assert parameter_value("app-token") == value


def test_a_rollback_after_a_failed_rename_keeps_the_original_secret(cfn: Cfn, hooks: RecordingClients) -> None:
    created = cfn.create(random_secret, SECRETS)
    value = secret_value(created["PhysicalResourceId"])
    hooks.fail("secretsmanager", "CreateSecret", "LimitExceededException", "too many secrets", times=1)
    failed = cfn.update(random_secret, created["PhysicalResourceId"], {"Name": "app/renamed"}, SECRETS)
    assert failed["Status"] == "FAILED" and "LimitExceededException" in failed["Reason"]
    assert failed["PhysicalResourceId"] == created["PhysicalResourceId"]

    # CloudFormation rolls back: the old properties, sent to the old id
    rollback = cfn.update(random_secret, created["PhysicalResourceId"], SECRETS, {"Name": "app/renamed"})

    assert rollback["Status"] == "SUCCESS", rollback["Reason"]
    assert rollback["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert secret_value(created["PhysicalResourceId"]) == value
    assert len(boto3.client("secretsmanager", region_name=REGION).list_secrets()["SecretList"]) == 1


def test_delete_schedules_the_secret_for_deletion_with_the_recovery_window(cfn: Cfn) -> None:
    props = {**SECRETS, "RecoveryWindowInDays": "7"}
    created = cfn.create(random_secret, props)

    deleted = cfn.delete(random_secret, created["PhysicalResourceId"], props)

    assert deleted["Status"] == "SUCCESS" and "in 7 days" in deleted["Reason"]
    described = boto3.client("secretsmanager", region_name=REGION).describe_secret(
        SecretId=created["PhysicalResourceId"])
    assert "DeletedDate" in described
    again = cfn.delete(random_secret, created["PhysicalResourceId"], props)  # already gone or going: fine
    assert again["Status"] == "SUCCESS", again["Reason"]


def test_delete_of_an_ssm_value_removes_the_parameter(cfn: Cfn) -> None:
    props = {"Name": "/app/token", "Storage": "SSM"}
    created = cfn.create(random_secret, props)

    cfn.delete(random_secret, created["PhysicalResourceId"], props)

    assert boto3.client("ssm", region_name=REGION).describe_parameters()["Parameters"] == []


@pytest.mark.parametrize(("properties", "message"), [
    ({"Name": "x", "Length": "abc"}, "Length must be an integer from 8 to 4096, got 'abc'"),
    ({"Name": "x", "Storage": "Vault"}, "Storage must be one of 'SecretsManager', 'SSM', got 'Vault'"),
    ({"Name": "x", "RecoveryWindowInDays": "3"},
     "RecoveryWindowInDays must be an integer 0 or from 7 to 30, got 3"),
    ({"Name": "x", **{p: "false" for p in ("IncludeUppercase", "IncludeLowercase", "IncludeDigits",
                                           "IncludeSymbols")}}, "at least one of IncludeUppercase"),
    ({"Name": "x", "IncludeSymbols": "false", "IncludeUppercase": "false", "IncludeLowercase": "false",
      "ExcludeCharacters": "0123456789"}, "ExcludeCharacters removes every character of IncludeDigits"),
    ({"Name": "aws/x", "Storage": "SSM"}, "Name must be an SSM parameter name when Storage is SSM"),
    ({"Lenght": "20"}, "Name is required"),
    ({"Name": "x", "Lenght": "20"}, "unknown property Lenght"),
])
def test_invalid_properties_fail_with_a_reason_naming_them(
        cfn: Cfn, properties: dict[str, Any], message: str) -> None:
    failed = cfn.refused(random_secret, properties)

    assert message in failed["Reason"]
    assert failed["PhysicalResourceId"].startswith(FAILED_CREATE_PREFIX)


def test_an_aws_error_mid_way_fails_and_delete_of_the_failed_create_changes_nothing(
        cfn: Cfn, hooks: RecordingClients) -> None:
    hooks.fail("secretsmanager", "CreateSecret", "AccessDeniedException", "no", times=1)

    failed = cfn.create(random_secret, SECRETS)

    assert failed["Status"] == "FAILED" and "AccessDeniedException: no" in failed["Reason"]
    assert [a["outcome"] for a in actions_of(cfn.records(failed))] == ["planned", "failed"]
    hooks.calls.clear()
    deleted = cfn.delete(random_secret, failed["PhysicalResourceId"], SECRETS)
    assert deleted["Status"] == "SUCCESS" and deleted["PhysicalResourceId"] == failed["PhysicalResourceId"]
    assert not hooks.called("secretsmanager")


def test_a_request_publishes_the_run_metrics_the_alarms_read(cfn: Cfn, hooks: RecordingClients,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    created = cfn.create(random_secret, SECRETS)
    hooks.fail("secretsmanager", "CreateSecret", times=1)
    failed = cfn.create(random_secret, {"Name": "app/other-password"})

    assert (created["Status"], failed["Status"]) == ("SUCCESS", "FAILED")
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [(d["automation"], d["RunsFailed"], d["Runs"]) for d in documents] == [
        ("random-secret", [0.0], [1.0]), ("random-secret", [1.0], [1.0])]
    assert documents[0]["ActionsSucceeded"] == [1.0]
