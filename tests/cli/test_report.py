"""`report` in its three formats and `report savings`, on a ledger written by real cleanup runs.

The ledger comes from cleanup-ebs-volumes run in-process on moto: a first run announces two idle
volumes (pending savings), a run after the grace period deletes one (realised savings) while the
other was attached in the meantime, and an audit run of a third volume shows what enforce would save.
"""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from rich.console import Console

from automations.cli import main as cli
from automations.cli.report import JSON_SCHEMA, collect, report
from automations.cli.report_html import render_html
from automations.cli.savings import SAVINGS_SCHEMA, by_family, realised_by_day
from automations.scheduled.cleanup_volumes import handler
from tests.automations.conftest import REGION, LambdaContext
from tests.automations.scheduled.cleanup_harness import Harness, client, ec2, harness, tag_specs


def _volume(h: Harness, size: int, days_old: int = 30) -> str:
    h.clock.advance(days=-days_old)
    volume_id = str(ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=size,
                                        TagSpecifications=tag_specs("volume", {"team": "data"}))["VolumeId"])
    h.clock.advance(days=days_old)
    return volume_id


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch, lambda_context: LambdaContext) -> dict[str, Any]:
    """Three cleanup runs over ten days, ending now: announce, act (one deleted), audit."""
    h = harness(handler, monkeypatch, lambda_context, mode="enforce")
    h.clock.advance(days=-10)
    deleted, kept = _volume(h, 100), _volume(h, 50)
    first = h.invoke()  # announces both: 3.0 + 1.5 USD a month pending
    h.clock.advance(days=8)
    image = ec2().register_image(Name="base", RootDeviceName="/dev/sda1")["ImageId"]
    instance = ec2().run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                   Placement={"AvailabilityZone": f"{REGION}a"})["Instances"][0]["InstanceId"]
    ec2().attach_volume(VolumeId=kept, InstanceId=instance, Device="/dev/sdf")
    second = h.invoke()  # deletes the 100 GB one: 3.0 realised
    h.clock.advance(days=2)
    audited = _volume(h, 200)
    third = h.invoke(mode="audit", grace_days="0")  # would delete 200 GB now: 6.0 would-act
    monkeypatch.setenv("CARETAKER_STATE_TABLE", h.table)
    return {"h": h, "runs": [first["run_id"], second["run_id"], third["run_id"]], "deleted": deleted,
            "kept": kept, "audited": audited}


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_cleanup_run_summary_carries_its_savings(ledger: dict[str, Any]) -> None:
    h: Harness = ledger["h"]
    first, second, third = (h.summary(run_id)["savings"] for run_id in ledger["runs"])
    assert first["pending"] == 4.5 and first["acted"] == 0
    assert second["acted"] == 3.0
    assert third["would_act"] == 6.0 and third["acted"] == 0


def test_json_format_prints_one_document_and_nothing_else(ledger: dict[str, Any],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(capsys, "report", "--since", "30d", "--format", "json")

    assert code == 0
    document = json.loads(out)  # the whole of stdout is one JSON document
    assert document["schema"] == JSON_SCHEMA and document["error"] is None
    assert [r["run_id"] for r in document["runs"]] == ledger["runs"]
    deletes = [a for a in document["actions"] if a["action"] == "delete-volume" and a["outcome"] == "succeeded"]
    assert [a["resource_id"] for a in deletes] == [ledger["deleted"]]
    assert all({"automation", "run_id", "resource_id", "action", "outcome", "dry_run", "reason", "at"} <= set(a)
               for a in document["actions"])


def test_json_format_of_one_run_and_of_one_resource(ledger: dict[str, Any],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _main(capsys, "report", "--run", ledger["runs"][1], "--format", "json")
    run = json.loads(out)
    assert [r["run_id"] for r in run["runs"]] == [ledger["runs"][1]]
    assert {a["run_id"] for a in run["actions"]} == {ledger["runs"][1]}

    _, out, _ = _main(capsys, "report", "--resource", ledger["deleted"], "--format", "json")
    history = json.loads(out)
    assert history["runs"] == [] and {a["resource_id"] for a in history["actions"]} == {ledger["deleted"]}
    assert {a["action"] for a in history["actions"]} >= {"tag-cleanup-after", "delete-volume"}


def test_a_run_that_is_not_there_is_an_error_also_in_json(ledger: dict[str, Any],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(capsys, "report", "--run", "no-such-run", "--format", "json")
    assert code == 1
    assert json.loads(out)["error"] == f"no run no-such-run in {ledger['h'].table}"
    assert "no run no-such-run" in err


def test_table_format_lists_runs_and_their_actions(ledger: dict[str, Any]) -> None:
    out = io.StringIO()
    rows = report(client("dynamodb"), ledger["h"].table, since=ledger["h"].clock.now - timedelta(days=30),
                  console=Console(file=out, width=300))
    text = out.getvalue()
    assert rows == len(ledger["runs"]) + len(collect(client("dynamodb"), ledger["h"].table,
                                                     since=ledger["h"].clock.now - timedelta(days=30)).actions)
    assert all(run_id in text for run_id in ledger["runs"])
    assert ledger["deleted"] in text and "delete-volume" in text


def test_html_format_is_one_self_contained_page_with_three_charts(ledger: dict[str, Any],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, page, _ = _main(capsys, "report", "--since", "30d", "--format", "html")

    assert code == 0 and page.startswith("<!doctype html>")
    assert set(re.findall(r'<svg class="chart" id="([a-z-]+)"', page)) == {
        "runs-per-day", "actions-by-outcome", "savings-over-time"}
    assert not re.search(r'(src|href)="(https?:)?//', page), "the page must load nothing from the network"
    assert "default-src 'none'" in page
    assert ledger["deleted"] in page and "cleanup-ebs-volumes" in page
    assert page.count("<rect ") >= 3 and "<polyline " in page


def test_html_escapes_what_the_ledger_holds() -> None:
    from automations.cli.report import ReportData

    data = ReportData("t", {}, "table", actions=[{"automation": "x", "resource_id": "<script>alert(1)</script>",
                                                  "outcome": "failed", "reason": "a & b"}])
    page = render_html(data)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_savings_report_sums_realised_and_takes_pending_from_the_latest_run(
        ledger: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = _main(capsys, "report", "savings", "--since", "30d", "--format", "json")

    assert code == 0
    document = json.loads(out)
    assert document["schema"] == SAVINGS_SCHEMA
    family = document["families"]["cleanup-ebs-volumes"]
    assert family["runs"] == 3 and family["realised_usd"] == 3.0
    assert family["would_act_usd"] == 6.0 and family["latest_mode"] == "audit"
    assert family["latest_run"] == ledger["runs"][2]
    assert document["totals"]["realised_usd"] == 3.0
    assert [p[1] for p in document["realised_by_day"]][-1] == 3.0

    code, out, _ = _main(capsys, "report", "savings", "--since", "30d")
    assert code == 0 and "cleanup-ebs-volumes" in out and "3.00" in out and "6.00" in out


def test_savings_of_runs_without_an_estimate_are_left_out() -> None:
    runs: list[dict[str, Any]] = [{"automation": "ebs-snapshots", "run_id": "r1", "started_at": "2026-12-01T00:00:00Z"},
            {"automation": "cleanup-amis", "run_id": "r2", "started_at": "2026-12-01T00:00:00Z",
             "savings": {"acted": 2.5, "pending": 1.0}},
            {"automation": "cleanup-amis", "run_id": "r3", "started_at": "2026-12-02T00:00:00Z",
             "savings": {"acted": 1.0, "pending": 0.0}}]
    families = by_family(runs)
    assert set(families) == {"cleanup-amis"}
    assert families["cleanup-amis"]["realised_usd"] == 3.5 and families["cleanup-amis"]["pending_usd"] == 0.0
    assert realised_by_day(runs) == [("2026-12-01", 2.5), ("2026-12-02", 3.5)]


def test_bad_format_and_bad_combinations_are_clear_errors(capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARETAKER_STATE_TABLE", "t")
    with pytest.raises(SystemExit):
        cli.main(["report", "--format", "pdf"])
    code, _, err = _main(capsys, "report", "savings", "--format", "html")
    assert code == 1 and "table or json" in err
    code, _, err = _main(capsys, "report", "savings", "--run", "x")
    assert code == 1 and "--since" in err
