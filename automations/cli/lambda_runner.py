"""Runs one handler the way Lambda does, in a fresh interpreter started with `python -I`.

It imports the handler from the extracted code artifact and layers only: anything
that is neither in them, nor in the standard library, nor provided by the Lambda
Python runtime (boto3 and its dependencies) fails to import, as it would in Lambda.
Standard library only; started by `automations.cli.invoke`, never imported by it.

Usage: python -I lambda_runner.py REQUEST.json   (REQUEST: see invoke.py)
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
import traceback
import uuid
from collections.abc import Iterable, Sequence
from typing import Any


class LambdaRuntimeFinder(importlib.abc.MetaPathFinder):
    """Refuses top-level imports that Lambda could not satisfy."""

    def __init__(self, own_dirs: Iterable[str], runtime_modules: Iterable[str]) -> None:
        self.own_dirs = list(own_dirs)
        #: top-level modules the Lambda Python runtime provides besides the standard library (from the request:
        #: builder.artifacts.RUNTIME_MODULES, the list the build leaves out of the layer)
        self.runtime_modules = frozenset(runtime_modules)

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if "." in fullname or fullname in sys.stdlib_module_names or fullname in self.runtime_modules:
            return None
        if fullname.startswith("_sysconfigdata_"):  # the standard library's build configuration (sysconfig
            return None  # reads it, e.g. for zoneinfo's TZPATH); every CPython has one, under a platform name
        if fullname in sys.builtin_module_names:
            return None
        if importlib.machinery.PathFinder.find_spec(fullname, self.own_dirs) is not None:
            return None
        raise ModuleNotFoundError(
            f"No module named {fullname!r}: not in the artifact, its layers or the Lambda runtime", name=fullname)


def from_bytecode_layer(modules: dict[str, Any]) -> Iterable[str]:
    """Modules whose code came from the bytecode layer (automations.bytecode marks their loaders)."""
    for name, module in list(modules.items()):
        loader = getattr(getattr(module, "__spec__", None), "loader", None)
        if getattr(loader, "bytecode", None):
            yield name


class LambdaContext:
    def __init__(self, request: dict[str, Any]) -> None:
        self.function_name = request["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = request.get("function_arn", "")
        self.memory_limit_in_mb = request["memory"]
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = "/aws/lambda/" + self.function_name
        self.log_stream_name = "local-invoke"
        self._deadline = time.monotonic() + request["timeout"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(request_path: str) -> int:
    with open(request_path) as f:
        request = json.load(f)
    own_dirs = [request["code_dir"], *request["layer_dirs"]]
    # the runner's own folder must not shadow anything; keep stdlib and site-packages (boto3) only
    sys.path[:] = own_dirs + [p for p in sys.path[1:] if p]
    sys.meta_path.insert(0, LambdaRuntimeFinder(own_dirs, request["runtime_modules"]))
    module_name, function_name = request["handler"].rsplit(".", 1)
    outcome: dict[str, Any] = {"handler": request["handler"]}
    try:
        module = importlib.import_module(module_name)
        handler = getattr(module, function_name)
        if not callable(handler):
            raise TypeError(f"{request['handler']} is not callable")
        if request.get("import_only"):  # the registry meta-test: where did every module come from?
            loaded = {name: getattr(m, "__file__", None) for name, m in list(sys.modules.items())}
            outcome["result"] = {"module": module.__file__, "loaded": loaded,
                                 "from_bytecode_layer": sorted(from_bytecode_layer(sys.modules))}
        else:
            outcome["result"] = handler(request["event"], LambdaContext(request))
        outcome["ok"] = True
    except Exception as exc:  # reported to the caller like Lambda reports a function error
        outcome.update(ok=False, errorType=type(exc).__name__, errorMessage=str(exc),
                       stackTrace=traceback.format_exc().splitlines()[-12:])
    with open(request["result_path"], "w") as f:
        json.dump(outcome, f, default=str)
    return 0 if outcome["ok"] else 1


if __name__ == "__main__":
    os.environ.setdefault("AWS_EXECUTION_ENV", "AWS_Lambda_python-local-invoke")
    sys.exit(main(sys.argv[1]))
