"""`python build.py`: exit 0 with a dist/, or non-zero with one line on stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from builder.cli import main
from builder.pipeline import PROJECT_ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "build.py"), *args], capture_output=True,
                          text=True, timeout=120, check=False, cwd=PROJECT_ROOT)


def test_help_exits_zero() -> None:
    completed = run("--help")
    assert completed.returncode == 0
    assert "deploy" in completed.stdout and "--no-lint" in completed.stdout


def test_build_writes_dist_and_exits_zero(tmp_path: Path) -> None:
    completed = run("--out", str(tmp_path / "dist"), "--no-lint")
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "dist" / "manifest.json").is_file()
    assert "lint skipped" in completed.stdout


def test_failure_is_one_line_on_stderr(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    completed = run("--out", str(blocker), "--no-lint")
    assert completed.returncode != 0
    assert len(completed.stderr.strip().splitlines()) == 1
    assert completed.stderr.startswith("build.py: ")


def test_deploy_requires_a_bucket(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["deploy"])
    assert exit_info.value.code == 2
    assert "--bucket" in capsys.readouterr().err


def test_a_malformed_parameter_override_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    built_dist: Path) -> None:
    assert main(["deploy", "--out", str(built_dist), "--bucket", "b", "--parameter", "nodot=1"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "build.py: --parameter takes Stack.Key=Value, got 'nodot=1'"
