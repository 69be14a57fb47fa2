"""dist/manifest.json follows DESIGN.md and agrees with the declarations and the files built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from automations.core import registry
from automations.core.spec import trigger_manifest
from builder.manifest import permission_entry

FUNCTION_KEYS = {"name", "stack", "logical_id", "handler", "runtime", "artifact", "layers", "timeout", "memory",
                 "environment", "permissions", "trigger"}


@pytest.fixture(scope="module")
def manifest(built_dist: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((built_dist / "manifest.json").read_text())
    return data


def test_manifest_is_sorted_stable_json(built_dist: Path, manifest: dict[str, Any]) -> None:
    assert (built_dist / "manifest.json").read_text() == json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def test_stacks_in_deployment_order_with_template_and_parameter_defaults(
        built_dist: Path, manifest: dict[str, Any]) -> None:
    stacks = manifest["stacks"]
    assert stacks[0]["name"] == "caretaker-core"
    for stack in stacks:
        assert set(stack) == {"name", "template", "parameters"}
        template = yaml.safe_load((built_dist / stack["template"]).read_text())
        assert set(stack["parameters"]) == set(template["Parameters"])
        for name, default in stack["parameters"].items():
            assert default == template["Parameters"][name].get("Default")
        if stack["name"] != "caretaker-core":
            assert {"ArtifactBucket", "ArtifactPrefix", "CoreStackName"} <= set(stack["parameters"])


def test_every_registered_function_has_an_entry(built_dist: Path, manifest: dict[str, Any]) -> None:
    entries = {f["name"]: f for f in manifest["functions"]}
    specs = registry.discover()
    assert sorted(entries) == [s.name for s in specs]
    stacks = {s["name"] for s in manifest["stacks"]}
    for spec in specs:
        entry = entries[spec.name]
        assert set(entry) >= FUNCTION_KEYS
        assert entry["stack"] in stacks and entry["stack"] == f"caretaker-{registry.stack_of(spec)}"
        assert (entry["logical_id"], entry["handler"], entry["function_name"]) == (
            spec.logical_id, spec.handler, spec.function_name)
        assert (entry["runtime"], entry["architecture"]) == ("python3.13", "arm64")
        assert (entry["timeout"], entry["memory"]) == (spec.timeout, spec.memory)
        assert entry["trigger"] == json.loads(json.dumps(trigger_manifest(spec.trigger)))
        assert entry["permissions"] == [json.loads(json.dumps(permission_entry(p))) for p in spec.all_permissions]
        assert (built_dist / entry["artifact"]).is_file()
        assert entry["layers"] and all((built_dist / layer).is_file() for layer in entry["layers"])


def test_environment_lists_every_setting_default(manifest: dict[str, Any]) -> None:
    for entry in manifest["functions"]:
        spec = registry.get(entry["name"])
        env = entry["environment"]
        for setting in spec.all_settings:
            assert env[setting.env_name] == setting.render(setting.default)
        assert env["CARETAKER_STATE_TABLE"] == ""
        assert env["CARETAKER_ALERT_TOPIC_ARN"] == ""
        assert env["CARETAKER_FUNCTION"] == spec.name
        assert all(isinstance(v, str) for v in env.values())


def test_artifacts_are_listed_with_their_hashes(built_dist: Path, manifest: dict[str, Any]) -> None:
    import hashlib

    for artifact in manifest["artifacts"]:
        digest = hashlib.sha256((built_dist / artifact["path"]).read_bytes()).hexdigest()
        assert artifact["sha256"] == digest
