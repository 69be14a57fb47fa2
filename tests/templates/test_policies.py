"""Permission declarations -> IAM statements."""

from __future__ import annotations

import pytest
from troposphere import GetAtt, Sub

from automations.core.spec import Permission
from templates.policies import assume_role_document, policy_document, resource_value, resource_variables, statement

BINDINGS = {"StateTableArn": GetAtt("Table", "Arn"), "LogGroupArn": GetAtt("Logs", "Arn")}


def test_literal_resources_stay_strings() -> None:
    assert resource_value("*", BINDINGS) == "*"


def test_pseudo_parameters_only_need_a_plain_sub() -> None:
    value = resource_value("arn:${AWS::Partition}:ec2:*::snapshot/*", BINDINGS)
    assert isinstance(value, Sub)
    assert value.to_dict() == {"Fn::Sub": "arn:${AWS::Partition}:ec2:*::snapshot/*"}


def test_only_used_variables_are_bound() -> None:
    value = resource_value("${StateTableArn}/index/*", BINDINGS)
    assert isinstance(value, Sub)
    assert value.to_dict() == {"Fn::Sub": ["${StateTableArn}/index/*",
                                           {"StateTableArn": {"Fn::GetAtt": ["Table", "Arn"]}}]}


def test_unbound_variables_fail_loudly() -> None:
    with pytest.raises(KeyError, match="AlertTopicArn"):
        resource_value("${AlertTopicArn}", BINDINGS)


def test_variables_skip_pseudo_parameters_and_escapes() -> None:
    assert resource_variables("${AWS::Region}${StateTableArn}${!Literal}${StateTableArn}") == ["StateTableArn"]


def test_condition_becomes_the_statement_condition() -> None:
    permission = Permission(("ec2:DeleteSnapshot",), ("*",),
                            condition={"StringEquals": {"aws:ResourceTag/k": "v"}})
    assert statement(permission, BINDINGS) == {
        "Effect": "Allow", "Action": ["ec2:DeleteSnapshot"], "Resource": ["*"],
        "Condition": {"StringEquals": {"aws:ResourceTag/k": "v"}},
    }


def test_statements_without_condition_have_none() -> None:
    assert "Condition" not in statement(Permission(("s3:ListAllMyBuckets",)), BINDINGS)


def test_policy_keeps_declaration_order() -> None:
    permissions = [Permission(("a:One",)), Permission(("b:Two",))]
    document = policy_document(permissions, BINDINGS)
    assert document["Version"] == "2012-10-17"
    assert [s["Action"] for s in document["Statement"]] == [["a:One"], ["b:Two"]]


def test_trust_policy_names_one_service() -> None:
    assert assume_role_document("lambda.amazonaws.com")["Statement"][0]["Principal"] == {
        "Service": ["lambda.amazonaws.com"]}
