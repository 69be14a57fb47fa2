"""Every provider's declaration, walked from the registry: nothing is kept in a second list."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest

from automations.core import registry
from automations.core.spec import CustomResource, FunctionSpec
from custom_resources import empty_bucket
from custom_resources.account_setting import AccountSetting
from custom_resources.properties import Schema
from custom_resources.provider import (
    ACCOUNT_WIDE,
    Provider,
    Request,
    ResourceType,
    Result,
    StackBinding,
    polling_rule_prefix,
)

SPECS = [spec for spec in registry.discover() if isinstance(spec.trigger, CustomResource)]


def test_every_resource_type_has_a_provider() -> None:
    assert sorted(spec.trigger.resource_type for spec in SPECS) == [  # type: ignore[union-attr]
        "Custom::AccountPasswordPolicy", "Custom::AmiLookup", "Custom::EbsDefaultEncryption", "Custom::EmptyBucket",
        "Custom::RandomSecret", "Custom::S3AccountPublicAccessBlock", "Custom::Schedule",
        "Custom::SecureStringParameter"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_declaration_is_complete(spec: FunctionSpec) -> None:
    module = importlib.import_module(spec.module)
    handler = getattr(module, spec.handler.rsplit(".", 1)[1])

    assert spec.handler == f"custom_resources.{spec.module.rsplit('.', 1)[1]}.handler"
    assert registry.stack_of(spec) == "custom-resources"
    assert spec.default_mode == "enforce"
    assert isinstance(handler, Provider) and handler.spec is spec
    assert handler.resource.resource_type == spec.trigger.resource_type  # type: ignore[union-attr]
    assert spec.permissions and all(p.actions for p in spec.permissions)
    assert all(p.why for p in spec.permissions if p.resources == ("*",)), "say why a permission is not scoped"
    assert all(prop.description for prop in handler.resource.schema.props)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_example_properties_are_valid(spec: FunctionSpec) -> None:
    module = importlib.import_module(spec.module)

    def filled(value: Any) -> Any:  # what CloudFormation would send once ${...} is substituted
        if isinstance(value, str):
            return re.sub(r"\$\{[^}]+\}", "example", value)
        if isinstance(value, dict):
            return {k: filled(v) for k, v in value.items()}
        if isinstance(value, list):
            return [filled(v) for v in value]
        return value

    module.handler.resource.schema.validate(filled(module.EXAMPLE_PROPERTIES))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_type_that_changes_aws_declares_how_requests_are_bound_to_stacks(spec: FunctionSpec) -> None:
    resource = importlib.import_module(spec.module).handler.resource

    if isinstance(resource, AccountSetting):
        assert resource.binding is ACCOUNT_WIDE  # lineage decides; no stack owns the setting
    elif resource.mutates:
        assert isinstance(resource.binding, StackBinding) and resource.binding is not ACCOUNT_WIDE
    else:
        assert resource.binding is None
    declared = {(a, r) for p in spec.permissions for a in p.actions for r in p.resources}
    needed = {(a, r) for p in (resource.binding.permissions if resource.binding else ()) for a in p.actions
              for r in p.resources}
    assert needed <= declared, "the binding's permissions must be in the declaration"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_polling_permissions_cover_the_functions_own_rules_only(spec: FunctionSpec) -> None:
    resource = importlib.import_module(spec.module).handler.resource
    events = [p for p in spec.permissions if any(a.startswith("events:") for a in p.actions)]

    if not resource.polls_delete:
        assert events == []
        return
    (permission,) = events
    assert permission.resources == (
        "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
        f"{polling_rule_prefix(spec.function_name)}*",)


def test_a_type_that_changes_aws_must_declare_its_binding() -> None:
    class Undeclared(ResourceType):
        resource_type = "Custom::EmptyBucket"
        schema = Schema(())

        def owns(self, physical_id: str) -> bool:
            return False

        def create(self, request: Request) -> Result:
            raise NotImplementedError

        update = delete = create

    with pytest.raises(ValueError, match="must declare its `binding`"):
        Provider(empty_bucket.SPEC, Undeclared())
