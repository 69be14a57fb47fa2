"""Each handler imports from the BUILT code artifact and layer alone, without build-time packages.

A fresh interpreter (`-I -S`: no site, no PYTHONPATH, no cwd) sees only the extracted code, the
extracted layer and, for what the Lambda runtime provides (boto3 & co.), site-packages; a
meta-path finder refuses troposphere, awacs, cfn-lint and moto, and any other third-party
top-level package the Lambda runtime would not have.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from automations.core import registry
from builder.pipeline import BuildResult

SPECS = registry.discover()

PROBE = r"""
import importlib, importlib.abc, json, sys
code, layer, site = sys.argv[1:4]
BLOCKED = {"troposphere", "awacs", "cfnlint", "cfn_lint", "moto", "templates", "builder"}
RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six"}

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in BLOCKED:
            raise ImportError(f"{name} is build-time only")
        if path is None and top not in RUNTIME and top not in sys.stdlib_module_names:
            from importlib.machinery import PathFinder
            if PathFinder.find_spec(top, [code, layer]) is None:
                raise ImportError(f"{name} is neither in the artifacts nor in the Lambda runtime")
        return None

sys.meta_path.insert(0, Refuse())
sys.path[:] = [p for p in sys.path if "site-packages" not in p] + [code, layer, site]
module_name, _, attr = sys.argv[4].rpartition(".")
module = importlib.import_module(module_name)
handler = getattr(module, attr)
assert callable(handler), attr
loaded = {name: getattr(m, "__file__", None) for name, m in list(sys.modules.items())}
print(json.dumps({"module": module.__file__, "loaded": loaded}))
"""


@pytest.fixture(scope="module")
def extracted(build_result: BuildResult, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lambda")
    code, layer = root / "code", root / "layer"
    with zipfile.ZipFile(build_result.code.path) as archive:
        archive.extractall(code)
    with zipfile.ZipFile(build_result.layer.path) as archive:
        archive.extractall(layer)
    return code, layer / "python"


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_handler_imports_from_the_built_artifacts_only(spec: object, extracted: tuple[Path, Path]) -> None:
    from automations.core.spec import FunctionSpec

    assert isinstance(spec, FunctionSpec)
    code, layer = extracted
    completed = run_probe(spec.handler, extracted)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.splitlines()[-1])
    assert report["module"].startswith(str(code))
    for name, file in report["loaded"].items():
        top = name.partition(".")[0]
        if top in ("aws_lambda_powertools", "crhelper", "typing_extensions") and file:
            assert file.startswith(str(layer)), f"{name} came from {file}"
        if top in ("automations", "custom_resources") and file:
            assert file.startswith(str(code)), f"{name} came from {file}"


def run_probe(target: str, extracted: tuple[Path, Path]) -> subprocess.CompletedProcess[str]:
    code, layer = extracted
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE, str(code), str(layer), sysconfig.get_paths()["purelib"], target],
        capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.mark.parametrize(("target", "reason"), [
    ("troposphere.Template", "build-time only"),
    ("yaml.safe_load", "neither in the artifacts nor in the Lambda runtime"),
])
def test_the_probe_refuses_what_lambda_would_not_have(target: str, reason: str,
                                                      extracted: tuple[Path, Path]) -> None:
    completed = run_probe(target, extracted)
    assert completed.returncode != 0
    assert reason in completed.stderr
