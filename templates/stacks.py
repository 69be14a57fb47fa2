"""The stacks in deployment order: the core stack, then one stack per handler package with functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from troposphere import Join, Ref, Template

from automations.core import registry
from automations.core.spec import FunctionSpec
from templates import names
from templates.core_stack import core_template
from templates.dashboard import dashboard
from templates.functions import FunctionResources, SharedParameters, add_function, add_own_roles, core_imports
from templates.parameters import (
    add_artifact_parameters,
    add_core_stack_parameter,
    add_layer_parameters,
    add_log_retention_parameter,
    add_other_stack_role_parameter,
)
from templates.security_trail import add_optional_trail

#: Resources a function stack holds besides its functions, by stack key.
STACK_EXTRAS: dict[str, Callable[[Template], None]] = {
    # management events reach EventBridge only where a trail is logging: offer one
    "security": add_optional_trail,
}


@dataclass(frozen=True)
class StackDef:
    """One stack: its default name, its template, its parameters with defaults (None = no default)."""

    name: str
    template: Template
    parameters: dict[str, str | None]
    functions: list[FunctionResources] = field(default_factory=list)


def parameter_defaults(template: Template) -> dict[str, str | None]:
    defaults: dict[str, str | None] = {}
    for name, parameter in template.parameters.items():
        default = parameter.properties.get("Default")
        defaults[name] = None if default is None else str(default)
    return defaults


def function_template(stack_key: str, specs: list[FunctionSpec], code_artifact_name: str) -> StackDef:
    """The template of one handler package's stack."""
    name = names.function_stack_name(stack_key)
    template = Template(Description=f"Caretaker {stack_key} functions: " + ", ".join(s.name for s in specs))
    core_stack = add_core_stack_parameter(template)
    bucket, prefix = add_artifact_parameters(template)
    log_retention = add_log_retention_parameter(template)
    layer, bytecode_layer = add_layer_parameters(template)
    shared = SharedParameters(core=core_imports(core_stack), bucket=Ref(bucket), prefix=prefix,
                              log_retention=log_retention, layers=(Ref(layer), Ref(bytecode_layer)))
    # only where a function reads them: the reactive rules
    reads = any(s.reads_own_roles for s in specs)
    other_names = add_other_stack_role_parameter(template) if reads else None
    functions = [add_function(template, spec, shared, code_artifact_name) for spec in specs]
    add_own_roles(template, functions, None if other_names is None else Join(",", Ref(other_names)))
    extra = STACK_EXTRAS.get(stack_key)
    if extra is not None:
        extra(template)
    return StackDef(name=name, template=template, parameters=parameter_defaults(template), functions=functions)


def specs_by_stack(specs: list[FunctionSpec]) -> dict[str, list[FunctionSpec]]:
    """Registered functions grouped by stack key, in `HANDLER_PACKAGES` order, empty stacks left out."""
    grouped: dict[str, list[FunctionSpec]] = {key: [] for key in registry.HANDLER_PACKAGES.values()}
    for spec in specs:
        key = registry.stack_of(spec)
        if key is None:
            raise ValueError(f"{spec.name}: {spec.handler} is not in a handler package")
        grouped[key].append(spec)
    return {key: members for key, members in grouped.items() if members}


def render_all(code_artifact_name: str, layer_artifact_name: str, bytecode_artifact_name: str) -> list[StackDef]:
    """Every stack, in deployment order (core first). Arguments are artifact file names."""
    declared = registry.discover()
    core = core_template(layer_artifact_name, bytecode_artifact_name)
    core.add_resource(dashboard(declared))  # the core stack holds the deployment's one dashboard
    stacks = [StackDef(name=names.CORE_STACK_NAME, template=core, parameters=parameter_defaults(core))]
    for key, specs in specs_by_stack(declared).items():
        stacks.append(function_template(key, specs, code_artifact_name))
    return stacks


def render_yaml(template: Template) -> str:
    """The template as YAML in long form (`Fn::Sub`, not `!Sub`): any YAML parser reads it."""
    return template.to_yaml(long_form=True)
