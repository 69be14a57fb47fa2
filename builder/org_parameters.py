"""The full parameter set of a member stack set for one deployment target (an OU or an account).

Overrides are named as an operator knows them: the single-account stacks' parameter names (`EbsSnapshotsMode`,
`CleanupAmisGraceDays`, `EbsSnapshotsSchedule`, `LogRetentionDays`), or `mode` for every function's mode. A
setting travels in its function's settings parameter (`templates.member_settings`), so this module writes the
field of that parameter, validated by the setting's own parser. StackSets parameter overrides replace whole
values (and moto's replace the whole set), so every target gets every parameter, not a difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from automations.core import registry
from automations.core.spec import MODES, FunctionSpec
from builder.errors import DeployError
from templates import names
from templates.member import HOME_REGION_PARAMETER, HUB_ACCOUNT_PARAMETER, HUB_REGION_PARAMETER
from templates.member_settings import (
    SettingsValueError,
    pack,
    packed_settings,
    settings_parameter_name,
    unpack,
)
from templates.parameters import setting_parameter_name

#: Set by deploy itself, never by an override.
DEPLOY_OWNED = (names.ARTIFACT_BUCKET, names.ARTIFACT_PREFIX, HUB_ACCOUNT_PARAMETER, HUB_REGION_PARAMETER,
                HOME_REGION_PARAMETER)
#: The override key that sets the mode of every function.
ALL_MODES_KEY = "mode"


@dataclass(frozen=True)
class DeployValues:
    """What deploy fills in for every target."""

    bucket: str
    prefix: str
    hub_account: str
    hub_region: str
    home_region: str

    def as_parameters(self) -> dict[str, str]:
        return {names.ARTIFACT_BUCKET: self.bucket, names.ARTIFACT_PREFIX: self.prefix,
                HUB_ACCOUNT_PARAMETER: self.hub_account, HUB_REGION_PARAMETER: self.hub_region,
                HOME_REGION_PARAMETER: self.home_region}


def _settings_owner(stack_set: Mapping[str, Any]) -> dict[str, tuple[FunctionSpec, str]]:
    """Single-account setting parameter name -> (its function, setting name), for this stack set's functions."""
    owners: dict[str, tuple[FunctionSpec, str]] = {}
    for function in stack_set.get("functions", []):
        spec = registry.get(function)
        for setting in packed_settings(spec):  # the deployment's own settings: no override sets them
            owners[setting_parameter_name(spec, setting)] = (spec, setting.name)
    return owners


def known_override_keys(stack_sets: Sequence[Mapping[str, Any]]) -> set[str]:
    """Every name an override may use across the member stack sets."""
    keys = {ALL_MODES_KEY}
    for stack_set in stack_sets:
        keys |= set(_settings_owner(stack_set))
        keys |= {p for p in stack_set["parameters"] if p not in DEPLOY_OWNED and not p.endswith("Settings")}
    return keys


def check_overrides(stack_sets: Sequence[Mapping[str, Any]], overrides: Mapping[str, Mapping[str, str]]) -> None:
    """Refuse an unknown parameter or a bad value before anything is deployed (all targets, all stack sets)."""
    known = known_override_keys(stack_sets)
    for target, values in overrides.items():
        unknown = sorted(set(values) - known)
        if unknown:
            raise DeployError(f"overrides for {target}: unknown parameter {', '.join(unknown)} (a setting's "
                              "single-account parameter name such as EbsSnapshotsMode, a schedule such as "
                              "EbsSnapshotsSchedule, LogRetentionDays, or mode)")
        mode = values.get(ALL_MODES_KEY)
        if mode is not None and mode not in MODES:
            raise DeployError(f"overrides for {target}: mode must be one of {', '.join(MODES)}, got {mode!r}")
        for stack_set in stack_sets:
            parameters_for(stack_set, DeployValues("check", "", "000000000000", "us-east-1", "us-east-1"),
                           values, target)


def parameters_for(stack_set: Mapping[str, Any], deploy: DeployValues, overrides: Mapping[str, str],
                   target: str = "every target") -> dict[str, str]:
    """Every parameter of `stack_set` for one target: defaults, deploy's values, then the target's overrides."""
    declared: Mapping[str, str | None] = stack_set["parameters"]
    values: dict[str, str] = {k: v for k, v in declared.items() if v is not None}
    values.update({k: v for k, v in deploy.as_parameters().items() if k in declared})
    owners = _settings_owner(stack_set)
    fields: dict[str, dict[str, str]] = {}
    for function in stack_set.get("functions", []):
        spec = registry.get(function)
        fields[spec.name] = unpack(spec, values[settings_parameter_name(spec)])
        if ALL_MODES_KEY in overrides:
            fields[spec.name]["mode"] = overrides[ALL_MODES_KEY]
    for key, value in overrides.items():
        if key in owners:
            spec, setting = owners[key]
            fields[spec.name][setting] = value
        elif key in declared and key not in DEPLOY_OWNED:
            values[key] = value
    for function in stack_set.get("functions", []):
        spec = registry.get(function)
        try:
            values[settings_parameter_name(spec)] = pack(spec, fields[spec.name])
        except SettingsValueError as error:
            raise DeployError(f"overrides for {target}: {error}") from None
    missing = sorted(set(declared) - set(values))
    if missing:
        raise DeployError(f"{stack_set['name']}: no value for {', '.join(missing)}")
    return values
