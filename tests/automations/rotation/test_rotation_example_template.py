"""templates/rotation_example.py: the example stack for secret owners lints clean and points at the functions."""

from __future__ import annotations

from typing import Any

from automations.rotation import iam_access_key, password
from builder.lint import lint_text
from templates.rotation_example import BINDING_TAG, example_template, example_yaml


def test_the_example_lints_clean() -> None:
    assert lint_text(example_yaml(), "rotation-example") == []


def test_the_schedules_point_at_the_rotation_functions_and_the_user_names_its_secret() -> None:
    resources: dict[str, Any] = example_template().to_dict()["Resources"]
    arns = {name: r["Properties"]["RotationLambdaARN"]["Fn::Sub"] for name, r in resources.items()
            if r["Type"] == "AWS::SecretsManager::RotationSchedule"}
    assert arns["AppPasswordRotation"].endswith(":function:" + password.SPEC.function_name)
    assert arns["DeployerKeyRotation"].endswith(":function:" + iam_access_key.SPEC.function_name)
    assert BINDING_TAG == iam_access_key.BINDING_TAG
    [tag] = resources["Deployer"]["Properties"]["Tags"]
    assert tag["Key"] == BINDING_TAG
    assert tag["Value"] == resources["DeployerKey"]["Properties"]["Name"]
