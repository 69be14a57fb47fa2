"""Caretaker's own roles in the rendered templates: every reactive function trusts exactly the exact ARNs
(CARETAKER_OWN_ROLE_ARN_PREFIX + CARETAKER_OWN_ROLE_NAMES) of its own stack's roles plus `CaretakerRoleNames`, each
stack outputs its role names, deploy order puts the security stack last, and the environment fits 4 KB."""

from __future__ import annotations

from typing import Any

import pytest

from automations.core.spec import OWN_ROLE_ARN_PREFIX_ENV, OWN_ROLE_NAMES_ENV
from builder.deploy import Target, stack_parameters
from templates.functions import makes_changes
from templates.stacks import StackDef, render_all
from tests.templates.helpers import resources_of_type

#: Lambda's limit on a function's environment (names and values together).
ENVIRONMENT_LIMIT = 4096
#: What the worst case must leave free, for settings and functions yet to come.
MARGIN = 256
#: IAM's longest role name (CloudFormation cuts the names it generates to fit).
ROLE_NAME_LENGTH = 64
#: Upper bounds of the values known only at deploy: a DynamoDB table name, an SNS topic ARN.
DEPLOY_TIME_VALUES = {"CARETAKER_STATE_TABLE": 255,
                      "CARETAKER_ALERT_TOPIC_ARN": len("arn:aws-us-gov:sns:us-gov-west-1:123456789012:") + 256}


@pytest.fixture(scope="module")
def stacks() -> list[StackDef]:
    return render_all("caretaker-code-000000000000.zip", "caretaker-deps-000000000000.zip",
                      "caretaker-bytecode-000000000000.zip")


def function_stacks(stacks: list[StackDef]) -> list[StackDef]:
    return [s for s in stacks if s.functions]


def trusted_roles(stack: StackDef) -> list[str]:
    """The logical ids of the roles of the stack's functions that make changes, in template order."""
    return [r.role.title for r in stack.functions if makes_changes(r.spec)]


def role_ids_of(stack: StackDef) -> dict[str, Any]:
    """`Fn::Join` of GetAtt(role, RoleId) for every trusted role of the stack, in template order."""
    return {"Fn::Join": [",", [{"Fn::GetAtt": [name, "RoleId"]} for name in trusted_roles(stack)]]}


def readers(stack: StackDef) -> list[Any]:
    return [resources for resources in stack.functions if resources.spec.reads_own_roles]


def role_names_of(stack: StackDef) -> list[dict[str, str]]:
    """Ref(role) for every trusted role of the stack, in template order."""
    return [{"Ref": name} for name in trusted_roles(stack)]


def test_every_reactive_function_trusts_exactly_every_role_name_of_its_stack_and_the_parameter(
        stacks: list[StackDef]) -> None:
    checked = 0
    for stack in function_stacks(stacks):
        data = stack.template.to_dict()
        own = role_names_of(stack)
        expected = {"Fn::Join": [",", [*own, {"Fn::Join": [",", {"Ref": "CaretakerRoleNames"}]}]]}
        for resources in readers(stack):
            env = data["Resources"][resources.spec.logical_id]["Properties"]["Environment"]["Variables"]
            assert env[OWN_ROLE_NAMES_ENV] == expected, resources.spec.name
            assert env[OWN_ROLE_ARN_PREFIX_ENV] == {
                "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/caretaker/"}, resources.spec.name
            assert {ref["Ref"] for ref in own} <= set(resources_of_type(data, "AWS::IAM::Role"))
            checked += 1
    assert checked >= 10  # every security rule


def test_no_template_sets_the_role_ids_any_more(stacks: list[StackDef]) -> None:
    """The exact ARNs (prefix + names) are the contract; the ids beside them passed Lambda's 4 KB at 40 functions."""
    for stack in function_stacks(stacks):
        data = stack.template.to_dict()
        assert "CaretakerRoleIds" not in data.get("Parameters", {}) and "RoleIds" not in data.get("Outputs", {})
        for resources in stack.functions:
            assert "CARETAKER_OWN_ROLE_IDS" not in [v.name for v in resources.environment], resources.spec.name


def test_only_the_functions_that_read_the_own_roles_get_them(stacks: list[StackDef]) -> None:
    """Scheduled, rotation and custom-resource functions never read the list: it would only cost them bytes."""
    others = [(stack, r) for stack in function_stacks(stacks) for r in stack.functions if r not in readers(stack)]
    assert others
    for _stack, resources in others:
        assert OWN_ROLE_NAMES_ENV not in [v.name for v in resources.environment], resources.spec.name


def test_the_other_stacks_role_names_come_from_a_parameter_that_trusts_nothing_by_default(
        stacks: list[StackDef]) -> None:
    for stack in function_stacks(stacks):
        parameters = stack.template.to_dict()["Parameters"]
        if not readers(stack):
            assert "CaretakerRoleNames" not in parameters, stack.name  # nobody would read it
            continue
        parameter = parameters["CaretakerRoleNames"]
        assert (parameter["Type"], parameter["Default"]) == ("CommaDelimitedList", "")
        assert stack.parameters["CaretakerRoleNames"] == ""


def test_the_manifest_default_is_resolved_at_deploy(stacks: list[StackDef]) -> None:
    for stack in function_stacks(stacks):
        for resources in readers(stack):
            [var] = [v for v in resources.environment if v.name == OWN_ROLE_NAMES_ENV]
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


def environment_size(resources: Any, trusted: int) -> int:
    """The function's environment in bytes, with `trusted` role names (each at IAM's longest) in the list and
    deploy-time values at their longest."""
    worst = {
        OWN_ROLE_NAMES_ENV: trusted * ROLE_NAME_LENGTH + trusted,
        OWN_ROLE_ARN_PREFIX_ENV: len("arn:aws-us-gov:iam::123456789012:role/caretaker/"),
        **DEPLOY_TIME_VALUES,
    }
    return sum(len(var.name) + worst.get(var.name, len(var.default.encode())) for var in resources.environment)


def test_the_environment_fits_lambdas_limit_with_a_margin_when_every_function_is_trusted(
        stacks: list[StackDef]) -> None:
    """Worst case: every function of every stack trusted (the deploy list holds all earlier stacks), the
    deploy-time values at their longest, and `MARGIN` bytes left over.

    How many fit: each function adds up to 65 bytes (its name at IAM's longest and a comma) to every reactive
    rule's environment, about 1 KB of which is the rest: about 45 trusted functions fit in 4 KB at the worst case
    with the margin (read-only functions are not trusted, see the test below). The role ids were dropped for this
    room (22 bytes a function); the next step, when needed, is one name prefix per stack."""
    everyone = sum(len(trusted_roles(stack)) for stack in function_stacks(stacks))
    for stack in function_stacks(stacks):
        for resources in readers(stack):
            size = environment_size(resources, everyone)
            assert size + MARGIN < ENVIRONMENT_LIMIT, (resources.spec.name, size)


def test_deploy_fills_the_parameter_from_the_stacks_deployed_before() -> None:
    stack = {"name": "caretaker-security", "parameters": {"ArtifactBucket": None, "CaretakerRoleNames": ""}}
    deployed = {"caretaker-core": {"StateTableName": "t"},
                "caretaker-scheduled": {"RoleNames": "a-role,b-role", "RoleIds": "AROAAAAAAAAAAAAAAAAAA"},
                "caretaker-rotation": {"RoleNames": "c-role"}}
    assert stack_parameters(stack, Target(bucket="bkt"), deployed)["CaretakerRoleNames"] == "a-role,b-role,c-role"
    assert "CaretakerRoleIds" not in stack_parameters(stack, Target(bucket="bkt"), deployed)
    assert stack_parameters(stack, Target(bucket="bkt"), {})["CaretakerRoleNames"] == ""
    chosen = Target(bucket="bkt", parameters={"caretaker-security": {"CaretakerRoleNames": "x-role"}})
    assert stack_parameters(stack, chosen, deployed)["CaretakerRoleNames"] == "x-role"


def test_read_only_functions_are_not_trusted_and_every_function_that_changes_something_is(
        stacks: list[StackDef]) -> None:
    """A function whose declared actions only read (Describe/List/Get) cannot cause an event a reactive rule
    reacts to: trusting its role would only widen what the rules ignore."""
    read_only = {r.spec.name for stack in function_stacks(stacks) for r in stack.functions if not makes_changes(r.spec)}
    assert {"backup-coverage", "trigger-health"} <= read_only
    assert not read_only & {"ebs-snapshots", "rds-snapshots", "dynamodb-backups"}
    for stack in function_stacks(stacks):
        names = stack.template.to_dict()["Outputs"]["RoleNames"]["Value"]["Fn::Join"][1]
        assert [ref["Ref"] for ref in names] == trusted_roles(stack), stack.name
