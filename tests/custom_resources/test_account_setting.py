"""The account-wide setting types (password policy, EBS default encryption, S3 account PAB), through
the real protocol: each behaviour runs for all three."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from custom_resources import ebs_default_encryption, password_policy, s3_account_public_access_block
from custom_resources.response import FAILED_CREATE_PREFIX
from tests.custom_resources.conftest import ACCOUNT, REGION, Cfn, actions_of, summary_of

if TYPE_CHECKING:
    from types_boto3_s3control.type_defs import PublicAccessBlockConfigurationTypeDef


@dataclass
class Scenario:
    module: ModuleType
    prepare: Callable[[], object]
    state: Callable[[], Any]
    initial: Any
    first: dict[str, Any]
    first_state: Any
    second: dict[str, Any]
    second_state: Any
    service: str
    write: str  # an operation that changes the setting (fault injection)
    invalid: dict[str, Any]
    message: str


def password_policy_scenario() -> Scenario:
    iam = boto3.client("iam", region_name=REGION)

    def state() -> Any:
        try:
            policy = iam.get_account_password_policy()["PasswordPolicy"]
        except iam.exceptions.NoSuchEntityException:
            return None
        return policy["MinimumPasswordLength"], policy["RequireSymbols"], policy["RequireNumbers"]

    return Scenario(
        module=password_policy,
        prepare=lambda: iam.update_account_password_policy(MinimumPasswordLength=8, RequireNumbers=True),
        state=state, initial=(8, False, True),
        first={"MinimumPasswordLength": "14", "RequireSymbols": "true", "MaxPasswordAge": "90"},
        first_state=(14, True, False),
        second={"MinimumPasswordLength": "20", "RequireNumbers": "True"}, second_state=(20, False, True),
        service="iam", write="UpdateAccountPasswordPolicy",
        invalid={"MinimumPasswordLength": "abc"},
        message="MinimumPasswordLength must be an integer from 6 to 128, got 'abc'",
    )


def ebs_scenario() -> Scenario:
    from moto.ec2.models import ec2_backends

    ec2 = boto3.client("ec2", region_name=REGION)
    kms = boto3.client("kms", region_name=REGION)
    before_key = kms.create_key(Description="in use before")["KeyMetadata"]["Arn"]
    stack_key = kms.create_key(Description="the stack's")["KeyMetadata"]["Arn"]

    def state() -> Any:
        key = ec2_backends[ACCOUNT][REGION].default_kms_key_id or "alias/aws/ebs"
        return ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"], key

    return Scenario(
        module=ebs_default_encryption,
        prepare=lambda: ec2.modify_ebs_default_kms_key_id(KmsKeyId=before_key) and None,
        state=state, initial=(False, before_key),
        first={"Enabled": "true", "KmsKeyId": stack_key}, first_state=(True, stack_key),
        second={"Enabled": "true"}, second_state=(True, "alias/aws/ebs"),
        service="ec2", write="EnableEbsEncryptionByDefault",  # after the key was already changed
        invalid={"Enabled": "yes"},
        message="Enabled must be true or false, got 'yes'",
    )


def public_access_block_scenario() -> Scenario:
    s3control = boto3.client("s3control", region_name=REGION)
    names = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")

    def state() -> Any:
        try:
            config: Mapping[str, Any] = s3control.get_public_access_block(AccountId=ACCOUNT)[
                "PublicAccessBlockConfiguration"]
        except s3control.exceptions.NoSuchPublicAccessBlockConfiguration:
            return None
        return tuple(config[n] for n in names)

    return Scenario(
        module=s3_account_public_access_block,
        prepare=lambda: None, state=state, initial=None,
        first={"BlockPublicAcls": "true", "IgnorePublicAcls": "false", "BlockPublicPolicy": "true",
               "RestrictPublicBuckets": "false"},
        first_state=(True, False, True, False),
        second={}, second_state=(True, True, True, True),
        service="s3control", write="PutPublicAccessBlock",
        invalid={"BlockPublicAcls": "1", "Colour": "blue"},
        message="BlockPublicAcls must be true or false, got '1'",
    )


SCENARIOS = {"password-policy": password_policy_scenario, "ebs-default-encryption": ebs_scenario,
             "s3-account-public-access-block": public_access_block_scenario}


@pytest.fixture(params=sorted(SCENARIOS))
def setting(request: pytest.FixtureRequest) -> Scenario:
    scenario = SCENARIOS[request.param]()
    scenario.prepare()
    assert scenario.state() == scenario.initial
    return scenario


def test_create_applies_the_settings_and_delete_restores_the_previous_ones(cfn: Cfn, setting: Scenario) -> None:
    created = cfn.create(setting.module, setting.first)

    assert created["Status"] == "SUCCESS", created["Reason"]
    assert created["PhysicalResourceId"].startswith(f"caretaker:{setting.module.handler.resource.kind}:")
    assert created["Data"] == {} and created["NoEcho"] is False
    assert setting.state() == setting.first_state
    items = cfn.records(created)
    summary = summary_of(items)
    assert summary["automation"] == setting.module.SPEC.name and summary["run_id"] == created["RequestId"]
    assert summary["stack_id"] == created["StackId"] and summary["logical_id"] == "Resource"
    assert summary["request_type"] == "Create" and summary["outcome"] == "succeeded"
    assert summary["physical_id"] == created["PhysicalResourceId"] and "old_physical_id" not in summary
    assert [(a["action"], a["outcome"]) for a in actions_of(items)] == [("apply", "planned"), ("apply", "succeeded")]

    deleted = cfn.delete(setting.module, created["PhysicalResourceId"], setting.first)

    assert deleted["Status"] == "SUCCESS", deleted["Reason"]
    assert deleted["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert setting.state() == setting.initial
    assert summary_of(cfn.records(deleted))["old_physical_id"] == created["PhysicalResourceId"]


def test_update_applies_in_place_and_keeps_the_id(cfn: Cfn, setting: Scenario) -> None:
    created = cfn.create(setting.module, setting.first)

    updated = cfn.update(setting.module, created["PhysicalResourceId"], setting.second, setting.first)

    assert updated["Status"] == "SUCCESS", updated["Reason"]
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert setting.state() == setting.second_state
    cfn.delete(setting.module, created["PhysicalResourceId"], setting.second)
    assert setting.state() == setting.initial


def test_replacing_the_resource_is_not_undone_when_cloudformation_deletes_the_old_id(
        cfn: Cfn, hooks: Any, setting: Scenario) -> None:
    old = cfn.create(setting.module, setting.first, logical_id="Before")
    new = cfn.create(setting.module, setting.second, logical_id="After")  # e.g. the logical id was renamed
    assert new["PhysicalResourceId"] != old["PhysicalResourceId"]
    writes_before = len(hooks.called(setting.service))

    cleanup = cfn.delete(setting.module, old["PhysicalResourceId"], setting.first, logical_id="Before")

    assert cleanup["Status"] == "SUCCESS", cleanup["Reason"]
    assert "superseded by " + new["PhysicalResourceId"] in cleanup["Reason"]
    assert setting.state() == setting.second_state
    assert len(hooks.called(setting.service)) == writes_before  # nothing touched in AWS
    cfn.delete(setting.module, new["PhysicalResourceId"], setting.second, logical_id="After")
    assert setting.state() == setting.initial  # the last one out restores what was there first


def test_deleting_the_newer_resource_first_restores_the_older_ones_settings(cfn: Cfn, setting: Scenario) -> None:
    older = cfn.create(setting.module, setting.first, stack="team-a")
    newer = cfn.create(setting.module, setting.second, stack="team-b")

    cfn.delete(setting.module, newer["PhysicalResourceId"], setting.second, stack="team-b")
    assert setting.state() == setting.first_state
    cfn.delete(setting.module, older["PhysicalResourceId"], setting.first, stack="team-a")
    assert setting.state() == setting.initial


def test_updating_an_older_resource_makes_it_the_one_in_effect(cfn: Cfn, setting: Scenario) -> None:
    older = cfn.create(setting.module, setting.first, stack="team-a")
    newer = cfn.create(setting.module, setting.second, stack="team-b")

    cfn.update(setting.module, older["PhysicalResourceId"], setting.first, setting.first, stack="team-a")
    assert setting.state() == setting.first_state

    cfn.delete(setting.module, older["PhysicalResourceId"], setting.first, stack="team-a")
    assert setting.state() == setting.second_state  # back to the other holder's settings
    cfn.delete(setting.module, newer["PhysicalResourceId"], setting.second, stack="team-b")
    assert setting.state() == setting.initial


def test_invalid_properties_fail_before_any_aws_call(cfn: Cfn, setting: Scenario) -> None:
    failed = cfn.refused(setting.module, setting.invalid)

    assert setting.message in failed["Reason"]
    assert failed["PhysicalResourceId"].startswith(FAILED_CREATE_PREFIX)
    assert setting.state() == setting.initial


def test_an_aws_error_mid_way_fails_and_leaves_the_previous_settings(
        cfn: Cfn, hooks: Any, setting: Scenario) -> None:
    hooks.fail(setting.service, setting.write, "AccessDenied", "not allowed", times=1)

    failed = cfn.create(setting.module, setting.first)

    assert failed["Status"] == "FAILED"
    assert "AccessDenied: not allowed" in failed["Reason"] and "put back as it was" in failed["Reason"]
    assert failed["PhysicalResourceId"].startswith(FAILED_CREATE_PREFIX)
    assert setting.state() == setting.initial
    assert [a["outcome"] for a in actions_of(cfn.records(failed)) if a["action"] == "apply"] == ["planned", "failed"]
    # the failed attempt left no holder behind: a new resource restores the original settings
    created = cfn.create(setting.module, setting.first)
    cfn.delete(setting.module, created["PhysicalResourceId"], setting.first)
    assert setting.state() == setting.initial


def test_delete_after_a_failed_create_changes_nothing(cfn: Cfn, hooks: Any, setting: Scenario) -> None:
    failed = cfn.create(setting.module, setting.invalid)
    current = cfn.create(setting.module, setting.first, logical_id="Other")

    deleted = cfn.delete(setting.module, failed["PhysicalResourceId"], setting.invalid)

    assert deleted["Status"] == "SUCCESS" and deleted["PhysicalResourceId"] == failed["PhysicalResourceId"]
    assert "nothing was changed" in deleted["Reason"]
    assert setting.state() == setting.first_state
    assert summary_of(cfn.records(deleted))["outcome"] == "skipped"
    cfn.delete(setting.module, current["PhysicalResourceId"], setting.first, logical_id="Other")


def test_a_failed_restore_fails_the_delete_and_a_retry_restores(cfn: Cfn, hooks: Any, setting: Scenario) -> None:
    created = cfn.create(setting.module, setting.first)
    restore_op = {"iam": "UpdateAccountPasswordPolicy", "ec2": "ModifyEbsDefaultKmsKeyId",
                  "s3control": "DeletePublicAccessBlock"}[setting.service]
    hooks.fail(setting.service, restore_op, "Throttling", "slow down", times=1)

    first_try = cfn.delete(setting.module, created["PhysicalResourceId"], setting.first)

    assert first_try["Status"] == "FAILED" and "Throttling: slow down" in first_try["Reason"]
    assert setting.state() == setting.first_state
    retry = cfn.delete(setting.module, created["PhysicalResourceId"], setting.first)
    assert retry["Status"] == "SUCCESS", retry["Reason"]
    assert setting.state() == setting.initial


def test_password_policy_delete_removes_the_policy_when_there_was_none(cfn: Cfn) -> None:
    iam = boto3.client("iam", region_name=REGION)
    created = cfn.create(password_policy, {"MinimumPasswordLength": "16", "HardExpiry": "true"})
    assert iam.get_account_password_policy()["PasswordPolicy"]["HardExpiry"] is True

    cfn.delete(password_policy, created["PhysicalResourceId"], {"MinimumPasswordLength": "16"})

    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_account_password_policy()


def test_public_access_block_delete_restores_an_existing_configuration(cfn: Cfn) -> None:
    s3control = boto3.client("s3control", region_name=REGION)
    before: PublicAccessBlockConfigurationTypeDef = {"BlockPublicAcls": False, "IgnorePublicAcls": True,
                                                     "BlockPublicPolicy": False, "RestrictPublicBuckets": True}
    s3control.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=before)
    created = cfn.create(s3_account_public_access_block, {})

    cfn.delete(s3_account_public_access_block, created["PhysicalResourceId"], {})

    assert s3control.get_public_access_block(AccountId=ACCOUNT)["PublicAccessBlockConfiguration"] == before
