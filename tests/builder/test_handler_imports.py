"""Each handler imports from the BUILT code artifact and layers alone, without build-time packages.

The check runs the local-invoke runner (`automations/cli/lambda_runner.py`) in import-only mode:
a fresh `python -I` interpreter whose imports are limited to the extracted code, the extracted
layer, the standard library and what the Lambda runtime provides (boto3 & co.); troposphere,
awacs, cfn-lint, moto and any other package installed here fail to import. The environment points
`CARETAKER_BYTECODE_DIR` at the extracted bytecode layer, as the templates do in Lambda (the session
build compiled it for this interpreter), so our modules' code comes from there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from automations import bytecode
from automations.cli.invoke import RUNNER
from automations.core import registry
from automations.core.spec import FunctionSpec
from builder.artifacts import RUNTIME_MODULES
from builder.pipeline import BuildResult

SPECS = registry.discover()
#: Our modules imported before the bytecode hook is in place (it is installed by the package itself).
BEFORE_THE_HOOK = {"automations", "automations.bytecode", "custom_resources"}


@pytest.fixture(scope="module")
def extracted(build_result: BuildResult, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("lambda")
    code, opt = root / "code", root / "opt"  # Lambda extracts every layer into /opt
    with zipfile.ZipFile(build_result.code.path) as archive:
        archive.extractall(code)
    for layer in (build_result.layer, build_result.bytecode):
        with zipfile.ZipFile(layer.path) as archive:
            archive.extractall(opt)
    return code, opt / "python"


def import_only(handler: str, extracted: tuple[Path, Path], tmp_path: Path) -> dict[str, Any]:
    code, layer = extracted
    request = {"code_dir": str(code), "layer_dirs": [str(layer)], "handler": handler, "event": {},
               "timeout": 60, "memory": 128, "function_name": "probe", "import_only": True,
               "result_path": str(tmp_path / "result.json"), "runtime_modules": sorted(RUNTIME_MODULES)}
    (tmp_path / "request.json").write_text(json.dumps(request))
    env = dict(os.environ, **{bytecode.ENV_VAR: str(layer.parent / bytecode.LAYER_DIR)})
    subprocess.run([sys.executable, "-I", str(RUNNER), str(tmp_path / "request.json")], timeout=60, check=False,
                   env=env)
    result: dict[str, Any] = json.loads((tmp_path / "result.json").read_text())
    return result


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_handler_imports_from_the_built_artifacts_only(spec: FunctionSpec, extracted: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    code, layer = extracted
    outcome = import_only(spec.handler, extracted, tmp_path)
    assert outcome["ok"], outcome.get("stackTrace")
    assert outcome["result"]["module"].startswith(str(code))
    for name, file in outcome["result"]["loaded"].items():
        top = name.partition(".")[0]
        assert top not in ("troposphere", "awacs", "cfnlint", "moto", "templates", "builder"), name
        if top in ("aws_lambda_powertools", "crhelper", "typing_extensions") and file:
            assert file.startswith(str(layer)), f"{name} came from {file}"
        if top in ("automations", "custom_resources") and file:
            assert file.startswith(str(code)), f"{name} came from {file}"
    ours = {name for name in outcome["result"]["loaded"] if name.partition(".")[0] in bytecode.PACKAGES}
    assert set(outcome["result"]["from_bytecode_layer"]) == ours - BEFORE_THE_HOOK


@pytest.mark.parametrize("target", ["troposphere.Template", "yaml.safe_load", "templates.stacks.render_all"])
def test_the_runner_refuses_what_lambda_would_not_have(target: str, extracted: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    outcome = import_only(target, extracted, tmp_path)
    assert outcome["ok"] is False
    assert outcome["errorType"] == "ModuleNotFoundError"
    assert "Lambda runtime" in outcome["errorMessage"]
