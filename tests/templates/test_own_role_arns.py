"""CARETAKER_OWN_ROLE_ARNS in the rendered templates: every function trusts exactly the roles of its own stack
(GetAtt) plus `CaretakerRoleArns`, each stack outputs its roles, deploy order puts the security stack last."""

from __future__ import annotations

from typing import Any

import pytest

from automations.core.spec import OWN_ROLE_ARNS_ENV
from builder.deploy import Target, stack_parameters
from templates.stacks import StackDef, render_all
from tests.templates.helpers import resources_of_type

#: The longest ARN CloudFormation can give a Caretaker role: the longest partition, the path, a 64-character name.
MAX_ROLE_ARN = len("arn:aws-us-gov:iam::123456789012:role/caretaker/") + 64
#: Lambda's limit on a function's environment (names and values together).
ENVIRONMENT_LIMIT = 4096
#: Upper bounds of the values known only at deploy: a DynamoDB table name, an SNS topic ARN.
DEPLOY_TIME_VALUES = {"CARETAKER_STATE_TABLE": 255,
                      "CARETAKER_ALERT_TOPIC_ARN": len("arn:aws-us-gov:sns:us-gov-west-1:123456789012:") + 256}


@pytest.fixture(scope="module")
def stacks() -> list[StackDef]:
    return render_all("caretaker-code-000000000000.zip", "caretaker-deps-000000000000.zip",
                      "caretaker-bytecode-000000000000.zip")


def function_stacks(stacks: list[StackDef]) -> list[StackDef]:
    return [s for s in stacks if s.functions]


def role_arns_of(data: dict[str, Any]) -> dict[str, Any]:
    """`Fn::Join` of GetAtt(role, Arn) for every role of the template, in template order."""
    return {"Fn::Join": [",", [{"Fn::GetAtt": [name, "Arn"]}
                               for name in resources_of_type(data, "AWS::IAM::Role")]]}


def test_every_function_trusts_exactly_every_role_of_its_stack_and_the_parameter(stacks: list[StackDef]) -> None:
    for stack in function_stacks(stacks):
        data = stack.template.to_dict()
        own = role_arns_of(data)["Fn::Join"][1]
        assert len(own) == len(stack.functions)
        expected = {"Fn::Join": [",", [*own, {"Fn::Join": [",", {"Ref": "CaretakerRoleArns"}]}]]}
        for resources in stack.functions:
            env = data["Resources"][resources.spec.logical_id]["Properties"]["Environment"]["Variables"]
            assert env[OWN_ROLE_ARNS_ENV] == expected, resources.spec.name
            # every GetAtt names a role of this template (troposphere objects, not hand-written ids)
            assert {ref["Fn::GetAtt"][0] for ref in own} == set(resources_of_type(data, "AWS::IAM::Role"))


def test_the_other_stacks_roles_come_from_a_parameter_that_trusts_nothing_by_default(stacks: list[StackDef]) -> None:
    for stack in function_stacks(stacks):
        parameter = stack.template.to_dict()["Parameters"]["CaretakerRoleArns"]
        assert (parameter["Type"], parameter["Default"]) == ("CommaDelimitedList", "")
        assert stack.parameters["CaretakerRoleArns"] == ""


def test_every_function_stack_outputs_its_role_arns(stacks: list[StackDef]) -> None:
    for stack in function_stacks(stacks):
        data = stack.template.to_dict()
        assert data["Outputs"]["RoleArns"]["Value"] == role_arns_of(data)


def test_the_manifest_default_is_resolved_at_deploy(stacks: list[StackDef]) -> None:
    for stack in function_stacks(stacks):
        for resources in stack.functions:
            [var] = [v for v in resources.environment if v.name == OWN_ROLE_ARNS_ENV]
            assert var.default == ""


def test_no_role_depends_on_a_function_so_the_environment_makes_no_cycle(stacks: list[StackDef]) -> None:
    for stack in function_stacks(stacks):
        data = stack.template.to_dict()
        functions = set(resources_of_type(data, "AWS::Lambda::Function"))
        for name, role in resources_of_type(data, "AWS::IAM::Role").items():
            text = repr(role)
            assert not [f for f in functions if f"'{f}'" in text], name


def test_the_security_stack_deploys_after_every_stack_whose_roles_it_trusts(stacks: list[StackDef]) -> None:
    names = [s.name for s in stacks]
    assert names[0] == "caretaker-core"
    assert names[-1] == "caretaker-security"
    assert set(names[1:-1]) == {"caretaker-scheduled", "caretaker-rotation", "caretaker-custom-resources"}


def test_the_environment_fits_lambdas_limit_with_every_role_arn_at_its_longest(stacks: list[StackDef]) -> None:
    """Worst case: every ARN of this and the earlier stacks at its maximum length, deploy-time values at theirs."""
    trusted = 0
    for stack in function_stacks(stacks):
        trusted += len(stack.functions)  # the stacks before it, and its own
        own_value = trusted * MAX_ROLE_ARN + (trusted - 1)
        for resources in stack.functions:
            size = 0
            for var in resources.environment:
                value = own_value if var.name == OWN_ROLE_ARNS_ENV else \
                    DEPLOY_TIME_VALUES.get(var.name, len(var.default.encode()))
                size += len(var.name) + value
            assert size < ENVIRONMENT_LIMIT, (resources.spec.name, size)


def test_deploy_fills_the_parameter_from_the_stacks_deployed_before() -> None:
    stack = {"name": "caretaker-security", "parameters": {"ArtifactBucket": None, "CaretakerRoleArns": ""}}
    deployed = {"caretaker-core": {"StateTableName": "t"},
                "caretaker-scheduled": {"RoleArns": "arn:aws:iam::1:role/caretaker/a,arn:aws:iam::1:role/caretaker/b"},
                "caretaker-rotation": {"RoleArns": "arn:aws:iam::1:role/caretaker/c"}}
    assert stack_parameters(stack, Target(bucket="bkt"), deployed)["CaretakerRoleArns"] == (
        "arn:aws:iam::1:role/caretaker/a,arn:aws:iam::1:role/caretaker/b,arn:aws:iam::1:role/caretaker/c")
    assert stack_parameters(stack, Target(bucket="bkt"), {})["CaretakerRoleArns"] == ""
    chosen = Target(bucket="bkt", parameters={"caretaker-security": {"CaretakerRoleArns": "arn:aws:iam::1:role/x"}})
    assert stack_parameters(stack, chosen, deployed)["CaretakerRoleArns"] == "arn:aws:iam::1:role/x"
