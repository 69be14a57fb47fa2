"""`make run` (the demo) shows the whole product: every family runs once against the embedded emulator, from the
built artifact, and the account afterwards is what each family should have left. Runs in its own process: the
emulator's backends are process-wide, and the demo deploys stacks of the same names as the integration tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from automations.cli.demo import RUNS

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_runs_every_family_once_and_shows_what_each_did(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CARETAKER_"))}
    env.update({"COLUMNS": "200", "CARETAKER_LINT_CACHE": str(tmp_path / "lint")})
    shown = subprocess.run([sys.executable, "-m", "automations", "demo"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600, check=False)
    out = "\n".join(line for line in shown.stdout.splitlines() if not line.startswith("{"))  # without JSON logs

    assert shown.returncode == 0, out[-4000:] + shown.stderr[-4000:]
    for name, _ in RUNS:
        assert re.search(rf"^\s+ok\s+{re.escape(name)}\s", out, re.MULTILINE), f"{name} did not run ok:\n{out}"
    assert "CloudFormation got SUCCESS" in out
    after = out[out.index("The account afterwards"):]
    assert re.search(r"22/tcp from 0\.0\.0\.0/0\s+│\s+revoked", after), after
    assert re.search(r"public access block\s+│\s+all four on", after), after
    assert re.search(r"snapshots made by ebs-snapshots\s+│\s+3\b", after), after
    assert "still there (cleanup runs in audit by default)" in after
    assert "team-payments/database-password" in after
    assert "the emulator is stopped" in out
