"""Declarations validate themselves, and settings fail with messages that name setting, value and rule."""

from __future__ import annotations

import pytest

from automations.core.errors import SettingError, SettingsError
from automations.core.settings import load_settings
from automations.core.spec import (
    CloudTrail,
    Cron,
    CustomResource,
    FunctionSpec,
    Permission,
    Rate,
    Setting,
    pascal,
    trigger_manifest,
)


def make_spec(**overrides: object) -> FunctionSpec:
    fields: dict[str, object] = {
        "name": "demo-thing",
        "description": "demo",
        "handler": "automations.scheduled.demo.handler",
        "trigger": Rate(1, "day"),
        "permissions": (Permission(("ec2:DescribeVolumes",)),),
        "default_mode": "audit",
        "settings": (Setting("min_age_days", "int", 7, "age", minimum=0, maximum=365),
                     Setting("tag_values", "list", ("a", "b"), "values", allowed=("a", "b", "c")),
                     Setting("dry", "bool", False, "flag")),
    }
    fields.update(overrides)
    return FunctionSpec(**fields)  # type: ignore[arg-type]


def test_invalid_integer_setting_names_variable_value_and_range() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(make_spec(), {"CARETAKER_MIN_AGE_DAYS": "abc"})
    assert str(err.value.errors[0]) == "CARETAKER_MIN_AGE_DAYS must be an integer from 0 to 365, got 'abc'"


def test_out_of_range_and_disallowed_values_are_all_reported_at_once() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(make_spec(), {"CARETAKER_MIN_AGE_DAYS": "400", "CARETAKER_TAG_VALUES": "a,z",
                                    "CARETAKER_MODE": "yolo", "CARETAKER_DRY": "maybe"})
    names = sorted(e.env_name for e in err.value.errors)
    assert names == ["CARETAKER_DRY", "CARETAKER_MIN_AGE_DAYS", "CARETAKER_MODE", "CARETAKER_TAG_VALUES"]
    assert "one of 'enforce', 'audit', 'off'" in str(err.value)


def test_settings_parse_types_and_fall_back_to_defaults() -> None:
    settings = load_settings(make_spec(), {"CARETAKER_MIN_AGE_DAYS": " 30 ", "CARETAKER_DRY": "TRUE",
                                           "CARETAKER_TAG_VALUES": "c, a"})
    assert settings["min_age_days"] == 30
    assert settings["dry"] is True
    assert settings["tag_values"] == ("c", "a")
    assert settings["mode"] == "audit"  # the declared default mode
    assert settings["state_ttl_days"] == 90


def test_pattern_setting_rejects_non_matching_value() -> None:
    setting = Setting("region", "str", "", "r", pattern=r"([a-z]{2}-[a-z]+-\d)?")
    assert setting.parse("eu-west-1") == "eu-west-1"
    with pytest.raises(SettingError, match="matching"):
        setting.parse("Mars")


def test_a_default_that_breaks_its_own_rule_is_rejected_at_declaration() -> None:
    with pytest.raises(SettingError):
        Setting("count", "int", 0, "n", minimum=1)


def test_function_without_permissions_is_rejected() -> None:
    with pytest.raises(ValueError, match="permissions"):
        make_spec(permissions=())


def test_function_names_and_timeouts_are_validated() -> None:
    with pytest.raises(ValueError, match="kebab"):
        make_spec(name="Bad_Name")
    with pytest.raises(ValueError, match="timeout"):
        make_spec(timeout=901)


def test_permission_rejects_unknown_resource_variable_and_malformed_action() -> None:
    with pytest.raises(ValueError, match="unknown resource variable"):
        Permission(("s3:GetObject",), ("${Nope}",))
    with pytest.raises(ValueError, match="malformed"):
        Permission(("GetObject",))


def test_schedules_render_expressions_and_reject_nonsense() -> None:
    assert Rate(1, "day").expression == "rate(1 day)"
    assert Rate(6, "hours").expression == "rate(6 hours)"
    assert Cron("0 3 * * ? *").expression == "cron(0 3 * * ? *)"
    with pytest.raises(ValueError):
        Rate(2, "day")
    with pytest.raises(ValueError):
        Cron("0 3 * *")


def test_cloudtrail_pattern_filters_source_names_and_failed_calls() -> None:
    pattern = CloudTrail("aws.ec2", "ec2.amazonaws.com", ("B", "A")).pattern()
    assert pattern == {
        "source": ["aws.ec2"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["ec2.amazonaws.com"], "eventName": ["A", "B"],
                   "errorCode": [{"exists": False}]},
    }


def test_trigger_manifest_forms() -> None:
    assert trigger_manifest(Rate(1, "day")) == {"type": "schedule", "expression": "rate(1 day)"}
    assert trigger_manifest(CustomResource("Custom::Thing")) == {"type": "custom_resource",
                                                                 "resource_type": "Custom::Thing"}
    with pytest.raises(ValueError):
        CustomResource("Thing")


def test_pascal_case_names() -> None:
    assert pascal("ebs-snapshots") == "EbsSnapshots"
    assert pascal("max_age_days") == "MaxAgeDays"


def test_permission_conditions_are_literal() -> None:
    with pytest.raises(ValueError, match="literal"):
        Permission(("kms:Decrypt",), condition={"StringEquals": {"kms:ViaService": "ssm.${AWS::Region}.amazonaws.com"}})
