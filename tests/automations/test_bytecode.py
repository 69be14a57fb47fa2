"""The bytecode hook (automations/bytecode.py), in fresh interpreters on a small code tree.

The tree holds the real `automations/__init__.py` and `automations/bytecode.py`, a module of ours
that says where its code came from, and a package that is not ours. A `.pyc` in the bytecode
folder is crafted to carry the hash of a given source but the code of another one, so the module's
`MARKER` tells which was run.
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from automations import bytecode

REPO = Path(__file__).resolve().parents[2]
SOURCE = b'MARKER = "source"\n'
PROBE = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
module = importlib.import_module(sys.argv[2])
loader = module.__spec__.loader
print(json.dumps({"marker": module.MARKER, "loader": type(loader).__name__,
                  "bytecode": getattr(loader, "bytecode", None), "file": module.__file__,
                  "co_filename": module.probe_code_filename()}))
"""
#: The probe modules also report the file name their code objects carry (tracebacks show it).
FUNCTION = b"\ndef probe_code_filename():\n    return probe_code_filename.__code__.co_filename\n"
TAG = sys.implementation.cache_tag


def pyc(source_hash_of: bytes, code_of: bytes, *, magic: bytes = importlib.util.MAGIC_NUMBER,
        flags: int = 0b11) -> bytes:
    """A `.pyc` whose header claims `source_hash_of` while its code is compiled from `code_of`."""
    header = magic + flags.to_bytes(4, "little") + importlib.util.source_hash(source_hash_of)
    return header + marshal.dumps(compile(code_of + FUNCTION, "/var/task/somewhere.py", "exec"))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """code/{automations,custom_resources,other}/ with a `probe` module each, and an empty bytecode/."""
    code = tmp_path / "code"
    for package in ("automations", "custom_resources", "other"):
        (code / package).mkdir(parents=True)
        (code / package / "probe.py").write_bytes(SOURCE + FUNCTION)
    shutil.copy(REPO / "automations" / "__init__.py", code / "automations")
    shutil.copy(REPO / "automations" / "bytecode.py", code / "automations")
    shutil.copy(REPO / "custom_resources" / "__init__.py", code / "custom_resources")
    (code / "other" / "__init__.py").write_text("import automations  # the hook is in place before other.probe\n")
    (tmp_path / "bytecode").mkdir()
    return tmp_path


def put_pyc(tree: Path, module: str, content: bytes) -> Path:
    path = tree / "bytecode" / bytecode.bytecode_name(module.replace(".", "/") + ".py", TAG)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def run_probe(tree: Path, module: str, *, bytecode_dir: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != bytecode.ENV_VAR}
    if bytecode_dir is not None:
        env[bytecode.ENV_VAR] = str(bytecode_dir)
    completed = subprocess.run([sys.executable, "-I", "-B", "-c", PROBE, str(tree / "code"), module],
                               capture_output=True, text=True, timeout=60, check=True, env=env)
    result: dict[str, str] = json.loads(completed.stdout)
    return result


@pytest.mark.parametrize("module", ["automations.probe", "custom_resources.probe"])
def test_our_module_runs_the_layer_bytecode_when_its_hash_matches_the_source(tree: Path, module: str) -> None:
    path = put_pyc(tree, module, pyc(SOURCE + FUNCTION, b'MARKER = "bytecode layer"\n'))
    result = run_probe(tree, module, bytecode_dir=tree / "bytecode")
    assert result["marker"] == "bytecode layer"
    assert result["loader"] == "BytecodeLayerLoader"
    assert result["bytecode"] == str(path)
    assert result["co_filename"] == result["file"]  # tracebacks point at the source, as with __pycache__


@pytest.mark.parametrize("stale", [
    pytest.param(pyc(b'MARKER = "old"\n', b'MARKER = "stale"\n'), id="source-changed"),
    pytest.param(pyc(SOURCE + FUNCTION, b'MARKER = "stale"\n', magic=b"\x00\x00\r\n"), id="other-python"),
    pytest.param(pyc(SOURCE + FUNCTION, b'MARKER = "stale"\n', flags=0), id="timestamp-based"),
    pytest.param(b"\x00" * 10, id="truncated"),
])
def test_a_pyc_that_does_not_match_is_ignored_and_the_source_runs(tree: Path, stale: bytes) -> None:
    put_pyc(tree, "automations.probe", stale)
    result = run_probe(tree, "automations.probe", bytecode_dir=tree / "bytecode")
    assert result["marker"] == "source"
    assert result["loader"] == "BytecodeLayerLoader"
    assert result["bytecode"] is None


def test_a_module_without_a_pyc_is_compiled_from_source(tree: Path) -> None:
    result = run_probe(tree, "automations.probe", bytecode_dir=tree / "bytecode")
    assert (result["marker"], result["bytecode"]) == ("source", None)


def test_modules_outside_our_packages_are_left_to_python(tree: Path) -> None:
    put_pyc(tree, "other.probe", pyc(SOURCE + FUNCTION, b'MARKER = "bytecode layer"\n'))
    result = run_probe(tree, "other.probe", bytecode_dir=tree / "bytecode")
    assert result["marker"] == "source"
    assert result["loader"] == "SourceFileLoader"


@pytest.mark.parametrize("configured", ["unset", "missing folder"])
def test_nothing_is_installed_without_an_existing_bytecode_folder(tree: Path, configured: str) -> None:
    put_pyc(tree, "automations.probe", pyc(SOURCE + FUNCTION, b'MARKER = "bytecode layer"\n'))
    folder = None if configured == "unset" else tree / "nowhere"
    result = run_probe(tree, "automations.probe", bytecode_dir=folder)
    assert (result["marker"], result["loader"]) == ("source", "SourceFileLoader")
