"""The committed golden files are what the declarations render today (`make golden` regenerates them)."""

from __future__ import annotations

import difflib
import json

import pytest

from builder.pipeline import BuildResult
from tests.golden.render import FILES, PLACEHOLDER_SHA256, render

RENDERED = render()


@pytest.mark.parametrize("relative", sorted(RENDERED))
def test_rendered_file_matches_its_golden_copy(relative: str) -> None:
    golden = FILES / relative
    assert golden.exists(), f"{relative} has no golden copy: run `make golden` and commit tests/golden/files"
    expected = golden.read_text()
    if expected != RENDERED[relative]:
        diff = "".join(list(difflib.unified_diff(expected.splitlines(True), RENDERED[relative].splitlines(True),
                                                 f"golden/{relative}", f"rendered/{relative}"))[:80])
        pytest.fail(f"{relative} differs from its golden copy (run `make golden` if intended):\n{diff}")


def test_no_golden_file_is_left_over() -> None:
    on_disk = {str(p.relative_to(FILES)) for p in FILES.rglob("*") if p.is_file()}
    assert on_disk - set(RENDERED) == set(), "golden files no longer rendered: run `make golden`"


def test_rendering_is_deterministic() -> None:
    assert render() == RENDERED


def test_the_real_build_renders_the_same_files_but_for_artifact_names(build_result: BuildResult) -> None:
    """The golden rendering goes through the same functions as `build.py`: only the content hashes differ."""
    names = {a.name: placeholder for a, placeholder in (
        (build_result.code, "caretaker-code-"), (build_result.layer, "caretaker-deps-"),
        (build_result.bytecode, "caretaker-bytecode-"))}

    def normalised(text: str) -> str:
        for name, prefix in names.items():
            text = text.replace(name, f"{prefix}{PLACEHOLDER_SHA256[:12]}.zip")
        return text

    for path in build_result.templates:
        relative = str(path.relative_to(build_result.dist))
        assert normalised(path.read_text()) == RENDERED[relative], relative
    manifest = dict(build_result.manifest)
    golden = json.loads(RENDERED["manifest.json"])
    for key in ("artifacts", "bytecode"):
        manifest.pop(key)
        golden.pop(key)
    assert json.loads(normalised(json.dumps(manifest))) == golden
