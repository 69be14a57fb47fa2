"""Attacks on the IAM statements and keys of the rendered templates (docs/security-model.md section 6).

moto does not evaluate IAM conditions, so the requests an attacker would make are evaluated here
against every statement of every rendered stack by a small evaluator of the policy language (the
operators Caretaker's templates use; an unknown operator fails the test). Each attack has a
legitimate request beside it that must stay allowed. The registry meta-tests check each
function's rendered policy against `automations.core.iam_rules`, and one test deploys the state
table's template on moto.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import boto3
import pytest
from moto import mock_aws
from troposphere import Template

from automations.core import iam_rules, registry
from automations.core.spec import FunctionSpec, pascal
from templates import names
from templates.consumer_example import render_consumer_example
from templates.core_stack import state_key, state_table
from templates.rotation_example import example_template
from templates.stacks import StackDef, render_all

REGION = "us-east-1"
ACCOUNT = "123456789012"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
SPECS = registry.discover()
USER = f"arn:aws:iam::{ACCOUNT}:user/"
SNAPSHOT = f"arn:aws:ec2:{REGION}::snapshot/snap-0123456789abcdef0"
STATE_KEY = f"import:{names.STATE_KEY_ARN}"

Context = Mapping[str, str | list[str]]


# ------------------------------------------------------------------ a small policy evaluator


def resolve(value: Any, variables: Mapping[str, Any] | None = None) -> str:
    """A template value as a string: pseudo parameters filled in, imports as `import:<export>`."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return PSEUDO.get(value["Ref"], f"ref:{value['Ref']}")
    if "Fn::ImportValue" in value:
        return "import:" + resolve(value["Fn::ImportValue"]).rsplit("-", 1)[-1]
    if "Fn::GetAtt" in value:
        return "getatt:" + ".".join(value["Fn::GetAtt"])
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return str(delimiter).join(resolve(part) for part in parts)
    if "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        text, bound = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
        return re.sub(r"\$\{([^}]+)\}", lambda m: resolve(bound[m.group(1)]) if m.group(1) in bound
                      else PSEUDO.get(m.group(1), f"ref:{m.group(1)}"), text)
    raise AssertionError(f"cannot resolve {value!r}")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _compare(operator: str, actual: str, expected: list[Any]) -> bool:
    base = operator.replace("Not", "", 1)
    if base == "StringEquals":
        found = actual in [str(e) for e in expected]
    elif base == "StringEqualsIgnoreCase":
        found = actual.lower() in [str(e).lower() for e in expected]
    elif base == "StringLike":
        found = any(fnmatch.fnmatchcase(actual, str(e)) for e in expected)
    else:
        raise AssertionError(f"the evaluator does not know the operator {operator}")
    return found != ("Not" in operator)


def condition_holds(condition: Mapping[str, Mapping[str, Any]], context: Context) -> bool:
    for full_operator, tests in condition.items():
        qualifier, _, operator = full_operator.rpartition(":")
        for key, expected in tests.items():
            actual = context.get(key)
            if operator == "Null":
                if (str(expected).lower() == "true") != (actual is None):
                    return False
                continue
            if_exists = operator.endswith("IfExists")
            operator = operator.removesuffix("IfExists")
            if actual is None:
                holds = qualifier == "ForAllValues" or if_exists or (not qualifier and "Not" in operator)
            elif qualifier == "ForAllValues":
                holds = all(_compare(operator, v, _listed(expected)) for v in _listed(actual))
            elif qualifier == "ForAnyValue":
                holds = any(_compare(operator, v, _listed(expected)) for v in _listed(actual))
            else:
                holds = _compare(operator, str(actual), _listed(expected))
            if not holds:
                return False
    return True


def _matches(statement: Mapping[str, Any], action: str, resource: str, context: Context) -> bool:
    actions = [a.lower() for a in _listed(statement["Action"])]
    resources = [resolve(r) for r in _listed(statement.get("Resource", "*"))]
    return (any(fnmatch.fnmatchcase(action.lower(), a) for a in actions)
            and any(fnmatch.fnmatchcase(resource, r) for r in resources)
            and condition_holds(statement.get("Condition", {}), context))


def allowed(statements: Sequence[Mapping[str, Any]], action: str, resource: str,
            context: Context | None = None) -> bool:
    context = context or {}
    if any(s["Effect"] == "Deny" and _matches(s, action, resource, context) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _matches(s, action, resource, context) for s in statements)


# ------------------------------------------------------------------ the rendered templates


@pytest.fixture(scope="module")
def stacks() -> list[StackDef]:
    return render_all("caretaker-code-000000000000.zip", "caretaker-deps-000000000000.zip",
                      "caretaker-bytecode-000000000000.zip")


def _templates(stacks: list[StackDef]) -> dict[str, dict[str, Any]]:
    rendered = {stack.name: stack.template.to_dict() for stack in stacks}
    rendered["rotation-example"] = example_template().to_dict()
    rendered["consumer-example"] = render_consumer_example().to_dict()
    return rendered


def _statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every statement of every policy document (roles, policies, key, bucket, queue policies) in a template."""
    if isinstance(node, dict):
        statements = node.get("Statement")
        if isinstance(statements, list) and all(isinstance(s, dict) and "Effect" in s for s in statements):
            yield from statements
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _statements(value)


def role_statements(stacks: list[StackDef]) -> dict[str, list[dict[str, Any]]]:
    """Every IAM role of every stack -> the statements of its inline and attached policies."""
    roles: dict[str, list[dict[str, Any]]] = {}
    for stack_name, data in _templates(stacks).items():
        resources = data.get("Resources", {})
        for logical_id, resource in resources.items():
            if resource["Type"] == "AWS::IAM::Role":
                roles[f"{stack_name}/{logical_id}"] = list(_statements(resource["Properties"].get("Policies", [])))
        for resource in resources.values():
            if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                for role in resource["Properties"].get("Roles", []):
                    roles[f"{stack_name}/{role['Ref']}"] += list(_statements(resource["Properties"]["PolicyDocument"]))
    return roles


def role_of(stacks: list[StackDef], function: str) -> list[dict[str, Any]]:
    (statements,) = [s for name, s in role_statements(stacks).items() if name.endswith(f"/{pascal(function)}Role")]
    return statements


def test_the_evaluator_follows_iam_for_missing_keys() -> None:
    """The semantics the attacks rely on: ForAllValues and negated operators match a missing key, Null does not."""
    assert condition_holds({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {})
    assert not condition_holds(iam_rules.TAG_KEYS_PRESENT, {})
    assert condition_holds({"StringNotEqualsIgnoreCase": {"aws:ResourceTag/p": "true"}}, {})
    assert not condition_holds({"StringEqualsIgnoreCase": {"aws:ResourceTag/p": "true"}}, {})
    assert condition_holds({"StringLike": {"k": ["caretaker/*"]}}, {"k": "caretaker/x"})
    with pytest.raises(AssertionError, match="operator"):
        condition_holds({"ArnLike": {"k": "x"}}, {"k": "x"})


# ------------------------------------------------------------------ tag removal


def test_delete_tags_without_tag_list_is_not_allowed_by_any_policy(stacks: list[StackDef]) -> None:
    """DeleteTags with no tag list removes every tag, caretaker:protect included: no role may make that call."""
    roles = role_statements(stacks)
    assert len(roles) == len(SPECS)
    for name, statements in roles.items():
        for action in ("ec2:DeleteTags", "logs:UntagResource"):
            assert not allowed(statements, action, SNAPSHOT), f"{name} may call {action} without a tag list"
            assert not allowed(statements, action, f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:app"), name
        for statement in statements:
            if statement["Effect"] == "Allow" and any(iam_rules.removes_tags(a) for a in _listed(statement["Action"])):
                assert iam_rules.tag_removal_problem(statement.get("Condition")) is None, (name, statement)


def test_no_role_may_remove_the_protect_tag(stacks: list[StackDef]) -> None:
    for name, statements in role_statements(stacks).items():
        for keys in (["caretaker:protect"], ["caretaker:cleanup-after", "caretaker:protect"]):
            assert not allowed(statements, "ec2:DeleteTags", SNAPSHOT, {"aws:TagKeys": keys}), name


def test_cleanup_still_removes_its_own_cleanup_after_tag(stacks: list[StackDef]) -> None:
    statements = role_of(stacks, "cleanup-ebs-snapshots")
    context = {"aws:TagKeys": ["caretaker:cleanup-after"]}
    assert allowed(statements, "ec2:DeleteTags", SNAPSHOT, context)
    assert allowed(statements, "ec2:CreateTags", SNAPSHOT, context)
    logs = role_of(stacks, "cleanup-log-retention")
    assert allowed(logs, "logs:UntagResource", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:app", context)


# ------------------------------------------------------------------ access keys


def test_access_key_creation_needs_the_opt_in_tag(stacks: list[StackDef]) -> None:
    """No role may mint (or delete) keys of a user nobody opted in: an admin user, say."""
    for name, statements in role_statements(stacks).items():
        for action in ("iam:CreateAccessKey", "iam:DeleteAccessKey"):
            assert not allowed(statements, action, USER + "admin"), f"{name} may {action} on any user"
            # a tag the code does not read, or a negated-only condition, does not opt in
            assert not allowed(statements, action, USER + "admin", {"aws:ResourceTag/team:rotate": "true"}), name


def test_opted_in_users_keep_rotating(stacks: list[StackDef]) -> None:
    scheduled = role_of(stacks, "access-key-rotation")
    tagged = {"aws:ResourceTag/caretaker:rotate": "True"}
    for action in ("iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:UpdateAccessKey"):
        assert allowed(scheduled, action, USER + "svc-build", tagged), action
    rotation = role_of(stacks, "rotate-iam-access-key")
    for binding in ("caretaker/ci/key", f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:caretaker/ci/key-AbCdEf"):
        bound = {"aws:ResourceTag/caretaker:rotation-secret": binding}
        for action in ("iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:UpdateAccessKey", "iam:ListAccessKeys"):
            assert allowed(rotation, action, USER + "svc-deploy", bound), (action, binding)


def test_secret_rotation_cannot_mint_keys_for_a_user_bound_outside_caretaker_secrets(stacks: list[StackDef]) -> None:
    """Rotated secrets are caretaker/...; a user naming any other secret is not the rotation function's."""
    rotation = role_of(stacks, "rotate-iam-access-key")
    bound = {"aws:ResourceTag/caretaker:rotation-secret": "team/their-secret"}
    assert not allowed(rotation, "iam:CreateAccessKey", USER + "svc-deploy", bound)


def test_protected_users_keys_are_never_changed_by_any_role(stacks: list[StackDef]) -> None:
    protected = {"aws:ResourceTag/caretaker:protect": "TRUE", "aws:ResourceTag/caretaker:rotate": "true",
                 "aws:ResourceTag/caretaker:rotation-secret": "caretaker/ci/key"}
    for name, statements in role_statements(stacks).items():
        for action in iam_rules.KEY_LIFECYCLE_ACTIONS:
            assert not allowed(statements, action, USER + "break-glass", protected), f"{name}: {action}"


def test_unused_keys_of_users_not_opted_in_can_still_be_deactivated(stacks: list[StackDef]) -> None:
    """The scheduled rotation's documented report-and-deactivate path for everyone else keeps working."""
    assert allowed(role_of(stacks, "access-key-rotation"), "iam:UpdateAccessKey", USER + "human")
    assert allowed(role_of(stacks, "iam-credential-guard"), "iam:UpdateAccessKey", USER + "console-user")


# ------------------------------------------------------------------ Describe scoping


def test_describe_image_attribute_reads_only_images(stacks: list[StackDef]) -> None:
    statements = role_of(stacks, "cleanup-amis")
    assert allowed(statements, "ec2:DescribeImageAttribute", f"arn:aws:ec2:{REGION}::image/ami-0123456789abcdef0")
    assert not allowed(statements, "ec2:DescribeImageAttribute", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1")


# ------------------------------------------------------------------ KMS


def test_dead_letter_queues_and_state_table_use_caretakers_key(stacks: list[StackDef]) -> None:
    core = stacks[0].template.to_dict()
    table = core["Resources"]["StateTable"]["Properties"]["SSESpecification"]
    assert table == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Fn::GetAtt": ["StateKey", "Arn"]}}
    assert core["Outputs"][names.STATE_KEY_ARN]["Value"] == {"Fn::GetAtt": ["StateKey", "Arn"]}
    queues = 0
    for stack in stacks[1:]:
        for resource in stack.template.to_dict()["Resources"].values():
            if resource["Type"] == "AWS::SQS::Queue":
                queues += 1
                assert resource["Properties"]["KmsMasterKeyId"] == {
                    "Fn::ImportValue": {"Fn::Sub": "${CoreStackName}-" + names.STATE_KEY_ARN}}
                assert "SqsManagedSseEnabled" not in resource["Properties"]
    assert queues == len(SPECS)


def test_every_role_uses_the_state_key_only_through_dynamodb_and_sqs(stacks: list[StackDef]) -> None:
    """A role's grant on the state key cannot decrypt a stolen ciphertext directly, only through the services."""
    for name, statements in role_statements(stacks).items():
        for service in ("dynamodb", "sqs"):
            via = {"kms:ViaService": f"{service}.{REGION}.amazonaws.com"}
            for action in ("kms:Decrypt", "kms:GenerateDataKey"):
                assert allowed(statements, action, STATE_KEY, via), (name, service, action)
        for context in ({}, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}):
            assert not allowed(statements, "kms:Decrypt", STATE_KEY, context), name
        assert not allowed(statements, "kms:Decrypt", f"import:{names.ALERT_KEY_ARN}"), name
        assert allowed(statements, "kms:GenerateDataKey", f"import:{names.ALERT_KEY_ARN}",
                       {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}), name


def test_state_key_is_not_the_alarm_key_and_keeps_rotating(stacks: list[StackDef]) -> None:
    """CloudWatch may use the alert key; the state key's policy names nobody but the account."""
    resources = stacks[0].template.to_dict()["Resources"]
    state = resources["StateKey"]["Properties"]
    assert state["EnableKeyRotation"] is True
    principals = [s["Principal"] for s in state["KeyPolicy"]["Statement"]]
    assert principals == [{"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}]
    assert resources["AlertTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlertKey"}


@mock_aws
def test_state_table_deployed_from_the_template_is_encrypted_with_the_state_key() -> None:
    template = Template()
    key = template.add_resource(state_key())
    template.add_resource(state_table(key))
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(StackName="caretaker-core", TemplateBody=template.to_json())
    resources = cloudformation.describe_stack_resources(StackName="caretaker-core")["StackResources"]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    # moto 5.2.5 describes SSE only for the API's spelling ("Enabled"), not CloudFormation's
    # ("SSEEnabled"), and its CloudFormation stores key policies in a form its DescribeKey cannot read:
    # read what the table was created with from moto's backend.
    from moto.dynamodb.models import dynamodb_backends

    sse = dynamodb_backends[ACCOUNT][REGION].tables[physical["StateTable"]].sse_specification
    assert sse is not None and sse["SSEType"] == "KMS"
    assert sse["KMSMasterKeyId"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{physical['StateKey']}"
    assert boto3.client("kms", region_name=REGION).list_keys()["Keys"][0]["KeyId"] == physical["StateKey"]


# ------------------------------------------------------------------ registry meta-tests


@pytest.fixture(params=SPECS, ids=[s.name for s in SPECS])
def spec(request: pytest.FixtureRequest) -> FunctionSpec:
    result: FunctionSpec = request.param
    return result


def test_rendered_role_follows_the_iam_rules(stacks: list[StackDef], spec: FunctionSpec) -> None:
    """Tag removal guarded, key lifecycle conditioned on the user's tags, Describe scoped where AWS allows."""
    problems: list[str] = []
    for statement in role_of(stacks, spec.name):
        actions = _listed(statement["Action"])
        problems += iam_rules.refusals(actions, statement.get("Condition"))
        resources = [resolve(r) for r in _listed(statement["Resource"])]
        problems += [p for a in actions if (p := iam_rules.describe_scope_problem(a, resources))]
    assert problems == []
