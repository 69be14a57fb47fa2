"""Bytecode in the layers: what they hold, which interpreter compiles it, and builds without one."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from automations import bytecode as loader
from builder import bytecode
from builder.artifacts import BYTECODE_README, build_artifacts, pycache_name
from builder.cli import main
from builder.errors import BuildError
from builder.pipeline import PROJECT_ROOT, REQUIREMENTS, BuildResult
from templates import names

THIS_PYTHON = f"python{sys.version_info[0]}.{sys.version_info[1]}"
CHECKED_HASH = 0b11


def contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def assert_checked_pyc_of(pyc: bytes, source: bytes) -> None:
    assert pyc[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(pyc[4:8], "little") == CHECKED_HASH
    assert pyc[8:16] == importlib.util.source_hash(source)


def test_bytecode_layer_holds_a_checked_pyc_for_every_module_of_the_code_zip(build_result: BuildResult) -> None:
    code = contents(build_result.code.path)
    layer = contents(build_result.bytecode.path)
    tag = sys.implementation.cache_tag
    expected = {f"{loader.LAYER_DIR}/{loader.bytecode_name(name, tag)}": name for name in code if name.endswith(".py")}
    assert set(layer) == set(expected) | {BYTECODE_README}
    for pyc_name, source_name in expected.items():
        assert_checked_pyc_of(layer[pyc_name], code[source_name])


def test_dependency_layer_holds_a_checked_pyc_next_to_every_source(build_result: BuildResult) -> None:
    layer = contents(build_result.layer.path)
    sources = [name for name in layer if name.endswith(".py")]
    assert sources
    for name in sources:
        assert_checked_pyc_of(layer[pycache_name(name, sys.implementation.cache_tag)], layer[name])


def test_python_uses_the_dependency_layers_bytecode_as_it_is(build_result: BuildResult, tmp_path: Path) -> None:
    with zipfile.ZipFile(build_result.layer.path) as archive:
        archive.extractall(tmp_path)
    layer = tmp_path / "python"
    script = f"import sys; sys.path.insert(0, {str(layer)!r}); import crhelper"
    completed = subprocess.run([sys.executable, "-I", "-B", "-v", "-c", script],
                               capture_output=True, text=True, timeout=60, check=True)
    assert f"code object from '{layer}/crhelper/__pycache__/__init__.{sys.implementation.cache_tag}.pyc'" \
        in completed.stderr


def test_manifest_and_output_say_which_python_compiled_the_bytecode(build_result: BuildResult) -> None:
    manifest = json.loads((build_result.dist / "manifest.json").read_text())
    assert manifest["bytecode"] == {"compiled": True, "cache_tag": sys.implementation.cache_tag,
                                    "python": THIS_PYTHON.removeprefix("python")}
    artifacts = {Path(a["path"]).name for a in manifest["artifacts"]}
    assert build_result.bytecode.name in artifacts
    for function in manifest["functions"]:
        assert function["layers"] == [f"artifacts/{build_result.layer.name}", f"artifacts/{build_result.bytecode.name}"]
        assert function["environment"][loader.ENV_VAR] == "/opt/caretaker-bytecode"


def test_a_build_without_the_runtimes_python_ships_no_bytecode_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(names, "RUNTIME", "python3.99")  # no such interpreter anywhere
    monkeypatch.delenv(bytecode.ENV_VAR, raising=False)
    assert main(["--out", str(tmp_path / "dist"), "--no-lint"]) == 0
    output = capsys.readouterr().out
    assert "no bytecode: no Python 3.99 found" in output
    manifest = json.loads((tmp_path / "dist" / "manifest.json").read_text())
    assert manifest["bytecode"]["compiled"] is False
    assert "no Python 3.99 found" in manifest["bytecode"]["reason"]
    artifacts = {Path(a["path"]).name.rsplit("-", 1)[0]: tmp_path / "dist" / a["path"] for a in manifest["artifacts"]}
    assert not [name for name in contents(artifacts["caretaker-deps"]) if name.endswith(".pyc")]
    readme = contents(artifacts["caretaker-bytecode"])
    assert list(readme) == [BYTECODE_README]
    assert b"No bytecode in this build: no Python 3.99 found" in readme[BYTECODE_README]


def test_the_build_interpreter_is_used_when_it_is_the_runtimes_version() -> None:
    choice = bytecode.choose_python(runtime=THIS_PYTHON, environ={"PATH": ""})
    assert choice.python is not None
    assert (choice.python.executable, choice.python.chosen_by) == (sys.executable, "build interpreter")


def test_the_runtimes_python_is_found_on_path(tmp_path: Path) -> None:
    fake = tmp_path / "python3.99"  # answers the probe like a Python 3.99 would
    fake.write_text("#!/bin/sh\necho cpython-399 3 99\n")
    fake.chmod(0o755)
    choice = bytecode.choose_python(runtime="python3.99", environ={"PATH": str(tmp_path)})
    assert choice.python == bytecode.BytecodePython(str(fake), (3, 99), "cpython-399", "PATH")


def test_the_environment_variable_wins_and_must_be_the_runtimes_version() -> None:
    chosen = bytecode.choose_python(runtime=THIS_PYTHON, environ={bytecode.ENV_VAR: sys.executable})
    assert chosen.python is not None and chosen.python.chosen_by == bytecode.ENV_VAR
    with pytest.raises(BuildError, match=rf"{bytecode.ENV_VAR}=.* is Python 3\.\d+; the runtime is python3\.99"):
        bytecode.choose_python(runtime="python3.99", environ={bytecode.ENV_VAR: sys.executable})


def test_a_module_of_ours_that_does_not_compile_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "automations").mkdir()
    (tmp_path / "automations" / "__init__.py").write_text("")
    (tmp_path / "automations" / "broken.py").write_text("def broken(:\n")
    choice = bytecode.choose_python(sys.executable)
    with pytest.raises(BuildError, match=r"automations/broken\.py does not compile for Python 3\.\d+"):
        build_artifacts(tmp_path, PROJECT_ROOT / REQUIREMENTS, tmp_path / "out", choice)
