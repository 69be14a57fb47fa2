"""`report`: what Caretaker did, to what, when and why, from the state log.

`collect` reads one report's items (a run, a resource's history, or every run since a time) into a
`ReportData`; the renderers print it as rich tables (`table`), one JSON document (`json`, for
scripts: nothing else goes to stdout) or one self-contained HTML page with charts (`html`,
automations/cli/report_html.py). `report savings` (automations/cli/savings.py) reads the same runs.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from automations.core import ledger, state_log

FORMATS = ("table", "json", "html")
#: `schema` of the JSON document: bump the number when a field changes meaning or goes away.
JSON_SCHEMA = "caretaker.report/1"
OUTCOME_STYLE = {"succeeded": "green", "failed": "bold red", "skipped": "yellow", "planned": "cyan"}
STATUS_STYLE = {"ok": "green", "partial": "yellow", "failed": "bold red", "running": "cyan", "off": "dim"}
_DURATION = re.compile(r"^(\d+)([mhdw])$")


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`30m`, `24h`, `7d`, `2w` or an ISO 8601 timestamp."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since must look like 30m, 24h, 7d, 2w or an ISO timestamp, got {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class ReportData:
    """One report: what was asked, the run summaries and the action items it found."""

    title: str
    query: dict[str, str]
    table: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    #: set when the report asked for something that is not there (a run id the table does not hold)
    missing: str | None = None

    @property
    def rows(self) -> int:
        return len(self.runs) + len(self.actions)


def collect(client: Any, table: str, *, run_id: str | None = None, since: datetime | None = None,
            resource_id: str | None = None, now: datetime | None = None) -> ReportData:
    """Read one report from the state table: a resource's history, one run, or every run since `since`."""
    if resource_id:
        history = ledger.resource_history(client, table, resource_id)
        return ReportData(f"History of {resource_id}", {"resource_id": resource_id}, table,
                          actions=[i for i in history if i.get("type") == "action"])
    if run_id:
        items = ledger.run_items(client, table, run_id)
        runs = [i for i in items if i.get("type") == "run"]
        return ReportData(f"Run {run_id}", {"run_id": run_id}, table, runs=runs,
                          actions=[i for i in items if i.get("type") == "action"],
                          missing=None if runs else f"no run {run_id} in {table}")
    start = since or (now or datetime.now(UTC)) - timedelta(hours=24)
    runs = [run for run in ledger.runs_since(client, table, start, now) if run.get("run_id")]
    actions = [i for run in runs if may_have_actions(run)
               for i in ledger.run_items(client, table, str(run["run_id"])) if i.get("type") == "action"]
    return ReportData(f"Runs since {state_log.iso(start)}", {"since": state_log.iso(start)}, table,
                      runs=runs, actions=actions)


#: Statuses of a run summary whose counts are final (docs/state-log.md).
_ENDED = frozenset({"ok", "partial", "failed", "off"})
_COUNTS = ("planned", "succeeded", "failed", "skipped")


def may_have_actions(run: Mapping[str, Any]) -> bool:
    """False only for an ended run whose summary counts no action at all: its actions need no Query.

    A run still going (or continued) has partial counts, an abandoned one was ended by the canary
    without its counts, and a summary without counts is not trusted to have none."""
    if run.get("status") not in _ENDED or run.get("abandoned") or any(k not in run for k in _COUNTS):
        return True
    try:
        return any(int(run[k]) for k in _COUNTS)
    except (TypeError, ValueError):
        return True


# ---------------------------------------------------------------------- table


def _cell(value: Any) -> str:
    """A ledger value as literal text: a member's ledger can hold `[/]` and must not break the table."""
    return escape(str(value))


def runs_table(runs: Iterable[Mapping[str, Any]], title: str = "Runs") -> Table:
    table = Table(title=escape(title), show_lines=False)
    for column in ("started", "automation", "run id", "mode", "status", "ok", "failed", "skipped", "planned"):
        table.add_column(column, justify="right" if column in ("ok", "failed", "skipped", "planned") else "left")
    for run in runs:
        status = str(run.get("status", "?"))
        table.add_row(_cell(str(run.get("started_at", ""))[:19].replace("T", " ")), _cell(run.get("automation", "")),
                      _cell(run.get("run_id", "")), _cell(run.get("mode", "")),
                      f"[{STATUS_STYLE.get(status, '')}]{_cell(status)}[/]",
                      *(_cell(run.get(k, 0)) for k in ("succeeded", "failed", "skipped", "planned")))
    return table


def actions_table(actions: Iterable[Mapping[str, Any]], title: str) -> Table:
    table = Table(title=escape(title), show_lines=False)
    for column in ("at", "automation", "resource", "action", "outcome", "dry-run", "reason"):
        table.add_column(column, overflow="fold")
    for item in actions:
        outcome = str(item.get("outcome", ""))
        details = item.get("details") or {}
        reason = str(item.get("reason", ""))
        if isinstance(details, Mapping) and details:
            reason += "  " + ", ".join(f"{k}={v}" for k, v in sorted(details.items()))
        table.add_row(_cell(str(item.get("at", ""))[:19].replace("T", " ")), _cell(item.get("automation", "")),
                      _cell(item.get("resource_id", "")), _cell(item.get("action", "")),
                      f"[{OUTCOME_STYLE.get(outcome, '')}]{_cell(outcome)}[/]", "yes" if item.get("dry_run") else "",
                      _cell(reason))
    return table


def print_tables(data: ReportData, console: Console) -> None:
    if data.missing:
        console.print(f"[red]{escape(data.missing)}[/]")
        return
    if "resource_id" in data.query:
        console.print(actions_table(data.actions, data.title))
        return
    console.print(runs_table(data.runs))
    by_run: dict[str, list[dict[str, Any]]] = {}
    for item in data.actions:
        by_run.setdefault(str(item.get("run_id", "")), []).append(item)
    for run in data.runs:
        actions = by_run.get(str(run.get("run_id", "")), [])
        if actions:
            console.print(actions_table(actions, f"Actions of {run.get('automation', '')} run {run['run_id']}"))


# ---------------------------------------------------------------------- json


def json_document(data: ReportData, generated_at: datetime | None = None) -> dict[str, Any]:
    """The `--format json` document (docs/operations.md describes its fields)."""
    return {
        "schema": JSON_SCHEMA,
        "generated_at": state_log.iso(generated_at or datetime.now(UTC)),
        "table": data.table,
        "query": data.query,
        "title": data.title,
        "error": data.missing,
        "runs": data.runs,
        "actions": data.actions,
    }


def dump_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, default=str) + "\n"


# ---------------------------------------------------------------------- entry point


def report(client: Any, table: str, *, run_id: str | None = None, since: datetime | None = None,
           resource_id: str | None = None, console: Console | None = None, fmt: str = "table",
           out: IO[str] | None = None) -> int:
    """Print one report in `fmt` (table on `console`, json/html on `out`, stdout by default).

    Returns the number of rows it holds; raises `ValueError` for an unknown format and
    `LookupError` when the report asked for a run that is not there (after printing what it says).
    """
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    data = collect(client, table, run_id=run_id, since=since, resource_id=resource_id)
    if fmt == "table":
        print_tables(data, console or Console(emoji=False))
    elif fmt == "json":
        (out or sys.stdout).write(dump_json(json_document(data)))
    else:
        from automations.cli.report_html import render_html

        (out or sys.stdout).write(render_html(data))
    if data.missing:
        raise LookupError(data.missing)
    return data.rows
