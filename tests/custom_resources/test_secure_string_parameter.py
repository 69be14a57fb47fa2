"""Custom::SecureStringParameter through the real protocol."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from custom_resources import secure_string_parameter
from custom_resources.response import FAILED_CREATE_PREFIX
from tests.custom_resources.conftest import ACCOUNT, REGION, Cfn, actions_of
from tests.recording import RecordingClients

SECRET = "s3cr3t-Value-that-must-never-be-logged"
PROPS = {"Name": "/app/api-key", "Value": SECRET}
ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/app/api-key"


def parameter(name: str) -> dict[str, Any]:
    ssm = boto3.client("ssm", region_name=REGION)
    return dict(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"])


def names() -> list[str]:
    return sorted(p["Name"] for p in boto3.client("ssm", region_name=REGION).describe_parameters()["Parameters"])


def test_create_makes_a_tagged_secure_string_and_never_returns_the_value(cfn: Cfn) -> None:
    created = cfn.create(secure_string_parameter, PROPS)

    assert created["Status"] == "SUCCESS", created["Reason"]
    assert created["PhysicalResourceId"] == ARN
    assert created["Data"] == {"Arn": ARN, "Name": "/app/api-key"}
    stored = parameter("/app/api-key")
    assert stored["Type"] == "SecureString" and stored["Value"] == SECRET
    tags = boto3.client("ssm", region_name=REGION).list_tags_for_resource(
        ResourceType="Parameter", ResourceId="/app/api-key")["TagList"]
    assert {"Key": "caretaker:automation", "Value": "secure-string-parameter"} in tags
    assert SECRET not in str(created) and all(SECRET not in str(item) for item in cfn.records(created))


def test_a_new_value_overwrites_in_place(cfn: Cfn) -> None:
    created = cfn.create(secure_string_parameter, PROPS)

    updated = cfn.update(secure_string_parameter, created["PhysicalResourceId"], {**PROPS, "Value": "rotated"}, PROPS)

    assert updated["Status"] == "SUCCESS", updated["Reason"]
    assert updated["PhysicalResourceId"] == ARN
    assert parameter("/app/api-key")["Value"] == "rotated" and parameter("/app/api-key")["Version"] == 2


def test_a_new_name_replaces_the_parameter_and_the_old_one_goes_on_cleanup(cfn: Cfn) -> None:
    created = cfn.create(secure_string_parameter, PROPS)

    replaced = cfn.update(secure_string_parameter, ARN, {**PROPS, "Name": "/app/key2"}, PROPS)

    assert replaced["PhysicalResourceId"] == f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/app/key2"
    assert names() == ["/app/api-key", "/app/key2"]
    cleanup = cfn.delete(secure_string_parameter, created["PhysicalResourceId"], PROPS)
    assert cleanup["Status"] == "SUCCESS", cleanup["Reason"]
    assert names() == ["/app/key2"]


def test_a_rollback_after_a_failed_rename_keeps_the_original_parameter(cfn: Cfn, hooks: RecordingClients) -> None:
    cfn.create(secure_string_parameter, PROPS)
    hooks.fail("ssm", "PutParameter", "ParameterLimitExceeded", "too many", times=1)
    assert cfn.update(secure_string_parameter, ARN, {**PROPS, "Name": "/app/key2"}, PROPS)["Status"] == "FAILED"

    rollback = cfn.update(secure_string_parameter, ARN, PROPS, {**PROPS, "Name": "/app/key2"})

    assert rollback["Status"] == "SUCCESS" and rollback["PhysicalResourceId"] == ARN
    assert names() == ["/app/api-key"]


def test_delete_removes_the_parameter_and_tolerates_it_being_gone(cfn: Cfn) -> None:
    cfn.create(secure_string_parameter, PROPS)

    assert cfn.delete(secure_string_parameter, ARN, PROPS)["Status"] == "SUCCESS"
    assert names() == []
    again = cfn.delete(secure_string_parameter, ARN, PROPS)
    assert again["Status"] == "SUCCESS" and "already gone" in again["Reason"]


def test_a_rename_between_a_name_and_the_same_name_with_a_slash_is_refused(cfn: Cfn) -> None:
    created = cfn.create(secure_string_parameter, {"Name": "plain", "Value": "value"})
    renamed = cfn.update(secure_string_parameter, created["PhysicalResourceId"], {"Name": "/plain", "Value": "value"},
                         {"Name": "plain", "Value": "value"})
    assert renamed["Status"] == "FAILED" and "both have the ARN" in renamed["Reason"]
    assert created["PhysicalResourceId"].endswith(":parameter/plain")
    cfn.delete(secure_string_parameter, created["PhysicalResourceId"], {"Name": "plain", "Value": "value"})
    assert names() == []


@pytest.mark.parametrize(("properties", "message"), [
    ({"Name": "/ok", "Value": "x" * 5000},
     "Value must be a string of 1 to 4096 characters, got a secret value of length 5000"),
    ({"Name": "/ok"}, "Value is required"),
    ({"Name": "aws-thing", "Value": "v"}, "Name must be a string of 1 to 1011 characters"),
    ({"Name": "/ok", "Value": "v", "KeyId": "my key"}, "KeyId must be a string of 1 to 2048 characters naming"),
    ({"Name": "/ok", "Value": "v", "Type": "String"}, "unknown property Type"),
])
def test_invalid_properties_fail_without_echoing_the_value(
        cfn: Cfn, properties: dict[str, Any], message: str) -> None:
    failed = cfn.refused(secure_string_parameter, properties)

    assert message in failed["Reason"]
    assert "xxxxxxxx" not in failed["Reason"]
    assert failed["PhysicalResourceId"].startswith(FAILED_CREATE_PREFIX)


def test_an_aws_error_mid_way_fails_and_delete_of_the_failed_create_changes_nothing(
        cfn: Cfn, hooks: RecordingClients) -> None:
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/app/api-key", Value="not ours", Type="SecureString")

    failed = cfn.create(secure_string_parameter, PROPS)  # the name is taken: SSM refuses

    assert failed["Status"] == "FAILED" and "ParameterAlreadyExists" in failed["Reason"]
    assert [a["outcome"] for a in actions_of(cfn.records(failed))] == ["planned", "failed"]
    deleted = cfn.delete(secure_string_parameter, failed["PhysicalResourceId"], PROPS)
    assert deleted["Status"] == "SUCCESS"
    assert parameter("/app/api-key")["Value"] == "not ours"


def test_a_customer_key_is_used_for_encryption(cfn: Cfn, hooks: RecordingClients) -> None:
    key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["KeyId"]

    cfn.create(secure_string_parameter, {**PROPS, "KeyId": key})

    assert hooks.called("ssm", "PutParameter")[0]["KeyId"] == key
