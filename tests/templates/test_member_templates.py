"""The member templates: self-contained, one state table per account-region, functions split by scope,
settings carried one parameter per function into the same `CARETAKER_<SETTING>` variables."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from automations.core import registry
from automations.core.spec import FunctionSpec
from templates import names
from templates.member import ACCOUNT_STACK_SET, BASE_STACK_SET, family_stack_set, member_scope
from templates.member_settings import (
    DEPLOYMENT_SETTINGS,
    SettingsValueError,
    field_names,
    pack,
    settings_parameter,
    unpack,
)
from templates.organization import render_organization

ORG = render_organization("c.zip", "d.zip", "b.zip")
MEMBERS = {s.stack.name: s for s in ORG.stack_sets}
SPECS = registry.discover()


def rendered(name: str) -> dict[str, Any]:
    result: dict[str, Any] = MEMBERS[name].stack.template.to_dict()
    return result


def holding(spec: FunctionSpec) -> str:
    (name,) = [s.stack.name for s in ORG.stack_sets if spec.name in {r.spec.name for r in s.stack.functions}]
    return name


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_member_templates_import_nothing(name: str) -> None:
    assert "Fn::ImportValue" not in json.dumps(rendered(name))


def test_only_the_base_template_holds_a_state_table_and_it_has_the_fixed_name() -> None:
    tables = of_type(rendered(BASE_STACK_SET), "AWS::DynamoDB::Table")
    assert [t["Properties"]["TableName"] for t in tables.values()] == [names.MEMBER_STATE_TABLE]
    for name in set(MEMBERS) - {BASE_STACK_SET}:
        assert of_type(rendered(name), "AWS::DynamoDB::Table") == {}


def test_every_function_is_in_exactly_one_member_template_by_its_scope() -> None:
    placed = {resources.spec.name: s.scope for s in ORG.stack_sets for resources in s.stack.functions}
    assert placed == {spec.name: member_scope(spec) for spec in SPECS}
    scopes = {spec.name: member_scope(spec) for spec in SPECS}
    assert scopes["iam-admin-grant"] == scopes["rotate-iam-access-key"] == scopes["access-key-rotation"] == "account"
    assert scopes["ebs-snapshots"] == scopes["sg-open-world"] == scopes["ami-lookup"] == "region"


def test_manifest_scopes_and_capabilities() -> None:
    assert [(s.stack.name, s.scope) for s in ORG.stack_sets] == [
        (BASE_STACK_SET, "region"), (family_stack_set("scheduled"), "region"),
        (family_stack_set("custom-resources"), "region"), (family_stack_set("security"), "region"),
        (ACCOUNT_STACK_SET, "account")]
    assert all(s.capabilities == ("CAPABILITY_NAMED_IAM",) for s in ORG.stack_sets)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_each_setting_reaches_its_variable_from_its_field_of_the_settings_parameter(spec: FunctionSpec) -> None:
    template = rendered(holding(spec))
    variables = template["Resources"][spec.logical_id]["Properties"]["Environment"]["Variables"]
    parameter = settings_parameter(spec).title
    packed = [s for s in spec.all_settings if s.name not in DEPLOYMENT_SETTINGS]
    for index, setting in enumerate(packed):
        assert variables[setting.env_name] == {"Fn::Select": [index, {"Fn::Split": ["|", {"Ref": parameter}]}]}
    for setting in set(spec.all_settings) - set(packed):  # the deployment's own: its template parameter
        assert variables[setting.env_name] == {"Ref": DEPLOYMENT_SETTINGS[setting.name]}
        assert DEPLOYMENT_SETTINGS[setting.name] in template["Parameters"]
    declared = template["Parameters"][parameter]
    assert unpack(spec, declared["Default"]) == {s.name: s.render(s.default) for s in packed}
    assert re.fullmatch(declared["AllowedPattern"], declared["Default"])
    assert not re.fullmatch(declared["AllowedPattern"], declared["Default"] + "|extra")


def test_packing_validates_each_value_and_keeps_the_order() -> None:
    spec = registry.get("ebs-snapshots")
    packed = pack(spec, {"mode": "audit"})
    assert packed.split("|")[field_names(spec).index("mode")] == "audit"
    with pytest.raises(SettingsValueError, match="CARETAKER_MODE"):
        pack(spec, {"mode": "loud"})
    with pytest.raises(SettingsValueError, match="no setting"):
        pack(spec, {"colour": "blue"})
    with pytest.raises(SettingsValueError, match="fields"):
        unpack(spec, "audit|1")


def test_region_template_forwards_caretakers_alarms_to_the_hub_bus_with_a_scoped_role() -> None:
    template = rendered(BASE_STACK_SET)
    rule = template["Resources"]["AlertForwardRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["alarmName"] == [{"prefix": "caretaker-"}]
    target = rule["Targets"][0]
    assert "event-bus/caretaker-org-alerts" in target["Arn"]["Fn::Sub"][0]
    policy = template["Resources"]["AlertForwardRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert policy["Statement"] == [{"Effect": "Allow", "Action": ["events:PutEvents"], "Resource": [target["Arn"]]}]


def test_each_family_trusts_every_other_member_role_by_its_fixed_name() -> None:
    """A reactive rule ignores what Caretaker's roles do: in a member, the roles of the other templates too."""
    security = rendered(family_stack_set("security"))
    variables = security["Resources"][registry.get("sg-open-world").logical_id]["Properties"]["Environment"][
        "Variables"]
    others = json.dumps(variables["CARETAKER_OWN_ROLE_NAMES"])
    assert "caretaker-ebs-snapshots-${AWS::Region}" in others  # a regional role of another family
    assert "caretaker-access-key-rotation-${HomeRegion}" in others  # an account-scoped role


def test_trigger_health_in_a_member_reads_the_home_region_from_the_deployment() -> None:
    """trigger-health must not look for the account-scoped functions outside the home region (docs/organizations.md):
    its `home_region` setting is the member template's `HomeRegion`, which deploy fills in; no override sets it."""
    spec = registry.get("trigger-health")
    template = rendered(holding(spec))
    variables = template["Resources"][spec.logical_id]["Properties"]["Environment"]["Variables"]
    assert variables["CARETAKER_HOME_REGION"] == {"Ref": "HomeRegion"}
    assert "home_region" not in field_names(spec)
