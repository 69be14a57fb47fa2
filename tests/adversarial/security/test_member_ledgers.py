"""Attacks on the organization's read path: the hub's reader and operator roles in each member, and one member
reaching another's ledger (docs/organizations.md, "Who can do what").

moto does not evaluate IAM resources or conditions, so the roles' statements are evaluated by the policy
evaluator of tests/adversarial/templates; one test shows on moto that a member's credentials see its own
ledger only. Each attack has the legitimate request beside it.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from templates import names
from templates.member import MODE_OVERRIDE_PK, STATE_KEY_ALIAS
from templates.organization import render_organization
from tests.adversarial.templates.test_iam_statements import ACCOUNT, _statements, allowed, resolve

OTHER_ACCOUNT = "999999999999"
ORG = render_organization("c.zip", "d.zip", "b.zip")
MEMBER_TEMPLATES = {s.stack.name: s.stack.template.to_dict() for s in ORG.stack_sets}


def table(region: str = "us-east-1", account: str = ACCOUNT, name: str = names.MEMBER_STATE_TABLE) -> str:
    return f"arn:aws:dynamodb:{region}:{account}:table/{name}"


def role(logical_id: str) -> dict[str, Any]:
    for template in MEMBER_TEMPLATES.values():
        if logical_id in template["Resources"]:
            found: dict[str, Any] = template["Resources"][logical_id]["Properties"]
            return found
    raise KeyError(logical_id)


def statements(logical_id: str) -> list[dict[str, Any]]:
    return list(_statements(role(logical_id)["Policies"]))


READER, OPERATOR = statements("ReaderRole"), statements("OperatorRole")
STATE_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VIA_DYNAMODB: dict[str, str | list[str]] = {"kms:ViaService": "dynamodb.eu-west-1.amazonaws.com",
                                            "kms:ResourceAliases": [STATE_KEY_ALIAS]}


@pytest.mark.parametrize("action", ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                                    "dynamodb:BatchWriteItem", "dynamodb:DeleteTable", "dynamodb:UpdateTable"])
def test_reader_cannot_change_the_ledger(action: str) -> None:
    assert not allowed(READER, action, table())


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2"])
def test_reader_still_reads_the_members_ledger_in_every_region(region: str) -> None:
    for action in ("dynamodb:Query", "dynamodb:GetItem", "dynamodb:Scan", "dynamodb:DescribeTable"):
        assert allowed(READER, action, table(region))
    assert allowed(READER, "dynamodb:Query", table(region) + "/index/by-resource")


@pytest.mark.parametrize("resource", [table(name="payments"), table(name="caretaker-state-copy"),
                                      table(account=OTHER_ACCOUNT)])
def test_reader_cannot_read_other_tables_nor_another_accounts_ledger(resource: str) -> None:
    assert not allowed(READER, "dynamodb:Scan", resource)
    assert not allowed(READER, "dynamodb:GetItem", resource)


def test_reader_decrypts_the_state_key_only_through_dynamodb() -> None:
    assert allowed(READER, "kms:Decrypt", STATE_KEY, VIA_DYNAMODB)
    via_s3 = {**VIA_DYNAMODB, "kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    assert not allowed(READER, "kms:Decrypt", STATE_KEY, via_s3)
    assert not allowed(READER, "kms:Decrypt", STATE_KEY, {**VIA_DYNAMODB, "kms:ResourceAliases": ["alias/payments"]})
    assert not allowed(READER, "kms:Decrypt", STATE_KEY)  # called directly: no ViaService
    assert not allowed(READER, "kms:Encrypt", STATE_KEY, VIA_DYNAMODB)


def test_operator_writes_only_mode_override_items() -> None:
    assert allowed(OPERATOR, "dynamodb:PutItem", table(), {"dynamodb:LeadingKeys": [MODE_OVERRIDE_PK]})
    assert allowed(OPERATOR, "dynamodb:UpdateItem", table("eu-west-1"), {"dynamodb:LeadingKeys": [MODE_OVERRIDE_PK]})
    for keys in (["RUN#2026-01-01T00:00:00Z#ebs-snapshots"], [MODE_OVERRIDE_PK, "RUN#x"]):
        assert not allowed(OPERATOR, "dynamodb:PutItem", table(), {"dynamodb:LeadingKeys": keys})
    for action in ("dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:Scan", "dynamodb:DeleteTable"):
        assert not allowed(OPERATOR, action, table(), {"dynamodb:LeadingKeys": [MODE_OVERRIDE_PK]})
    assert not allowed(OPERATOR, "dynamodb:PutItem", table(name="payments"),
                       {"dynamodb:LeadingKeys": [MODE_OVERRIDE_PK]})


@pytest.mark.parametrize("logical_id", ["ReaderRole", "OperatorRole"])
def test_reader_and_operator_trust_the_hub_account_only(logical_id: str) -> None:
    (trust,) = role(logical_id)["AssumeRolePolicyDocument"]["Statement"]
    assert [resolve(p) for p in trust["Principal"]["AWS"]] == ["arn:aws:iam::ref:HubAccountId:root"]
    assert set(trust["Principal"]) == {"AWS"} and trust["Action"] == ["sts:AssumeRole"]


def test_no_member_function_role_reaches_another_account() -> None:
    """Blast radius one account: no role of a member template reads another account's ledger or assumes a role."""
    for name, template in MEMBER_TEMPLATES.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            granted = list(_statements(resource["Properties"].get("Policies", [])))
            where = f"{name}/{logical_id}"
            assert not allowed(granted, "dynamodb:Scan", table(account=OTHER_ACCOUNT)), where
            assert not allowed(granted, "dynamodb:PutItem", table(account=OTHER_ACCOUNT),
                               {"dynamodb:LeadingKeys": [MODE_OVERRIDE_PK]}), where
            assert not allowed(granted, "sts:AssumeRole",
                               f"arn:aws:iam::{OTHER_ACCOUNT}:role/{names.READER_ROLE_NAME}"), where


def member(account: str) -> boto3.Session:
    credentials = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/developer",
                                                  RoleSessionName="developer")["Credentials"]
    return boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                         aws_secret_access_key=credentials["SecretAccessKey"],
                         aws_session_token=credentials["SessionToken"], region_name="us-east-1")


def test_a_member_cannot_read_another_members_ledger() -> None:
    """Each member's state table lives in its own account: a developer in one member, naming the other's table
    (by name or ARN), reaches its own or nothing."""
    one, two = "111111111111", "222222222222"
    for account in (one, two):
        client = member(account).client("dynamodb")
        client.create_table(
            TableName=names.MEMBER_STATE_TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    secret = {"pk": {"S": "RUN#two"}, "sk": {"S": "ACTION#1"}, "reason": {"S": "member two's finding"}}
    member(two).client("dynamodb").put_item(TableName=names.MEMBER_STATE_TABLE, Item=secret)

    attacker = member(one).client("dynamodb")
    assert attacker.scan(TableName=names.MEMBER_STATE_TABLE)["Items"] == []
    try:
        seen = attacker.scan(TableName=table(account=two))["Items"]
    except attacker.exceptions.ClientError:
        seen = []
    assert secret not in seen
    assert member(two).client("dynamodb").scan(TableName=names.MEMBER_STATE_TABLE)["Items"] == [secret]
