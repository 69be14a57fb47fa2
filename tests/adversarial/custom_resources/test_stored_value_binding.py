"""Attacks on RandomSecret and SecureStringParameter from another stack (docs/security-model.md, section 2).

The victim's stack creates the resource; the attacker's stack (any stack author can invoke the
providers) sends requests that name the victim's PhysicalResourceId. Each attack is answered as
CloudFormation requires (one response), changes nothing in AWS, returns no value, and is recorded
in the state log as a refusal naming both stacks. Beside each attack, the owner's own request works.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from custom_resources import random_secret, secure_string_parameter
from tests.custom_resources.conftest import REGION, Cfn, actions_of, summary_of
from tests.recording import RecordingClients

VICTIM, ATTACKER = "victim-app", "attacker-app"
SECRET = {"Name": "victim/db-password"}
PARAMETER = {"Name": "/victim/api-key", "Value": "victim-api-key-value"}


def secret_value(arn: str) -> str:
    return str(boto3.client("secretsmanager", region_name=REGION).get_secret_value(SecretId=arn)["SecretString"])


def parameter_value(name: str) -> str:
    ssm = boto3.client("ssm", region_name=REGION)
    return str(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])


def refusal_of(cfn: Cfn, answer: dict[str, Any], action: str) -> dict[str, Any]:
    """The request's one refusal record; its summary says the request was skipped."""
    records = cfn.records(answer)
    refusals = [a for a in actions_of(records) if a["action"] == action]
    assert len(refusals) == 1, actions_of(records)
    assert [a for a in actions_of(records) if a["action"] != action] == [], "nothing but the refusal"
    assert summary_of(records)["outcome"] == "skipped"
    assert refusals[0]["outcome"] == "skipped" and refusals[0]["dry_run"] is False
    return refusals[0]


def names_both_stacks(cfn: Cfn, text: str) -> bool:
    return cfn.stack_id(VICTIM) in text and cfn.stack_id(ATTACKER) in text


# ---------------------------------------------------------------------------- RandomSecret


@pytest.mark.parametrize("storage", ["SecretsManager", "SSM"])
def test_foreign_update_with_return_value_cannot_read_the_victims_secret(cfn: Cfn, hooks: RecordingClients,
                                                                          storage: str) -> None:
    props = {"Name": "/victim/db-password", "Storage": storage}
    created = cfn.create(random_secret, props, stack=VICTIM)
    arn = created["PhysicalResourceId"]
    value = secret_value(arn) if storage == "SecretsManager" else parameter_value(props["Name"])
    hooks.reset()

    stolen = cfn.update(random_secret, arn, {**props, "ReturnValue": "true"}, props, stack=ATTACKER)

    assert stolen["Status"] == "FAILED"
    assert stolen["Data"] == {} and stolen["NoEcho"] is False
    assert value not in str(stolen)
    assert names_both_stacks(cfn, stolen["Reason"]) and "refused" in stolen["Reason"]
    assert not hooks.called("secretsmanager", "GetSecretValue") and not hooks.called("ssm", "GetParameter")
    refusal = refusal_of(cfn, stolen, "refuse-update")
    assert refusal["resource_id"] == arn and names_both_stacks(cfn, refusal["reason"])
    assert value not in str(cfn.records(stolen))


def test_foreign_update_cannot_regenerate_the_victims_secret(cfn: Cfn, hooks: RecordingClients) -> None:
    created = cfn.create(random_secret, SECRET, stack=VICTIM)
    arn = created["PhysicalResourceId"]
    value = secret_value(arn)
    hooks.reset()

    changed = cfn.update(random_secret, arn, {**SECRET, "Length": "64"}, SECRET, stack=ATTACKER)

    assert changed["Status"] == "FAILED" and names_both_stacks(cfn, changed["Reason"])
    assert secret_value(arn) == value
    assert not hooks.called("secretsmanager", "PutSecretValue")
    refusal_of(cfn, changed, "refuse-update")


@pytest.mark.parametrize("storage", ["SecretsManager", "SSM"])
def test_foreign_delete_leaves_the_victims_secret(cfn: Cfn, hooks: RecordingClients, storage: str) -> None:
    props = {"Name": "/victim/db-password", "Storage": storage, "RecoveryWindowInDays": "0"}
    created = cfn.create(random_secret, props, stack=VICTIM)
    arn = created["PhysicalResourceId"]
    hooks.reset()

    deleted = cfn.delete(random_secret, arn, props, stack=ATTACKER)

    assert deleted["Status"] == "SUCCESS"  # CloudFormation must be able to finish the attacker's stack
    assert deleted["PhysicalResourceId"] == arn
    assert names_both_stacks(cfn, deleted["Reason"]) and "nothing was changed" in deleted["Reason"]
    if storage == "SecretsManager":
        assert "DeletedDate" not in boto3.client("secretsmanager", region_name=REGION).describe_secret(SecretId=arn)
        assert secret_value(arn)
        assert not hooks.called("secretsmanager", "DeleteSecret")
    else:
        assert parameter_value(props["Name"])
        assert not hooks.called("ssm", "DeleteParameter")
    refusal = refusal_of(cfn, deleted, "refuse-delete")
    assert refusal["resource_id"] == arn and names_both_stacks(cfn, refusal["reason"])


def test_a_stack_recreated_under_the_same_name_is_another_stack(cfn: Cfn) -> None:
    created = cfn.create(random_secret, SECRET, stack=VICTIM)
    arn = created["PhysicalResourceId"]
    first = cfn.stacks.pop(VICTIM)  # the stack is deleted (retaining the secret) and made again: a new unique id
    again = cfn.stack_id(VICTIM)
    assert again != first and again.split("/")[1] == first.split("/")[1]

    stolen = cfn.update(random_secret, arn, {**SECRET, "ReturnValue": "true"}, SECRET, stack=VICTIM)
    deleted = cfn.delete(random_secret, arn, SECRET, stack=VICTIM)

    assert stolen["Status"] == "FAILED" and stolen["Data"] == {}
    assert first in stolen["Reason"] and again in stolen["Reason"]
    assert deleted["Status"] == "SUCCESS" and "refused" in deleted["Reason"]
    assert "DeletedDate" not in boto3.client("secretsmanager", region_name=REGION).describe_secret(SecretId=arn)


def test_a_secret_without_the_owner_tag_is_bound_to_no_stack(cfn: Cfn) -> None:
    """A secret carrying the provider's tag but no caretaker:stack-id (made before stack binding, or tagged by
    hand) answers nobody: an Update fails and a Delete changes nothing."""
    sm = boto3.client("secretsmanager", region_name=REGION)
    arn = sm.create_secret(Name="legacy/secret", SecretString="legacy-value",
                           Tags=[{"Key": "caretaker:automation", "Value": "random-secret"}])["ARN"]
    props = {"Name": "legacy/secret"}

    stolen = cfn.update(random_secret, arn, {**props, "ReturnValue": "true"}, props, stack=ATTACKER)
    deleted = cfn.delete(random_secret, arn, props, stack=ATTACKER)

    assert stolen["Status"] == "FAILED" and "carries no caretaker:stack-id tag" in stolen["Reason"]
    assert "legacy-value" not in str(stolen)
    assert deleted["Status"] == "SUCCESS" and "carries no caretaker:stack-id tag" in deleted["Reason"]
    assert secret_value(arn) == "legacy-value"
    refusal_of(cfn, deleted, "refuse-delete")


def test_a_secret_the_provider_may_not_read_is_refused_not_failed(cfn: Cfn, hooks: RecordingClients) -> None:
    """In AWS the role may describe only secrets carrying its own tag: AccessDenied means not Caretaker's."""
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="other-team/secret", SecretString="other-team-value")["ARN"]
    hooks.fail("secretsmanager", "DescribeSecret", "AccessDeniedException", "not authorized", times=None)

    deleted = cfn.delete(random_secret, arn, {"Name": "other-team/secret"}, stack=ATTACKER)

    assert deleted["Status"] == "SUCCESS" and "AccessDeniedException" in deleted["Reason"]
    assert secret_value(arn) == "other-team-value"
    assert not hooks.called("secretsmanager", "DeleteSecret")
    refusal_of(cfn, deleted, "refuse-delete")


def test_when_the_owner_cannot_be_read_nothing_is_changed(cfn: Cfn, hooks: RecordingClients) -> None:
    created = cfn.create(random_secret, SECRET, stack=VICTIM)
    arn = created["PhysicalResourceId"]
    hooks.fail("secretsmanager", "DescribeSecret", "InternalServiceError", "try again", times=None)

    deleted = cfn.delete(random_secret, arn, SECRET, stack=VICTIM)

    assert deleted["Status"] == "FAILED"
    assert "cannot tell whether stack" in deleted["Reason"] and "nothing was changed" in deleted["Reason"]
    assert not hooks.called("secretsmanager", "DeleteSecret")
    assert summary_of(cfn.records(deleted))["outcome"] == "failed"


def test_owner_update_and_delete_keep_working(cfn: Cfn) -> None:
    created = cfn.create(random_secret, SECRET, stack=VICTIM)
    arn = created["PhysicalResourceId"]
    tags = boto3.client("secretsmanager", region_name=REGION).describe_secret(SecretId=arn)["Tags"]
    assert {"Key": "caretaker:stack-id", "Value": cfn.stack_id(VICTIM)} in tags

    read = cfn.update(random_secret, arn, {**SECRET, "ReturnValue": "true"}, SECRET, stack=VICTIM)
    regenerated = cfn.update(random_secret, arn, {**SECRET, "Length": "40"}, SECRET, stack=VICTIM)
    deleted = cfn.delete(random_secret, arn, {**SECRET, "RecoveryWindowInDays": "7"}, stack=VICTIM)

    assert read["Status"] == "SUCCESS" and read["Data"]["Value"] and read["NoEcho"] is True
    assert regenerated["Status"] == "SUCCESS" and regenerated["PhysicalResourceId"] == arn
    assert deleted["Status"] == "SUCCESS", deleted["Reason"]
    assert "DeletedDate" in boto3.client("secretsmanager", region_name=REGION).describe_secret(SecretId=arn)
    assert [a["outcome"] for a in actions_of(cfn.records(deleted)) if a["action"] == "delete-secret"] == [
        "planned", "succeeded"]


def test_owner_replacement_binds_the_new_secret_and_deletes_the_old(cfn: Cfn) -> None:
    created = cfn.create(random_secret, SECRET, stack=VICTIM)
    old = created["PhysicalResourceId"]
    renamed = {"Name": "victim/db-password-2", "RecoveryWindowInDays": "0"}

    replaced = cfn.update(random_secret, old, renamed, SECRET, stack=VICTIM)
    cleanup = cfn.delete(random_secret, old, {**SECRET, "RecoveryWindowInDays": "0"}, stack=VICTIM)

    new = replaced["PhysicalResourceId"]
    assert replaced["Status"] == "SUCCESS" and new != old
    assert secret_value(new)
    tags = boto3.client("secretsmanager", region_name=REGION).describe_secret(SecretId=new)["Tags"]
    assert {"Key": "caretaker:stack-id", "Value": cfn.stack_id(VICTIM)} in tags
    assert cleanup["Status"] == "SUCCESS" and "deleted secret" in cleanup["Reason"]


def test_a_secret_already_gone_is_no_refusal(cfn: Cfn) -> None:
    created = cfn.create(random_secret, {**SECRET, "RecoveryWindowInDays": "0"}, stack=VICTIM)
    arn = created["PhysicalResourceId"]
    boto3.client("secretsmanager", region_name=REGION).delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)

    deleted = cfn.delete(random_secret, arn, SECRET, stack=ATTACKER)

    assert deleted["Status"] == "SUCCESS" and "already gone" in deleted["Reason"]


# ---------------------------------------------------------------------------- SecureStringParameter


def test_foreign_delete_leaves_the_victims_secure_string_parameter(cfn: Cfn, hooks: RecordingClients) -> None:
    created = cfn.create(secure_string_parameter, PARAMETER, stack=VICTIM)
    arn = created["PhysicalResourceId"]
    hooks.reset()

    deleted = cfn.delete(secure_string_parameter, arn, PARAMETER, stack=ATTACKER)

    assert deleted["Status"] == "SUCCESS" and deleted["PhysicalResourceId"] == arn
    assert names_both_stacks(cfn, deleted["Reason"])
    assert parameter_value(PARAMETER["Name"]) == PARAMETER["Value"]
    assert not hooks.called("ssm", "DeleteParameter")
    refusal = refusal_of(cfn, deleted, "refuse-delete")
    assert names_both_stacks(cfn, refusal["reason"])


def test_foreign_update_cannot_overwrite_the_victims_secure_string_parameter(cfn: Cfn, hooks: RecordingClients) -> None:
    created = cfn.create(secure_string_parameter, PARAMETER, stack=VICTIM)
    arn = created["PhysicalResourceId"]
    hooks.reset()

    changed = cfn.update(secure_string_parameter, arn, {**PARAMETER, "Value": "attacker-chosen"}, PARAMETER,
                         stack=ATTACKER)

    assert changed["Status"] == "FAILED" and names_both_stacks(cfn, changed["Reason"])
    assert "attacker-chosen" not in changed["Reason"]
    assert parameter_value(PARAMETER["Name"]) == PARAMETER["Value"]
    assert not hooks.called("ssm", "PutParameter")
    refusal_of(cfn, changed, "refuse-update")


def test_owner_update_and_delete_of_a_secure_string_parameter_keep_working(cfn: Cfn) -> None:
    created = cfn.create(secure_string_parameter, PARAMETER, stack=VICTIM)
    arn = created["PhysicalResourceId"]

    updated = cfn.update(secure_string_parameter, arn, {**PARAMETER, "Value": "rotated"}, PARAMETER, stack=VICTIM)
    assert updated["Status"] == "SUCCESS" and parameter_value(PARAMETER["Name"]) == "rotated"
    deleted = cfn.delete(secure_string_parameter, arn, PARAMETER, stack=VICTIM)

    assert deleted["Status"] == "SUCCESS", deleted["Reason"]
    assert boto3.client("ssm", region_name=REGION).describe_parameters()["Parameters"] == []


def test_random_secret_cannot_act_on_a_secure_string_parameter_of_the_same_stack(cfn: Cfn) -> None:
    """One stack, two providers: RandomSecret's requests never reach what SecureStringParameter created."""
    created = cfn.create(secure_string_parameter, PARAMETER, stack=ATTACKER)
    arn = created["PhysicalResourceId"]
    props = {"Name": PARAMETER["Name"], "Storage": "SSM"}

    read = cfn.update(random_secret, arn, {**props, "ReturnValue": "true"}, props, stack=ATTACKER)
    deleted = cfn.delete(random_secret, arn, props, stack=ATTACKER)

    assert read["Status"] == "FAILED" and "was not created by random-secret" in read["Reason"]
    assert PARAMETER["Value"] not in str(read)
    assert deleted["Status"] == "SUCCESS" and "refused" in deleted["Reason"]
    assert parameter_value(PARAMETER["Name"]) == PARAMETER["Value"]
    refusal_of(cfn, deleted, "refuse-delete")
