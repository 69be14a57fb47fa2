"""Cold start: import time of every handler from the built artifacts, against `import boto3` alone.

    .venv/bin/python bench/cold_start.py [-n 9] [--diagnose-all] [--python PYTHON]

Builds the code artifact and both layers (no lint), extracts them as Lambda does (code under the
task root, the layers under /opt), and times, in fresh `python -I -B` interpreters with the code
folder and the dependency layer's `python/` first on `sys.path` (as automations/cli/lambda_runner.py
does), `importlib.import_module(<handler module>)` for every handler module in the manifest, and
`import boto3` alone. Runs are interleaved (one round over every module, `-n` rounds), and every
handler run is paired with an `import boto3` run just before it. It reports medians of the
interpreter's CPU time for the import (an import is CPU-bound; CPU time is what other load on a
shared machine disturbs least), the median of the paired ratios (handler / boto3 run before it:
load that moves both cancels out) and, for reference, the median wall time. It also counts the
botocore clients that exist right after the import (target 0: no work at import time).

Two columns: "as shipped" imports the artifacts as the build makes them, with their bytecode (the
dependency layer's `__pycache__`, the bytecode layer through `CARETAKER_BYTECODE_DIR`, as the
templates set it), compiled for the interpreter that is timed (`build(bytecode_python=...)`: the
build for Lambda compiles for python3.13, and Python ignores bytecode of another version). That is
this one, or `--python`, e.g. a python3.13 virtualenv with only boto3 installed: the runtime's
Python, with boto3 precompiled as the runtime has it. "no bytecode" is
the same without any `.pyc` and without the variable: what Lambda imported before bytecode shipped
(its task root and /opt are read-only, so Python compiled our modules at every cold start).

Targets: every handler <= 1.25x `import boto3` (the median paired ratio, as shipped); code
artifact <= 256 KB, each layer <= 5 MB (zipped; the sizes of the build for Lambda, i.e. with the
runtime's bytecode when a Python of its version is found, see builder/bytecode.py). For a handler
over the target it lists, from `-X importtime`, the modules boto3 alone does not import, by their
own import time as shipped and without bytecode.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from automations import bytecode  # noqa: E402
from builder.bytecode import probe  # noqa: E402
from builder.pipeline import BuildResult, build  # noqa: E402

TARGET_RATIO = 1.25
CODE_LIMIT = 256 * 1024
LAYER_LIMIT = 5 * 1024 * 1024
BASELINE = "boto3"

IMPORT_ONE = """
import gc, importlib, json, sys, time
code, layer, module = sys.argv[1:4]
sys.path[:] = [code, layer] + [p for p in sys.path if p]
started, cpu = time.perf_counter(), time.process_time()
importlib.import_module(module)
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
import botocore.client
clients = sum(isinstance(o, botocore.client.BaseClient) for o in gc.get_objects())
ours = [m for n, m in list(sys.modules.items()) if n.partition(".")[0] in ("automations", "custom_resources")]
compiled = sum(not getattr(m.__spec__.loader, "bytecode", None) for m in ours)
print(json.dumps({"wall": elapsed * 1000, "ms": cpu * 1000, "clients": clients, "compiled": compiled}))
"""


@dataclass(frozen=True)
class Lambda:
    """The interpreter, and the extracted artifacts: the code folder, the dependency layer's python/ and
    the bytecode folder (or None)."""

    python: str
    code: Path
    layer: Path
    bytecode_dir: Path | None

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != bytecode.ENV_VAR}
        if self.bytecode_dir is not None:
            env[bytecode.ENV_VAR] = str(self.bytecode_dir)
        return env


def extract(artifact: Path, into: Path, *, bytecode_files: bool = True) -> Path:
    with zipfile.ZipFile(artifact) as archive:
        archive.extractall(into, [n for n in archive.namelist() if bytecode_files or not n.endswith(".pyc")])
    return into


def extracted(result: BuildResult, into: Path, python: str) -> tuple[Lambda, Lambda]:
    """The build as shipped (with its bytecode), and the same without any bytecode."""
    code = extract(result.code.path, into / "task")
    opt = extract(result.bytecode.path, extract(result.layer.path, into / "opt"))
    bare = extract(result.layer.path, into / "opt-no-bytecode", bytecode_files=False)
    return (Lambda(python, code, opt / "python", opt / bytecode.LAYER_DIR),
            Lambda(python, code, bare / "python", None))


def time_import(where: Lambda, module: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([where.python, "-I", "-B", *flags, "-c", IMPORT_ONE, str(where.code), str(where.layer),
                           module], capture_output=True, text=True, check=True, env=where.environment())


def own_import_times(where: Lambda, module: str) -> dict[str, int]:
    """module -> self import time (us), from `-X importtime`."""
    stderr = time_import(where, module, "-X", "importtime").stderr
    found: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _cumulative, name = line[len("import time:"):].split("|")
        found[name.strip()] = int(own)
    return found


def diagnose(shipped: Lambda, bare: Lambda, module: str, baseline: dict[str, int]) -> None:
    found = own_import_times(shipped, module)
    without = own_import_times(bare, module)
    extra = {name: us for name, us in found.items() if name not in baseline}
    print(f"      {len(extra)} modules boto3 alone does not import, own import time as shipped "
          f"{sum(extra.values()) / 1000:.1f} ms, without bytecode "
          f"{sum(without.get(n, 0) for n in extra) / 1000:.1f} ms; the largest (as shipped / without bytecode):")
    for name, us in sorted(extra.items(), key=lambda item: -item[1])[:6]:
        print(f"        {us / 1000:5.1f} / {without.get(name, 0) / 1000:4.1f} ms  {name}")


def print_sizes(result: BuildResult, label: str) -> None:
    print(f"  sizes, {label} ({result.bytecode_choice.describe()}):")
    for what, artifact, limit, target in (("code artifact", result.code, CODE_LIMIT, "256 KB"),
                                          ("dependency layer", result.layer, LAYER_LIMIT, "5 MB"),
                                          ("bytecode layer", result.bytecode, LAYER_LIMIT, "5 MB")):
        size = artifact.path.stat().st_size
        shown = f"{size / 1024:.0f} KB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.2f} MB"
        print(f"    {what} {artifact.name}: {shown} zipped (target <= {target}: "
              f"{'met' if size <= limit else 'MISSED'})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--rounds", type=int, default=9, help="fresh interpreters per module (>= 5)")
    parser.add_argument("--diagnose-all", action="store_true", help="list the extra imports of every handler")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter to time (default: this one); it must import boto3")
    args = parser.parse_args(argv)
    timed = probe(args.python, "--python")
    if timed is None:
        parser.error(f"{args.python} does not run")
    rounds = max(args.rounds, 5)

    with tempfile.TemporaryDirectory() as tmp:
        for_lambda = build(Path(tmp) / "dist-lambda", lint=False)
        result = build(Path(tmp) / "dist", lint=False, bytecode_python=args.python)
        manifest = json.loads((result.dist / "manifest.json").read_text())
        shipped, bare = extracted(result, Path(tmp), args.python)
        modules = sorted({f["handler"].rsplit(".", 1)[0] for f in manifest["functions"]})
        columns = {"shipped": shipped, "bare": bare}

        samples: dict[tuple[str, str], list[float]] = {}
        ratios: dict[tuple[str, str], list[float]] = {}
        walls: dict[str, list[float]] = {}
        clients: dict[str, int] = {}
        compiled: dict[str, int] = {}
        for _ in range(rounds):
            for module in modules:
                # each handler run is paired with a baseline run just before it: the ratio of the pair
                # is what load on a shared machine (which moves both) disturbs least
                runs = {"baseline": json.loads(time_import(shipped, BASELINE).stdout)}
                for column, where in columns.items():
                    runs[column] = json.loads(time_import(where, module).stdout)
                samples.setdefault((BASELINE, "shipped"), []).append(runs["baseline"]["ms"])
                walls.setdefault(BASELINE, []).append(runs["baseline"]["wall"])
                for column in columns:
                    samples.setdefault((module, column), []).append(runs[column]["ms"])
                    ratios.setdefault((module, column), []).append(runs[column]["ms"] / runs["baseline"]["ms"])
                walls.setdefault(module, []).append(runs["shipped"]["wall"])
                compiled[module] = max(compiled.get(module, 0), runs["shipped"]["compiled"])
                for measured in runs.values():
                    clients[module] = max(clients.get(module, 0), measured["clients"])

        base = statistics.median(samples[(BASELINE, "shipped")])
        print(f"cold start, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {timed.version[0]}.{timed.version[1]} "
              f"({args.python}), median CPU time of {rounds} fresh interpreters per module and column "
              f"(python -I -B, built artifact + layers), x = median ratio to the `import boto3` run just before; "
              f"wall time as shipped for reference")
        print(f"  {'':<48} {'as shipped':>18} {'no bytecode':>18}  clients  wall")
        print(f"  {'import boto3 (baseline)':<48} {base:9.1f} ms       {'':>18}        "
              f"{statistics.median(walls[BASELINE]):6.1f} ms")
        baseline_modules = own_import_times(shipped, BASELINE)
        misses = []
        ratio = {key: statistics.median(values) for key, values in ratios.items()}
        for module in modules:
            median = statistics.median(samples[(module, "shipped")])
            bare_median = statistics.median(samples[(module, "bare")])
            ok = ratio[(module, "shipped")] <= TARGET_RATIO and clients[module] == 0
            print(f"  {module:<48} {median:7.1f} ms x{ratio[(module, 'shipped')]:.2f} {bare_median:7.1f} ms "
                  f"x{ratio[(module, 'bare')]:.2f}  {clients[module]:>4}  {statistics.median(walls[module]):7.1f} ms  "
                  f"{'ok' if ok else 'OVER TARGET'}")
            if not ok:
                misses.append(module)
            if not ok or args.diagnose_all:
                diagnose(shipped, bare, module, baseline_modules)
        worst = {column: max(ratio[(m, column)] for m in modules) for column in columns}
        best = {column: min(ratio[(m, column)] for m in modules) for column in columns}
        within = sum(ratio[(m, "bare")] <= TARGET_RATIO for m in modules)
        print(f"  as shipped: {len(modules) - len(misses)} of {len(modules)} handlers within x{TARGET_RATIO} "
              f"(target: all; x{best['shipped']:.2f} to x{worst['shipped']:.2f}); without bytecode: {within} of "
              f"{len(modules)} (x{best['bare']:.2f} to x{worst['bare']:.2f})")
        print(f"  as shipped, modules of ours compiled from source (not from the bytecode layer): "
              f"{min(compiled.values())} to {max(compiled.values())} per handler (those imported before the hook)")
        print_sizes(for_lambda, "the build for Lambda")
        if for_lambda.bytecode_choice.manifest() != result.bytecode_choice.manifest():
            print_sizes(result, "the build timed here")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
