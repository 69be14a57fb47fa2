"""One build: artifacts, then templates, then lint, then the manifest (written last, only on success)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder import lint as linting
from builder.artifacts import Artifact, build_artifacts
from builder.bytecode import BytecodeChoice, choose_python
from builder.errors import LintError
from builder.manifest import (
    ARTIFACTS_DIR,
    EXAMPLES_DIR,
    MANIFEST_NAME,
    TEMPLATES_DIR,
    build_manifest,
    template_path,
    write_manifest,
)
from templates.consumer_example import custom_resource_specs, render_consumer_example
from templates.organization import render_organization
from templates.stacks import StackDef, render_all, render_yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = "requirements-lambda.txt"
DEFAULT_OUT = PROJECT_ROOT / "dist"


@dataclass
class BuildResult:
    dist: Path
    code: Artifact
    layer: Artifact
    bytecode: Artifact
    #: the interpreter that compiled the bytecode, or why there is none
    bytecode_choice: BytecodeChoice
    templates: list[Path]
    manifest: dict[str, Any]
    #: seconds spent per phase: artifacts, render, lint
    timings: dict[str, float] = field(default_factory=dict)


def _remove_stale(directory: Path, pattern: str, keep: set[str]) -> None:
    for path in directory.glob(pattern):
        if path.name not in keep:
            path.unlink()


def build(out: Path = DEFAULT_OUT, *, lint: bool = True, root: Path = PROJECT_ROOT,
          bytecode_python: str | None = None) -> BuildResult:
    """Build everything into `out`; raise `BuildError` (one-line message) when anything is wrong.

    `lint=False` skips cfn-lint (tests that build many times; the lint test does not).
    `bytecode_python` compiles the bytecode with that interpreter, whatever its version (the
    cold-start bench times this interpreter); by default one of the runtime's version is looked
    for (see builder/bytecode.py).
    """
    timings: dict[str, float] = {}
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_NAME).unlink(missing_ok=True)  # a manifest exists only for a complete build

    started = time.perf_counter()
    artifacts_dir = out / ARTIFACTS_DIR
    choice = choose_python(bytecode_python)
    built = build_artifacts(root, root / REQUIREMENTS, artifacts_dir, choice)
    code, layer, bytecode = built.code, built.layer, built.bytecode
    _remove_stale(artifacts_dir, "caretaker-*.zip", {code.name, layer.name, bytecode.name})
    timings["artifacts"] = time.perf_counter() - started

    started = time.perf_counter()
    stacks = render_all(code.name, layer.name, bytecode.name)
    organization = render_organization(code.name, layer.name, bytecode.name)
    everything: list[StackDef] = [*stacks, organization.hub, *(s.stack for s in organization.stack_sets)]
    templates: list[Path] = []
    for stack in everything:
        path = out / template_path(stack)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_yaml(stack.template))
        templates.append(path)
    _remove_stale(out / TEMPLATES_DIR, "*.yaml", {p.name for p in templates})
    examples: list[Path] = []
    if custom_resource_specs():
        example = out / EXAMPLES_DIR / "custom-resources-consumer.yaml"
        example.parent.mkdir(parents=True, exist_ok=True)
        example.write_text(render_yaml(render_consumer_example()))
        examples.append(example)
    timings["render"] = time.perf_counter() - started

    started = time.perf_counter()
    if lint:
        findings = linting.lint_files(templates + examples)
        if findings:
            raise LintError([str(finding) for finding in findings])
    timings["lint"] = time.perf_counter() - started

    manifest = build_manifest(stacks, built, choice, [str(p.relative_to(out)) for p in examples], organization)
    write_manifest(out, manifest)
    return BuildResult(dist=out, code=code, layer=layer, bytecode=bytecode, bytecode_choice=choice,
                       templates=templates, manifest=manifest, timings=timings)
