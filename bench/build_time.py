"""Time the full build (render, artifacts, lint) in-process and print median/min seconds per phase.

    .venv/bin/python bench/build_time.py [-n RUNS] [--no-lint]

The first run also pays imports (troposphere, cfn-lint); the subprocess figure shows what one
`python build.py` costs end to end, imports included.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builder.pipeline import build  # noqa: E402

PHASES = ("artifacts", "render", "lint")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("--no-lint", action="store_true")
    args = parser.parse_args()

    samples: dict[str, list[float]] = {phase: [] for phase in (*PHASES, "total")}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            started = time.perf_counter()
            result = build(Path(tmp) / f"dist{run}", lint=not args.no_lint)
            samples["total"].append(time.perf_counter() - started)
            for phase in PHASES:
                samples[phase].append(result.timings.get(phase, 0.0))

        command = [sys.executable, str(ROOT / "build.py"), "--out", str(Path(tmp) / "cli")]
        if args.no_lint:
            command.append("--no-lint")
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        cold = time.perf_counter() - started

    print(f"in-process build, {args.runs} runs (lint {'off' if args.no_lint else 'on'}):")
    for phase, values in samples.items():
        print(f"  {phase:<10} median {statistics.median(values):6.3f} s   min {min(values):6.3f} s")
    print(f"python build.py (subprocess, imports included): {cold:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
