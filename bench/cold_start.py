"""Cold start: import time of every handler from the built artifacts, against `import boto3` alone.

    .venv/bin/python bench/cold_start.py [-n 9] [--diagnose-all]

Builds the code artifact and the dependency layer (no lint), extracts them as Lambda does (code
under the task root, the layer's `python/` under /opt), and times, in fresh `python -I -B`
interpreters with those two folders first on `sys.path` (as automations/cli/lambda_runner.py
does), `importlib.import_module(<handler module>)` for every handler module in the manifest, and
`import boto3` alone. Runs are interleaved (one round over every module, `-n` rounds); medians
are reported, of the interpreter's CPU time for the import (an import is CPU-bound; CPU time is
what other load on a shared machine disturbs least) and, for reference, of the wall time. It also
counts the botocore clients that exist right after the import (target 0: no work at import time).

Two columns: "as shipped" imports the extracted artifacts as they are, with no bytecode: Lambda's
task root and /opt are read-only, so Python compiles every module of ours at every cold start
(the runtime's own boto3 is compiled, like the venv's here). "with bytecode" imports a copy
compiled beforehand (`compileall`, this interpreter), which is what shipping `.pyc` files built
for the runtime's Python would give.

Targets: every handler <= 1.25x `import boto3` (judged as shipped); code artifact <= 256 KB, layer
<= 5 MB (zipped). For a handler over the target it lists, from `-X importtime`, the modules boto3
alone does not import, by their own import time as shipped and with bytecode.
"""

from __future__ import annotations

import argparse
import compileall
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builder.pipeline import build  # noqa: E402

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
print(json.dumps({"wall": elapsed * 1000, "ms": cpu * 1000, "clients": clients}))
"""


def extract(artifact: Path, into: Path) -> Path:
    with zipfile.ZipFile(artifact) as archive:
        archive.extractall(into)
    return into


def time_import(code: Path, layer: Path, module: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", "-B", *flags, "-c", IMPORT_ONE, str(code), str(layer), module],
                          capture_output=True, text=True, check=True)


def own_import_times(code: Path, layer: Path, module: str) -> dict[str, int]:
    """module -> self import time (us), from `-X importtime`."""
    stderr = time_import(code, layer, module, "-X", "importtime").stderr
    found: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _cumulative, name = line[len("import time:"):].split("|")
        found[name.strip()] = int(own)
    return found


def diagnose(shipped: tuple[Path, Path], compiled: tuple[Path, Path], module: str,
             baseline: dict[str, int]) -> None:
    found = own_import_times(*shipped, module)
    with_bytecode = own_import_times(*compiled, module)
    extra = {name: us for name, us in found.items() if name not in baseline}
    print(f"      {len(extra)} modules boto3 alone does not import, own import time as shipped "
          f"{sum(extra.values()) / 1000:.1f} ms, with bytecode "
          f"{sum(with_bytecode.get(n, 0) for n in extra) / 1000:.1f} ms; the largest (as shipped / with bytecode):")
    for name, us in sorted(extra.items(), key=lambda item: -item[1])[:6]:
        print(f"        {us / 1000:5.1f} / {with_bytecode.get(name, 0) / 1000:4.1f} ms  {name}")


def compiled_copy(source: Path, into: Path) -> Path:
    shutil.copytree(source, into)
    compileall.compile_dir(into, quiet=1, workers=1)
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--rounds", type=int, default=9, help="fresh interpreters per module (>= 5)")
    parser.add_argument("--diagnose-all", action="store_true", help="list the extra imports of every handler")
    args = parser.parse_args(argv)
    rounds = max(args.rounds, 5)

    with tempfile.TemporaryDirectory() as tmp:
        result = build(Path(tmp) / "dist", lint=False)
        manifest = json.loads((result.dist / "manifest.json").read_text())
        code_zip = result.dist / manifest["functions"][0]["artifact"]
        layer_zip = result.dist / manifest["functions"][0]["layers"][0]
        shipped = (extract(code_zip, Path(tmp) / "task"), extract(layer_zip, Path(tmp) / "opt") / "python")
        compiled = (compiled_copy(shipped[0], Path(tmp) / "task-pyc"),
                    compiled_copy(shipped[1], Path(tmp) / "opt-pyc"))
        modules = sorted({f["handler"].rsplit(".", 1)[0] for f in manifest["functions"]})

        samples: dict[tuple[str, str], list[float]] = {}
        walls: dict[str, list[float]] = {}
        clients: dict[str, int] = {}
        for _ in range(rounds):
            for module in (BASELINE, *modules):
                for mode, dirs in (("shipped", shipped), ("bytecode", compiled)):
                    if module == BASELINE and mode == "bytecode":
                        continue
                    measured = json.loads(time_import(*dirs, module).stdout)
                    samples.setdefault((module, mode), []).append(measured["ms"])
                    if mode == "shipped":
                        walls.setdefault(module, []).append(measured["wall"])
                    clients[module] = max(clients.get(module, 0), measured["clients"])

        base = statistics.median(samples[(BASELINE, "shipped")])
        print(f"cold start, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}, median CPU time "
              f"of {rounds} fresh interpreters per module and column (python -I -B, built artifact + layer first "
              f"on sys.path); wall time as shipped for reference")
        print(f"  {'':<48} {'as shipped':>18} {'with bytecode':>18}  clients  wall")
        print(f"  {'import boto3 (baseline)':<48} {base:9.1f} ms       {'':>18}        "
              f"{statistics.median(walls[BASELINE]):6.1f} ms")
        baseline_modules = own_import_times(*shipped, BASELINE)
        misses = []
        for module in modules:
            median = statistics.median(samples[(module, "shipped")])
            compiled_median = statistics.median(samples[(module, "bytecode")])
            ok = median / base <= TARGET_RATIO and clients[module] == 0
            print(f"  {module:<48} {median:7.1f} ms x{median / base:.2f} {compiled_median:7.1f} ms "
                  f"x{compiled_median / base:.2f}  {clients[module]:>4}  {statistics.median(walls[module]):7.1f} ms  "
                  f"{'ok' if ok else 'OVER TARGET'}")
            if not ok:
                misses.append(module)
            if not ok or args.diagnose_all:
                diagnose(shipped, compiled, module, baseline_modules)
        ratios = {mode: max(statistics.median(samples[(m, mode)]) / base for m in modules)
                  for mode in ("shipped", "bytecode")}
        within = sum(statistics.median(samples[(m, "bytecode")]) / base <= TARGET_RATIO for m in modules)
        print(f"  as shipped: {len(modules) - len(misses)} of {len(modules)} handlers within x{TARGET_RATIO} "
              f"(target: all; worst x{ratios['shipped']:.2f}); with bytecode: {within} of {len(modules)} "
              f"(worst x{ratios['bytecode']:.2f})")

        code_size, layer_size = code_zip.stat().st_size, layer_zip.stat().st_size
        print(f"  code artifact {code_zip.name}: {code_size / 1024:.0f} KB zipped (target <= 256 KB: "
              f"{'met' if code_size <= CODE_LIMIT else 'MISSED'})")
        print(f"  layer {layer_zip.name}: {layer_size / 1024 / 1024:.2f} MB zipped (target <= 5 MB: "
              f"{'met' if layer_size <= LAYER_LIMIT else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
