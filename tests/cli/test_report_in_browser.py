"""The html report as a person sees it: headless Chromium (Debian's `chromium`) opens the page offline,
lays it out and runs its check; every chart must have drawn, and no script error may occur.

`make test` installs chromium where it can (root with apt-get, as in CI); elsewhere this test is skipped
and says why.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from automations.cli.report import ReportData
from automations.cli.report_html import render_html

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless Chromium on this machine (apt-get install chromium); `make test` installs it as root")


def open_in_browser(page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--virtual-time-budget=5000", "--window-size=1400,1600", *extra,
         page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)


def sample() -> ReportData:
    runs = [{"automation": f"cleanup-{kind}", "run_id": f"r{day}{kind}", "status": status, "mode": "enforce",
             "started_at": f"2026-11-{day:02d}T03:00:00Z", "succeeded": 2, "failed": int(status == "partial"),
             "savings": {"acted": 1.5 * day, "pending": 2.0}}
            for day in range(20, 30) for kind, status in (("amis", "ok"), ("ebs-volumes", "partial"))]
    actions = [{"automation": run["automation"], "run_id": run["run_id"], "resource_id": f"vol-{i}",
                "action": "delete-volume", "outcome": outcome, "dry_run": False, "reason": "idle",
                "at": run["started_at"]}
               for i, run in enumerate(runs) for outcome in ("planned", "succeeded")]
    return ReportData("sample", {"since": "2026-11-20T00:00:00Z"}, "caretaker-state", runs=runs, actions=actions)


def test_the_html_report_renders_its_charts_without_errors(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(sample()))

    shown = open_in_browser(page, "--dump-dom")

    assert shown.returncode == 0, shown.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", shown.stdout)
    assert body, shown.stdout[:2000]
    assert 'data-charts="ok"' in body.group(1), body.group(1)
    assert "data-errors" not in body.group(1), body.group(1)
    assert len(re.findall(r'<svg class="chart"', shown.stdout)) == 3


def test_an_empty_report_still_renders(tmp_path: Path) -> None:
    page = tmp_path / "empty.html"
    page.write_text(render_html(ReportData("nothing", {}, "caretaker-state")))

    shown = open_in_browser(page, "--dump-dom")

    assert shown.returncode == 0, shown.stderr[-2000:]
    assert 'data-charts="ok"' in shown.stdout


def test_a_screenshot_of_the_report_is_not_blank(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(sample()))
    shot = tmp_path / "report.png"

    shown = open_in_browser(page, f"--screenshot={shot}")

    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 20_000  # a blank 1400x1600 PNG is a few KB
