"""An example consumer stack: one resource of every custom resource type, each reaching its provider
through the provider stack's exported ServiceToken (`Fn::ImportValue`).

Derived from the registry: every `CustomResource` spec gives one resource, with the example
properties its module declares next to the spec (`EXAMPLE_PROPERTIES`). String values that
contain `${...}` become `Fn::Sub`, so examples can use pseudo parameters and the companion
resources below (a versioned bucket for EmptyBucket).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from typing import Any

from troposphere import AWSObject, ImportValue, Parameter, Sub, Template
from troposphere.cloudformation import CustomResource as CfnCustomResource
from troposphere.s3 import Bucket, VersioningConfiguration

from automations.core import registry
from automations.core.spec import CustomResource, FunctionSpec
from templates import names

PROVIDER_STACK_PARAMETER = "ProviderStackName"
CUSTOM_RESOURCES_PACKAGE = "custom_resources"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")

#: Resources and parameters example properties may refer to as `${Name}`, added only when referred to.
COMPANIONS: dict[str, Callable[[], AWSObject | Parameter]] = {
    "ExampleBucket": lambda: Bucket("ExampleBucket",
                                    VersioningConfiguration=VersioningConfiguration(Status="Enabled")),
    "ExampleApiKey": lambda: Parameter("ExampleApiKey", Type="String", NoEcho=True, MinLength=1,
                                       Default="replace-me-at-deploy-time",
                                       Description="The value of the example SecureString parameter."),
}


def provider_stack_name() -> str:
    """The provider stack's default (manifest) name: `caretaker-custom-resources`."""
    return names.function_stack_name(registry.HANDLER_PACKAGES[CUSTOM_RESOURCES_PACKAGE])


def custom_resource_specs() -> list[tuple[FunctionSpec, CustomResource]]:
    """Every registered provider with its trigger, in registry order."""
    return [(spec, spec.trigger) for spec in registry.discover() if isinstance(spec.trigger, CustomResource)]


def example_properties(spec: FunctionSpec) -> Mapping[str, Any]:
    """The example properties declared beside the provider's spec."""
    properties = getattr(importlib.import_module(spec.module), "EXAMPLE_PROPERTIES", None)
    if not isinstance(properties, Mapping):
        raise ValueError(f"{spec.module} declares no EXAMPLE_PROPERTIES for {spec.trigger}")
    return properties


def render_consumer_example() -> Template:
    """The example consumer template (pure: the same registry gives the same template)."""
    template = Template(Description="Caretaker example consumer: one resource of every custom resource type, "
                                    "through the provider stack's exported ServiceTokens.")
    template.add_parameter(Parameter(
        PROVIDER_STACK_PARAMETER, Type="String", Default=provider_stack_name(),
        AllowedPattern="^[A-Za-z][A-Za-z0-9-]{0,127}$",
        Description="Name of the stack that holds the Caretaker custom resource providers."))
    companions: set[str] = set()
    for spec, trigger in custom_resource_specs():
        resource_class = type(f"{trigger.resource_type.removeprefix('Custom::')}Resource", (CfnCustomResource,),
                              {"resource_type": trigger.resource_type})
        properties = {key: _value(value, companions) for key, value in example_properties(spec).items()}
        template.add_resource(resource_class(
            trigger.resource_type.removeprefix("Custom::") + "Example",
            ServiceToken=ImportValue(Sub(f"${{{PROVIDER_STACK_PARAMETER}}}-"
                                         + names.service_token_export(trigger.resource_type))),
            **properties))
    for name in sorted(companions):
        companion = COMPANIONS[name]()
        if isinstance(companion, Parameter):
            template.add_parameter(companion)
        else:
            template.add_resource(companion)
    return template


def _value(value: Any, companions: set[str]) -> Any:
    """Plain example data as template values: `${...}` strings as Fn::Sub, containers recursively."""
    if isinstance(value, str):
        if "${" not in value:
            return value
        for name in _PLACEHOLDER.findall(value):
            if name in COMPANIONS:
                companions.add(name)
        return Sub(value)
    if isinstance(value, Mapping):
        return {key: _value(item, companions) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_value(item, companions) for item in value]
    return value
