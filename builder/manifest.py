"""`dist/manifest.json`: what was built, as DESIGN.md specifies (stable, sorted keys, no timestamps)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from automations.core.spec import Permission, trigger_manifest
from builder.artifacts import Artifact, Artifacts
from builder.bytecode import BytecodeChoice
from templates import names
from templates.functions import FunctionResources
from templates.organization import Organization
from templates.stacks import StackDef

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
TEMPLATES_DIR = "templates"
#: Example templates for other teams (not deployed by `deploy`), e.g. a consumer of every custom resource.
EXAMPLES_DIR = "examples"
ARTIFACTS_DIR = "artifacts"


def template_path(stack: StackDef) -> str:
    """Where a stack's template lives, relative to dist/."""
    return f"{TEMPLATES_DIR}/{stack.name}.yaml"


def artifact_path(artifact: Artifact) -> str:
    return f"{ARTIFACTS_DIR}/{artifact.name}"


def permission_entry(permission: Permission) -> dict[str, Any]:
    entry: dict[str, Any] = {"actions": list(permission.actions), "resources": list(permission.resources)}
    if permission.condition:
        entry["condition"] = {op: dict(values) for op, values in permission.condition.items()}
    return entry


def function_entry(stack: StackDef, resources: FunctionResources, artifacts: Artifacts) -> dict[str, Any]:
    spec = resources.spec
    return {
        "name": spec.name,
        "function_name": spec.function_name,
        "description": spec.description,
        "stack": stack.name,
        "logical_id": spec.logical_id,
        "handler": spec.handler,
        "runtime": names.RUNTIME,
        "architecture": names.ARCHITECTURE,
        "artifact": artifact_path(artifacts.code),
        "layers": [artifact_path(artifacts.layer), artifact_path(artifacts.bytecode)],
        "timeout": spec.timeout,
        "memory": spec.memory,
        "environment": {var.name: var.default for var in resources.environment},
        "permissions": [permission_entry(p) for p in spec.all_permissions],
        "trigger": trigger_manifest(spec.trigger),
    }


def organization_entries(organization: Organization) -> dict[str, Any]:
    """`hub` (a stack, like `stacks[]`) and `stack_sets`, in deployment order (docs/organizations.md)."""
    hub = organization.hub
    return {
        "hub": {"name": hub.name, "template": template_path(hub), "parameters": dict(hub.parameters)},
        "stack_sets": [
            {"name": s.stack.name, "template": template_path(s.stack), "parameters": dict(s.stack.parameters),
             "capabilities": list(s.capabilities), "scope": s.scope,
             "functions": [resources.spec.name for resources in s.stack.functions]}
            for s in organization.stack_sets
        ],
    }


def build_manifest(stacks: list[StackDef], artifacts: Artifacts, bytecode: BytecodeChoice,
                   examples: list[str] | None = None, organization: Organization | None = None) -> dict[str, Any]:
    """The manifest of one build: stacks in deployment order, functions in stack then name order.

    `examples` are paths (relative to dist/) of example templates that deploy leaves alone;
    `bytecode` says whether the layers carry bytecode, for which Python, or why not;
    `organization` adds the hub and the member stack sets (`build.py deploy --organization`).
    """
    return {
        **(organization_entries(organization) if organization is not None else {}),
        "bytecode": bytecode.manifest(),
        "examples": sorted(examples or []),
        "version": MANIFEST_VERSION,
        "artifacts": [
            {"path": artifact_path(a), "sha256": a.sha256}
            for a in (artifacts.code, artifacts.layer, artifacts.bytecode)
        ],
        "stacks": [
            {"name": s.name, "template": template_path(s), "parameters": dict(s.parameters)} for s in stacks
        ],
        "functions": [
            function_entry(s, resources, artifacts) for s in stacks for resources in s.functions
        ],
    }


def dumps(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def write_manifest(dist: Path, manifest: dict[str, Any]) -> Path:
    path = dist / MANIFEST_NAME
    path.write_text(dumps(manifest))
    return path


def read_manifest(dist: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((dist / MANIFEST_NAME).read_text())
    return data
