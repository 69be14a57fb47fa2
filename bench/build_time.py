"""Time the full build (render, artifacts, lint) in-process and print median/min seconds per phase.

    .venv/bin/python bench/build_time.py [-n RUNS] [--no-lint]

The first run also pays imports (troposphere, cfn-lint) and lints with an empty lint cache (in a
temporary folder: the project's own `.cache/cfn-lint` is neither read nor written); the later runs
find every template in that cache, as a rebuild with unchanged templates does. Both are printed. The
subprocess figures show what one `python build.py` costs end to end, imports included, with an empty
and with a warm cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builder.lint import CACHE_ENV  # noqa: E402
from builder.pipeline import build  # noqa: E402

PHASES = ("artifacts", "render", "lint")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("--no-lint", action="store_true")
    args = parser.parse_args()

    samples: dict[str, list[float]] = {phase: [] for phase in (*PHASES, "total")}
    first: dict[str, float] = {}
    cold: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[CACHE_ENV] = str(Path(tmp) / "lint-cache")
        for run in range(args.runs + 1):
            started = time.perf_counter()
            result = build(Path(tmp) / f"dist{run}", lint=not args.no_lint)
            timings = {**result.timings, "total": time.perf_counter() - started}
            if run == 0:
                first = {phase: timings.get(phase, 0.0) for phase in samples}
                continue
            for phase in samples:
                samples[phase].append(timings.get(phase, 0.0))

        for label, cache in (("empty", str(Path(tmp) / "cli-cache")), ("warm", os.environ[CACHE_ENV])):
            command = [sys.executable, str(ROOT / "build.py"), "--out", str(Path(tmp) / f"cli-{label}")]
            if args.no_lint:
                command.append("--no-lint")
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env={**os.environ, CACHE_ENV: cache})
            cold[label] = time.perf_counter() - started

    print(f"in-process build (lint {'off' if args.no_lint else 'on'}):")
    print("  first run (imports, empty lint cache): "
          + "  ".join(f"{phase} {seconds:.3f} s" for phase, seconds in first.items()))
    print(f"  then {args.runs} runs, lint cache warm:")
    for phase, values in samples.items():
        print(f"  {phase:<10} median {statistics.median(values):6.3f} s   min {min(values):6.3f} s")
    for label, seconds in cold.items():
        print(f"python build.py (subprocess, imports included, {label} lint cache): {seconds:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
