"""`report --org`: the runs and actions of every member account-region, read through `caretaker-reader`.

Members are read in parallel (`ORG_WORKERS` threads) by the single-account queries (`report.collect`
on each member's `caretaker-state` table) and streamed out in (account, region) order as they arrive:
at most a window of members is held at once, and what is kept across members is one line of counts
each, so memory stays flat in the number of accounts. Every run and action carries the `account` and
`region` it was read from (set here: whatever a member's ledger says about itself is overwritten).

A member that cannot be read (AccessDenied on AssumeRole, no state table, throttling after the
client's retries, a malformed ledger) is listed with its error and makes the exit status 1; it
never hides the others.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import IO, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from automations.cli.fast_query import parse_queries_fast
from automations.cli.org_access import ORG_WORKERS, Member, OrgAccess, describe_error
from automations.cli.report import actions_table, collect, runs_table
from automations.core.codec import iso
from automations.core.concurrency import ordered_stream
from templates import names

ORG_FORMATS = ("table", "json")
#: `schema` of the `--org --format json` document (docs/operations.md, "Across an organization").
ORG_JSON_SCHEMA = "caretaker.report-org/1"
COUNTS = ("planned", "succeeded", "failed", "skipped")


@dataclass
class MemberReport:
    """What one member account-region holds for the report, or why it could not be read."""

    member: Member
    runs: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def line(self) -> dict[str, Any]:
        """The member's line in `members`: where, what it held (counts of its run summaries) or its error."""
        counts = Counter[str]()
        for run in self.runs:
            for key in COUNTS:
                counts[key] += _count(run.get(key))
        return {"account": self.member.account, "region": self.member.region, "table": names.MEMBER_STATE_TABLE,
                "runs": len(self.runs), "actions": len(self.actions),
                "failed_runs": sum(1 for run in self.runs if run.get("status") == "failed"),
                "counts": {key: counts[key] for key in COUNTS}, "error": self.error}


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def read_member(access: OrgAccess, member: Member, *, since: datetime, now: datetime) -> MemberReport:
    """One member's runs since `since` and their actions, each stamped with the member's account and region."""
    try:
        client = parse_queries_fast(access.client(member, "dynamodb", names.READER_ROLE_NAME))
        data = collect(client, names.MEMBER_STATE_TABLE, since=since, now=now)
    except Exception as exc:  # the isolation boundary: one member never stops the others
        return MemberReport(member, error=describe_error(exc))
    where = {"account": member.account, "region": member.region}
    return MemberReport(member, runs=[{**run, **where} for run in data.runs],
                        actions=[{**action, **where} for action in data.actions])


class _JsonOut:
    """Writes the one JSON document as members arrive: runs straight to `out`, actions to a spool file
    copied after them, the member lines at the end."""

    def __init__(self, out: IO[str], spool: IO[str], head: Mapping[str, Any]) -> None:
        self.out = out
        self.spool = spool
        self.runs = self.actions = 0
        out.write("{\n" + "".join(f"  {json.dumps(k)}: {_dumps(v)},\n" for k, v in head.items()) + '  "runs": [')

    def member(self, report: MemberReport) -> None:
        for run in report.runs:
            self.out.write(("\n    " if not self.runs else ",\n    ") + _dumps(run))
            self.runs += 1
        for action in report.actions:
            self.spool.write(("\n    " if not self.actions else ",\n    ") + _dumps(action))
            self.actions += 1

    def finish(self, lines: Sequence[Mapping[str, Any]], unreachable: Sequence[Mapping[str, Any]],
               error: str | None) -> None:
        tail = {"members": lines, "unreachable": unreachable, "totals": _totals(lines), "error": error}
        self.out.write("\n  ],\n" + '  "actions": [')
        self.spool.seek(0)
        shutil.copyfileobj(self.spool, self.out)
        self.out.write("\n  ]" + "".join(f',\n  {json.dumps(k)}: {_dumps(v)}' for k, v in tail.items()) + "\n}\n")


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


class _TableOut:
    """Prints each member's runs and actions as they arrive, then one line per member."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = title

    def member(self, report: MemberReport) -> None:
        if report.runs:
            self.console.print(runs_table(report.runs, f"Runs in {report.member}"))
        if report.actions:
            self.console.print(actions_table(report.actions, f"Actions in {report.member}"))

    def finish(self, lines: Sequence[Mapping[str, Any]], unreachable: Sequence[Mapping[str, Any]],
               error: str | None) -> None:
        table = Table(title=escape(self.title))
        for column in ("account", "region", "runs", "failed runs", *COUNTS, "error"):
            table.add_column(column, justify="right" if column not in ("account", "region", "error") else "left",
                             overflow="fold")
        for line in lines:
            counts = line["counts"]
            table.add_row(line["account"], line["region"], str(line["runs"]), str(line["failed_runs"]),
                          *(str(counts[k]) for k in COUNTS),
                          f"[bold red]unreachable: {escape(line['error'])}[/]" if line["error"] else "")
        self.console.print(table)
        if error:
            self.console.print(f"[bold red]{escape(error)}[/]")


def report_org(access: OrgAccess, *, since: datetime, accounts: Sequence[str] | None = None,
               regions: Sequence[str] | None = None, fmt: str = "table", out: IO[str] | None = None,
               console: Console | None = None, err: IO[str] | None = None, now: datetime | None = None,
               workers: int = ORG_WORKERS) -> int:
    """Print the organization's report in `fmt`; returns the exit status: 0, or 1 when a member was unreachable
    (listed in the report, and on `err` in one line)."""
    if fmt not in ORG_FORMATS:
        raise ValueError(f"report --org prints {' or '.join(ORG_FORMATS)}, not {fmt!r}")
    now = now or datetime.now(UTC)
    members = access.members(accounts, regions)
    title = f"Runs since {iso(since)} in {len(members)} member account-regions"
    query = {"since": iso(since), "accounts": sorted({m.account for m in members}),
             "regions": sorted({m.region for m in members})}
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        writer: _JsonOut | _TableOut = (
            _JsonOut(out or sys.stdout, spool, {"schema": ORG_JSON_SCHEMA, "generated_at": iso(now),
                                                "query": query, "title": title})
            if fmt == "json" else _TableOut(console or Console(emoji=False), title))
        lines: list[dict[str, Any]] = []
        error: str | None = None
        try:
            for _, report in ordered_stream(partial(read_member, access, since=since, now=now), members, workers):
                writer.member(report)
                lines.append(report.line())
        except Exception as exc:
            error = f"report stopped: {describe_error(exc)}"
            raise
        finally:
            unreachable = [{"account": line["account"], "region": line["region"], "error": line["error"]}
                           for line in lines if line["error"]]
            if error is None and unreachable:
                error = f"{len(unreachable)} of {len(members)} member account-regions unreachable"
            writer.finish(lines, unreachable, error)
    if unreachable:
        listed = "; ".join(f"{u['account']} {u['region']} ({u['error']})" for u in unreachable[:5])
        more = f"; and {len(unreachable) - 5} more" if len(unreachable) > 5 else ""
        print(f"error: {error}: {listed}{more}", file=err or sys.stderr)
        return 1
    return 0


def _totals(lines: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    counts = Counter[str]()
    for line in lines:
        counts.update(line["counts"])
    return {"members": len(lines), "unreachable": sum(1 for line in lines if line["error"]),
            "runs": sum(line["runs"] for line in lines), "actions": sum(line["actions"] for line in lines),
            "failed_runs": sum(line["failed_runs"] for line in lines), "counts": {k: counts[k] for k in COUNTS}}
