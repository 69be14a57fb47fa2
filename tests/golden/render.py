"""What is deployed, rendered from the declarations alone: every template and the manifest.

The golden files under `tests/golden/files/` are these renderings, committed, so that every change to the code
shows its effect on what CloudFormation deploys in review. Artifact names and hashes depend on the code's bytes
and the bytecode entry on the machine, so both are fixed placeholders here: the files change only when a
declaration, a template function or the manifest format changes.

Regenerate after a deliberate change with `make golden` (`.venv/bin/python -m tests.golden`).
"""

from __future__ import annotations

from pathlib import Path

from builder.artifacts import Artifact, Artifacts
from builder.bytecode import BytecodeChoice
from builder.manifest import EXAMPLES_DIR, build_manifest, dumps, template_path
from templates.consumer_example import custom_resource_specs, render_consumer_example
from templates.organization import render_organization
from templates.stacks import render_all, render_yaml

FILES = Path(__file__).resolve().parent / "files"
PLACEHOLDER_SHA256 = "0" * 64
NO_BYTECODE = BytecodeChoice(None, "golden files are rendered without bytecode")


def _placeholder(kind: str) -> Artifact:
    return Artifact(name=f"caretaker-{kind}-{PLACEHOLDER_SHA256[:12]}.zip", path=Path(), sha256=PLACEHOLDER_SHA256)


def render() -> dict[str, str]:
    """Relative path under `files/` -> text, for every template, the consumer example and the manifest."""
    artifacts = Artifacts(code=_placeholder("code"), layer=_placeholder("deps"), bytecode=_placeholder("bytecode"))
    stacks = render_all(artifacts.code.name, artifacts.layer.name, artifacts.bytecode.name)
    organization = render_organization(artifacts.code.name, artifacts.layer.name, artifacts.bytecode.name)
    files = {template_path(stack): render_yaml(stack.template)
             for stack in [*stacks, organization.hub, *(s.stack for s in organization.stack_sets)]}
    examples = []
    if custom_resource_specs():
        example = f"{EXAMPLES_DIR}/custom-resources-consumer.yaml"
        files[example] = render_yaml(render_consumer_example())
        examples.append(example)
    files["manifest.json"] = dumps(build_manifest(stacks, artifacts, NO_BYTECODE, examples, organization))
    return files


def write(directory: Path = FILES) -> list[str]:
    """Write every rendering under `directory`, remove files no longer rendered; the changed paths."""
    rendered = render()
    changed = []
    for relative, text in rendered.items():
        path = directory / relative
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(relative)
    for path in sorted(directory.rglob("*")):
        if path.is_file() and str(path.relative_to(directory)) not in rendered:
            path.unlink()
            changed.append(str(path.relative_to(directory)))
    return changed
