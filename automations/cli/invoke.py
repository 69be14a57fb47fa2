"""Local invoke: run a function from its built artifact and layers, as Lambda would.

The environment is the deployed function's (read through the Lambda API) when its
stack is deployed, else the manifest defaults with the state table and alert topic
taken from the core stack's outputs. AWS calls go to `AWS_ENDPOINT_URL` or to the
account of the caller's credentials.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from automations.core.errors import CaretakerError, error_code
from builder.artifacts import RUNTIME_MODULES

RUNNER = Path(__file__).with_name("lambda_runner.py")
#: Where Lambda extracts layers.
OPT = "/opt/"
#: Host variables a local invoke passes through (credentials, region, endpoint, locale).
PASSTHROUGH_PREFIXES = ("AWS_", "PATH", "HOME", "LANG", "LC_", "TZ", "SSL_CERT", "REQUESTS_CA_BUNDLE", "TMPDIR")
#: Exit codes: the run's outcome, so scripts can act on it.
EXIT_OK, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 2


class InvokeError(CaretakerError):
    """The function could not be invoked (unknown name, no build, no event...)."""


@dataclass
class Invocation:
    name: str
    ok: bool
    result: Any
    error: dict[str, Any] | None
    environment_source: str
    exit_code: int
    output: str


def load_manifest(dist: Path) -> dict[str, Any]:
    path = dist / "manifest.json"
    if not path.exists():
        raise InvokeError(f"{path} not found: run `python build.py` first")
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def function_entry(manifest: Mapping[str, Any], name: str) -> dict[str, Any]:
    for entry in manifest["functions"]:
        if name in (entry["name"], entry.get("function_name")):
            return dict(entry)
    known = ", ".join(sorted(f["name"] for f in manifest["functions"]))
    raise InvokeError(f"no function named {name!r} in the manifest; known: {known}")


def core_outputs(manifest: Mapping[str, Any], session: boto3.session.Session) -> dict[str, str]:
    """Outputs of the core stack (first in the manifest), or {} when it is not deployed."""
    core = manifest["stacks"][0]["name"]
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=core)["Stacks"]
    except (ClientError, BotoCoreError):
        return {}
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def function_environment(entry: Mapping[str, Any], manifest: Mapping[str, Any],
                         session: boto3.session.Session) -> tuple[dict[str, str], str]:
    """The deployed function's environment, else the manifest defaults (with core stack outputs)."""
    try:
        config = session.client("lambda").get_function_configuration(FunctionName=entry["function_name"])
        variables = config.get("Environment", {}).get("Variables", {})
        return {k: str(v) for k, v in variables.items()}, "deployed function"  # Lambda's are strings; moto's not
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise InvokeError(f"cannot read {entry['function_name']}'s configuration: {exc}") from exc
    except BotoCoreError as exc:
        print(f"warning: Lambda API unreachable ({exc}); using manifest defaults", file=sys.stderr)
    env = {k: str(v) for k, v in entry["environment"].items()}
    outputs = core_outputs(manifest, session)
    fill = {"CARETAKER_STATE_TABLE": "StateTableName", "CARETAKER_ALERT_TOPIC_ARN": "AlertTopicArn"}
    for variable, output in fill.items():
        env[variable] = os.environ.get(variable) or env.get(variable) or outputs.get(output, "")
    return env, "manifest defaults"


def scheduled_event(entry: Mapping[str, Any], region: str, account: str = "123456789012") -> dict[str, Any]:
    """The EventBridge 'Scheduled Event' Lambda receives from a schedule rule."""
    import datetime
    import uuid

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{entry['function_name']}"],
        "detail": {},
    }


def default_event(entry: Mapping[str, Any], region: str) -> dict[str, Any]:
    trigger = entry["trigger"]
    if trigger["type"] == "schedule":
        return scheduled_event(entry, region)
    raise InvokeError(f"{entry['name']} is triggered by {trigger['type']!r} events: pass one with --event FILE "
                      "(samples live in tests/events/)")


_EXTRACTING = threading.Lock()


def extract(zip_path: Path, cache: Path) -> Path:
    """Extract an artifact once; artifacts are content-addressed, so the name is the cache key. Thread-safe
    (the demo invokes several functions at once: none may run from a half-extracted layer)."""
    target = cache / zip_path.stem
    with _EXTRACTING:
        if not (target / ".complete").exists():
            target.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(zip_path) as archive:
                archive.extractall(target)
            (target / ".complete").write_text("")
    return target


def opt_path(value: str, layer_roots: list[Path]) -> str:
    """A path under /opt (where Lambda extracts layers, e.g. `CARETAKER_BYTECODE_DIR`) mapped to the
    extracted layer that holds it; any other value unchanged."""
    if not value.startswith(OPT):
        return value
    relative = value.removeprefix(OPT)
    for root in layer_roots:
        if (root / relative).exists():
            return str(root / relative)
    return value


def exit_code_for(ok: bool, result: Any) -> int:
    if not ok:
        return EXIT_ERROR
    status = result.get("status") if isinstance(result, Mapping) else None
    if status == "failed":
        return EXIT_ERROR
    if status == "partial":
        return EXIT_PARTIAL
    return EXIT_OK


def invoke(name: str, *, dist: Path, event: Mapping[str, Any] | None = None, dry_run: bool = False,
           session: boto3.session.Session | None = None, capture: bool = False,
           extra_env: Mapping[str, str] | None = None) -> Invocation:
    """Run function `name` from `dist` in a fresh interpreter; return its result and exit code.

    `extra_env` adds host variables for this invocation only (e.g. `SSL_CERT_FILE` for a local responder)."""
    session = session or boto3.session.Session()
    region = session.region_name or "us-east-1"
    manifest = load_manifest(dist)
    entry = function_entry(manifest, name)
    env_vars, source = function_environment(entry, manifest, session)
    payload = dict(event) if event is not None else default_event(entry, region)

    cache = dist / ".invoke"
    code_dir = extract(dist / entry["artifact"], cache)
    layer_roots = [extract(dist / layer, cache) for layer in entry["layers"]]
    layer_dirs = [root / "python" for root in layer_roots if (root / "python").is_dir()]
    env_vars = {name: opt_path(value, layer_roots) for name, value in env_vars.items()}
    with tempfile.TemporaryDirectory(prefix="caretaker-invoke-") as tmp:
        request = {
            "code_dir": str(code_dir), "layer_dirs": [str(p) for p in layer_dirs], "handler": entry["handler"],
            "event": payload, "timeout": entry["timeout"], "memory": entry["memory"],
            "function_name": entry["function_name"], "result_path": str(Path(tmp) / "result.json"),
            "runtime_modules": sorted(RUNTIME_MODULES),
        }
        request_path = Path(tmp) / "request.json"
        request_path.write_text(json.dumps(request))
        environment = {k: v for k, v in os.environ.items() if k.startswith(PASSTHROUGH_PREFIXES)}
        environment.update(extra_env or {})
        environment.update(env_vars)
        environment.update({
            "AWS_REGION": region, "AWS_DEFAULT_REGION": region, "AWS_LAMBDA_FUNCTION_NAME": entry["function_name"],
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(entry["memory"]), "_HANDLER": entry["handler"],
        })
        if dry_run:
            environment["CARETAKER_DRY_RUN"] = "true"
        completed = subprocess.run([sys.executable, "-I", str(RUNNER), str(request_path)], env=environment,
                                   capture_output=capture, text=True, check=False)
        result_path = Path(request["result_path"])
        if not result_path.exists():
            raise InvokeError(f"the runner died without a result (exit {completed.returncode})"
                              + (f": {completed.stderr[-2000:]}" if capture else ""))
        outcome = json.loads(result_path.read_text())
    ok = bool(outcome.get("ok"))
    error = None if ok else {k: outcome.get(k) for k in ("errorType", "errorMessage", "stackTrace")}
    output = (completed.stdout or "") + (completed.stderr or "") if capture else ""
    return Invocation(entry["name"], ok, outcome.get("result"), error, source,
                      exit_code_for(ok, outcome.get("result")), output)
