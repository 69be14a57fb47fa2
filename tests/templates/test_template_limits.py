"""CloudFormation's per-template limits hold for every template the build renders, member templates included.

Limits (CloudFormation quotas): 200 parameters, 500 resources, 200 outputs, a 1 MB template body through S3
(51,200 bytes inline: `build.py deploy` and `aws cloudformation deploy --s3-bucket` pass larger ones by URL).
"""

from __future__ import annotations

import pytest
from troposphere import Template

from automations.core import registry
from builder.deploy import TEMPLATE_BODY_LIMIT
from templates.consumer_example import custom_resource_specs, render_consumer_example
from templates.member import LONGEST_REGION, member_scope
from templates.organization import render_organization
from templates.stacks import render_all, render_yaml

MAX_PARAMETERS = 200
MAX_RESOURCES = 500
MAX_OUTPUTS = 200
MAX_BODY_BYTES = 1_000_000
ARTIFACTS = ("caretaker-code-000000000000.zip", "caretaker-deps-000000000000.zip",
             "caretaker-bytecode-000000000000.zip")


def rendered() -> dict[str, Template]:
    templates = {stack.name: stack.template for stack in render_all(*ARTIFACTS)}
    organization = render_organization(*ARTIFACTS)
    templates[organization.hub.name] = organization.hub.template
    templates.update({s.stack.name: s.stack.template for s in organization.stack_sets})
    if custom_resource_specs():
        templates["custom-resources-consumer"] = render_consumer_example()
    return templates


TEMPLATES = rendered()


def test_the_walk_covers_single_account_hub_and_member_templates() -> None:
    assert {"caretaker-core", "caretaker-scheduled", "caretaker-hub", "caretaker-member-base",
            "caretaker-member-scheduled", "caretaker-member-account"} <= set(TEMPLATES)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_template_is_within_cloudformation_limits(name: str) -> None:
    template = TEMPLATES[name].to_dict()
    body = render_yaml(TEMPLATES[name]).encode()
    assert len(template.get("Parameters", {})) <= MAX_PARAMETERS
    assert len(template["Resources"]) <= MAX_RESOURCES
    assert len(template.get("Outputs", {})) <= MAX_OUTPUTS
    assert len(body) <= MAX_BODY_BYTES


def test_member_templates_take_one_settings_parameter_per_function_not_one_per_setting() -> None:
    """What keeps them under 200 parameters as functions are added: at most two per function (its settings and,
    for a schedule, its expression) plus a handful shared."""
    for name in (n for n in TEMPLATES if n.startswith("caretaker-member-") and n != "caretaker-member-base"):
        template = TEMPLATES[name]
        functions = [r for r in template.resources.values() if r.resource_type == "AWS::Lambda::Function"]
        assert len(template.parameters) <= 2 * len(functions) + 10


def test_inline_limit_is_cloudformations_and_larger_templates_go_by_url() -> None:
    assert TEMPLATE_BODY_LIMIT == 51_200
    assert any(len(render_yaml(t).encode()) > TEMPLATE_BODY_LIMIT for t in TEMPLATES.values())


def test_member_role_names_differ_per_region_and_fit_iam() -> None:
    """IAM names are global: the regional template in two regions of one account needs two names per role."""
    for name in (n for n in TEMPLATES if n.startswith("caretaker-member-")):
        for role in (r for r in TEMPLATES[name].resources.values() if r.resource_type == "AWS::IAM::Role"):
            if "RoleName" not in role.properties:
                continue  # generated names are unique per stack
            role_name = role.properties["RoleName"]
            if isinstance(role_name, str):  # the hub's reader and operator: account-scoped, home region only
                assert name == "caretaker-member-account"
                continue
            text = role_name.to_dict()["Fn::Sub"]
            assert text.endswith("-${AWS::Region}")
            assert len(text.removesuffix("${AWS::Region}")) + LONGEST_REGION <= 64
    assert all(member_scope(spec) in ("account", "region") for spec in registry.discover())
