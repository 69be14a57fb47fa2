"""The state log: write-ahead records, batching, queries, the run-time mode override."""

from __future__ import annotations

import boto3
import pytest

from automations.core import state_log
from automations.core.errors import StateLogError
from automations.core.ledger import resource_history, run_items, runs_since
from automations.core.mode_override import read_mode_override, set_mode_override
from automations.core.state_log import StateLog
from tests.recording import RecordingClients


def make_log(table: str, clients: RecordingClients | None = None, run_id: str = "run-1") -> StateLog:
    client = (clients or RecordingClients())("dynamodb")
    return StateLog(table, client, automation="demo", run_id=run_id, ttl_days=30)


def test_planned_record_is_durable_before_returning(state_table: str) -> None:
    log = make_log(state_table)
    record = log.plan("vol-1", "delete-volume", "idle", dry_run=False, details={"size_gb": 8})
    items = run_items(boto3.client("dynamodb"), state_table, "run-1")
    assert [(i["resource_id"], i["outcome"], i["details"]) for i in items] == [("vol-1", "planned", {"size_gb": 8})]
    log.outcome(record, "succeeded")
    assert len(run_items(boto3.client("dynamodb"), state_table, "run-1")) == 1  # outcome is buffered
    log.flush()
    items = run_items(boto3.client("dynamodb"), state_table, "run-1")
    assert [i["outcome"] for i in items] == ["planned", "succeeded"]
    for item in items:
        for attribute in ("automation", "run_id", "resource_id", "action", "outcome", "dry_run", "reason", "at",
                          "expires_at"):
            assert attribute in item
        assert item["at"].endswith("Z")


def test_buffered_outcomes_are_written_in_batches_of_25(state_table: str) -> None:
    clients = RecordingClients()
    log = make_log(state_table, clients)
    for n in range(60):
        log.skip(f"res-{n}", "check", "not idle")
    log.flush()
    assert clients.count("dynamodb")["BatchWriteItem"] == 3
    assert len(run_items(boto3.client("dynamodb"), state_table, "run-1")) == 60
    assert log.counts.skipped == 60


def test_unreachable_table_raises_a_clear_error() -> None:
    log = make_log("no-such-table")
    with pytest.raises(StateLogError, match="no-such-table"):
        log.plan("vol-1", "delete-volume", "idle", dry_run=False)


def test_missing_table_name_refuses_to_start() -> None:
    with pytest.raises(StateLogError, match="CARETAKER_STATE_TABLE"):
        make_log("")


def test_resource_history_spans_runs(state_table: str) -> None:
    for run_id in ("run-a", "run-b"):
        log = make_log(state_table, run_id=run_id)
        log.outcome(log.plan("snap-9", "delete-snapshot", "old", dry_run=False), "failed", "InUse")
        log.flush()
    history = resource_history(boto3.client("dynamodb"), state_table, "snap-9")
    assert [(h["run_id"], h["outcome"]) for h in history] == [
        ("run-a", "planned"), ("run-a", "failed"), ("run-b", "planned"), ("run-b", "failed")]


def test_runs_since_lists_run_summaries(state_table: str) -> None:
    log = make_log(state_table)
    log.start_run(mode="audit")
    log.finish_run("ok")
    start = state_log.utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    runs = runs_since(boto3.client("dynamodb"), state_table, start)
    assert [(r["run_id"], r["status"], r["mode"]) for r in runs] == [("run-1", "ok", "audit")]


def test_specific_mode_override_wins_over_global(state_table: str) -> None:
    client = boto3.client("dynamodb")
    log = make_log(state_table)
    assert read_mode_override(log) is None
    set_mode_override(client, state_table, "*", "off", by="ops", reason="incident")
    assert read_mode_override(log)["mode"] == "off"  # type: ignore[index]
    set_mode_override(client, state_table, "demo", "audit", by="ops", reason="testing")
    assert read_mode_override(log)["mode"] == "audit"  # type: ignore[index]
    set_mode_override(client, state_table, "demo", None, by="ops", reason="done")
    set_mode_override(client, state_table, "*", None, by="ops", reason="done")
    assert read_mode_override(log) is None
