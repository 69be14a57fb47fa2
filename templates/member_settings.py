"""A member template's settings: one parameter per function (`<Function>Settings`) carrying all its settings.

CloudFormation allows 200 parameters per template, and the single-account stacks take one parameter per
setting (about ten per function): a member template holding every regional function would pass that limit
long before its 500 resources (docs/organizations.md). So a member template takes one parameter per function,
its settings' values in declared order joined by `SEPARATOR`, and hands each field to its
`CARETAKER_<SETTING>` variable with `Fn::Select`/`Fn::Split`: the run-time contract (one environment
variable per setting, set from a template parameter) is unchanged and nothing in Lambda parses the
parameter. `build.py deploy --organization` builds these values from overrides named like the
single-account parameters (`EbsSnapshotsMode`), validating every field with the setting's own parser
(`pack`); the parameter's AllowedPattern makes CloudFormation refuse a value with the wrong number of fields.
"""

from __future__ import annotations

from collections.abc import Mapping

from troposphere import AWSHelperFn, Parameter, Ref, Select, Split, Template

from automations.core.errors import SettingError
from automations.core.spec import FunctionSpec, Setting, pascal
from templates.parameters import setting_parameter_name

#: Between two fields of a settings parameter; no setting value may hold it (checked by `pack`).
SEPARATOR = "|"
#: The member template parameter naming the region of the account-scoped stack set (deploy fills it in).
HOME_REGION_PARAMETER = "HomeRegion"
#: Settings whose member value is the deployment's, not an operator's: read from the member template's parameter
#: of that name instead of a field of the settings parameter (deploy sets it; no override may).
DEPLOYMENT_SETTINGS = {"home_region": HOME_REGION_PARAMETER}


class SettingsValueError(ValueError):
    """A value that cannot travel in a member's settings parameter (invalid, or holds `SEPARATOR`)."""


def settings_parameter_name(spec: FunctionSpec) -> str:
    """`ebs-snapshots` -> `EbsSnapshotsSettings`."""
    return f"{pascal(spec.name)}Settings"


def packed_settings(spec: FunctionSpec) -> list[Setting]:
    """The settings whose values travel in the one settings parameter: all but the deployment's own."""
    return [setting for setting in spec.all_settings if setting.name not in DEPLOYMENT_SETTINGS]


def field_names(spec: FunctionSpec) -> list[str]:
    """The setting names in the order their values travel (the deployment's own settings left out)."""
    return [setting.name for setting in packed_settings(spec)]


def deployment_parameters(spec: FunctionSpec) -> list[str]:
    """The member template parameters `spec`'s deployment settings read (`DEPLOYMENT_SETTINGS`)."""
    return [DEPLOYMENT_SETTINGS[s.name] for s in spec.all_settings if s.name in DEPLOYMENT_SETTINGS]


def pack(spec: FunctionSpec, values: Mapping[str, str]) -> str:
    """The settings parameter's value: `values` (by setting name; the rest at their defaults), each validated."""
    unknown = sorted(set(values) - set(field_names(spec)))
    if unknown:
        raise SettingsValueError(f"{spec.name} has no setting {', '.join(unknown)}")
    fields: list[str] = []
    for setting in packed_settings(spec):
        raw = values.get(setting.name, setting.render(setting.default))
        if SEPARATOR in raw:
            raise SettingsValueError(f"{setting_parameter_name(spec, setting)}: a value may not contain "
                                     f"{SEPARATOR!r} in an organization deployment, got {raw!r}")
        try:
            setting.parse(raw)
        except SettingError as error:
            raise SettingsValueError(f"{setting_parameter_name(spec, setting)}: {error}") from None
        fields.append(raw)
    return SEPARATOR.join(fields)


def unpack(spec: FunctionSpec, packed: str) -> dict[str, str]:
    """The fields of a settings parameter's value, by setting name."""
    fields = packed.split(SEPARATOR)
    names = field_names(spec)
    if len(fields) != len(names):
        raise SettingsValueError(f"{settings_parameter_name(spec)} holds {len(fields)} fields, "
                                 f"{spec.name} has {len(names)} settings")
    return dict(zip(names, fields, strict=True))


def settings_parameter(spec: FunctionSpec) -> Parameter:
    names = field_names(spec)
    return Parameter(
        settings_parameter_name(spec), Type="String", Default=pack(spec, {}),
        AllowedPattern=r"^([^|]*\|){" + str(len(names) - 1) + r"}[^|]*$",
        Description=(f"caretaker-{spec.name} settings, {SEPARATOR!r}-separated in this order: "
                     + SEPARATOR.join(names) + ". build.py deploy --organization writes it from overrides.")[:4000],
    )


def packed_setting_values(template: Template, spec: FunctionSpec) -> dict[str, AWSHelperFn]:
    """`SharedParameters.settings` of a member template: each setting a field of the one parameter, but the
    deployment's own (`DEPLOYMENT_SETTINGS`), which read the template's parameter (added by `templates.member`)."""
    parameter = template.add_parameter(settings_parameter(spec))
    values: dict[str, AWSHelperFn] = {name: Select(index, Split(SEPARATOR, Ref(parameter)))
                                      for index, name in enumerate(field_names(spec))}
    for name, title in DEPLOYMENT_SETTINGS.items():
        if any(setting.name == name for setting in spec.all_settings):
            if title not in template.parameters:
                raise ValueError(f"{spec.name}: its setting {name} needs the template parameter {title}")
            values[name] = Ref(template.parameters[title])
    return values
