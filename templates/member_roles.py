"""The roles the hub's CLI assumes in each member (account-scoped stack set): `caretaker-reader` for
`report --org`, `caretaker-operator` for `mode --org`. Both trust the hub account only and reach the member's
state tables only (every region of the member: table names are regional, IAM is global)."""

from __future__ import annotations

from troposphere import Parameter, Ref, Sub, iam

from automations.core.mode_override import CONFIG_PARTITION
from templates import names
from templates.policies import POLICY_VERSION

#: The alias of every member state key (the regional template sets it): the roles' KMS grants name it.
STATE_KEY_ALIAS = f"alias/{names.MEMBER_STATE_TABLE}"
#: The partition key of the run-time mode-override items; the operator role may write no other.
MODE_OVERRIDE_PK = CONFIG_PARTITION


def policy(name: str, statements: list[dict[str, object]]) -> iam.Policy:
    return iam.Policy(PolicyName=name, PolicyDocument={"Version": POLICY_VERSION, "Statement": statements})


def member_tables(suffix: str = "") -> Sub:
    """This member's state tables in every region (and, with `/index/*`, their indexes)."""
    return Sub("arn:${AWS::Partition}:dynamodb:*:${AWS::AccountId}:table/" + names.MEMBER_STATE_TABLE + suffix)


def state_key_via_dynamodb(actions: list[str]) -> dict[str, object]:
    """The member's state keys (every region), only through DynamoDB, only the keys aliased as Caretaker's."""
    return {"Effect": "Allow", "Action": actions,
            "Resource": [Sub("arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*")],
            "Condition": {"StringLike": {"kms:ViaService": "dynamodb.*.amazonaws.com"},
                          "ForAnyValue:StringEquals": {"kms:ResourceAliases": [STATE_KEY_ALIAS]}}}


def hub_trust(hub_account: Parameter) -> dict[str, object]:
    return {"Version": POLICY_VERSION, "Statement": [{
        "Effect": "Allow", "Action": ["sts:AssumeRole"],
        "Principal": {"AWS": [Sub("arn:${AWS::Partition}:iam::${Hub}:root", Hub=Ref(hub_account))]}}]}


def _hub_role(title: str, name: str, description: str, hub_account: Parameter,
              statements: list[dict[str, object]]) -> iam.Role:
    return iam.Role(title, RoleName=name, Description=description, AssumeRolePolicyDocument=hub_trust(hub_account),
                    Policies=[policy(name, statements)])


def reader_role(hub_account: Parameter) -> iam.Role:
    """`caretaker-reader`: reads this member's state tables (all regions), nothing else."""
    return _hub_role("ReaderRole", names.READER_ROLE_NAME,
                     "Caretaker hub reads this account's state tables (report --org); read-only", hub_account, [
                         {"Effect": "Allow", "Resource": [member_tables(), member_tables("/index/*")],
                          "Action": ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:Scan", "dynamodb:DescribeTable"]},
                         state_key_via_dynamodb(["kms:Decrypt"]),
                     ])


def operator_role(hub_account: Parameter) -> iam.Role:
    """`caretaker-operator`: writes only the run-time mode-override items (`mode --org`)."""
    return _hub_role("OperatorRole", names.OPERATOR_ROLE_NAME,
                     "Caretaker hub sets run-time mode overrides in this account's state tables (mode --org)",
                     hub_account, [
                         {"Effect": "Allow", "Resource": [member_tables()],
                          "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"],
                          "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [MODE_OVERRIDE_PK]}}},
                         state_key_via_dynamodb(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]),
                     ])
