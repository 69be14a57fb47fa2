"""`report --org` measured: member ledgers seeded, the report timed, its calls counted, its memory traced, and
its answers recorded and replayed. Used by `bench/org_rollout.py`, which runs it against moto's server in a child
process (`bench/org_server.py`); run alone, this script is `org_rollout.py --skip-rollout`:

    .venv/bin/python bench/org_report.py [--accounts 50] [--regions ...] [--runs 100] [--latency-ms 20]

Each member account-region gets a `caretaker-state` table (unless the rollout made one) with `runs` run summaries
of the last 24 hours, of which `with_actions` recorded one snapshot each (a planned and a succeeded item: the rest
found nothing to do, as most scheduled runs do). The first ledger is written by the state log itself; the others
get copies of its items (BatchWriteItem, members seeded in parallel).

Replay: the answers of one report over HTTP are recorded (keyed by URL, the signing access key, which tells the
member apart, and the request body) and served again from memory after the same simulated latency, with no moto
at all: what the report costs the CLI when the service's side costs nothing but the round trip.
"""

from __future__ import annotations

import gc
import io
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_S = 10.0
HUB_REGION = "us-east-1"
SEED_WORKERS = 16


class Discard(io.StringIO):
    """A text sink that keeps nothing (the report's stdout)."""

    written = 0

    def write(self, text: str) -> int:
        self.written += len(text)
        return len(text)


def _call(client: Any, operation: str, **kwargs: Any) -> Any:
    return getattr(client, operation)(**kwargs)


def _fixed(at: datetime) -> Callable[[], datetime]:
    return lambda: at


def _table(account: str, region: str) -> Any:
    from botocore.exceptions import ClientError

    from templates import names
    from tests.cli.org_ledgers import create_state_table, member_dynamodb

    client = member_dynamodb(account, region)
    try:
        create_state_table(names.MEMBER_STATE_TABLE, client)
    except ClientError as error:  # the rollout's member base made it
        if error.response.get("Error", {}).get("Code") != "ResourceInUseException":
            raise
    return client


def seed_ledgers(accounts: Sequence[str], regions: Sequence[str], runs: int, with_actions: int,
                 now: datetime) -> None:
    """Every member account-region's ledger: `runs` runs in the 24 hours before `now`."""
    from automations.core.state_log import StateLog, new_run_id
    from automations.core.store import write_batches
    from templates import names

    first = _table(accounts[0], regions[0])
    for n in range(runs):
        at = now - timedelta(hours=23) + timedelta(seconds=n * 60)
        log = StateLog(names.MEMBER_STATE_TABLE, first, automation="ebs-snapshots" if n < with_actions else
                       "cleanup-ebs-volumes", run_id=new_run_id(at), clock=_fixed(at))
        log.start_run(mode="enforce", mode_source="environment")
        if n < with_actions:
            record = log.plan(f"vol-{n:04d}", "create-snapshot", "tagged for backup", dry_run=False)
            log.outcome(record, "succeeded", details={"snapshot_id": f"snap-{n:04d}"})
        log.finish_run("ok")
    items = [item for page in first.get_paginator("scan").paginate(TableName=names.MEMBER_STATE_TABLE)
             for item in page["Items"]]
    requests = [{"PutRequest": {"Item": item}} for item in items]

    def copy(where: tuple[str, str]) -> None:
        client = _table(*where)
        write_batches(partial(_call, client), names.MEMBER_STATE_TABLE, requests)

    others = [(a, r) for a in accounts for r in regions if (a, r) != (accounts[0], regions[0])]
    with ThreadPoolExecutor(SEED_WORKERS) as pool:
        list(pool.map(copy, others))


# ---------------------------------------------------------------------- record and replay


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _key(request: Any) -> tuple[str, str, bytes]:
    """What tells one request from another: URL and operation (`X-Amz-Target`), the access key that signed it
    (the member) with its region and service (the signature's scope, less its date), the body."""
    scope = _text(request.headers.get("Authorization")).split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    signer = "/".join(scope[:1] + scope[2:])
    where = f"{request.url} {_text(request.headers.get('X-Amz-Target'))}"
    body = request.body if isinstance(request.body, bytes) else _text(request.body).encode()
    return where, signer, body


@dataclass
class Recorder:
    """Keeps the answer of every request a session sends (botocore hooks, one call at a time per thread)."""

    answers: dict[tuple[str, str, bytes], tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, session: Any) -> None:
        session.events.register("before-send", self._before)
        session.events.register("response-received", self._after)

    def _before(self, request: Any, **_: Any) -> None:
        self._local.key = _key(request)

    def _after(self, response_dict: dict[str, Any] | None = None, **_: Any) -> None:
        if response_dict is None:
            return
        with self._lock:
            self.answers[self._local.key] = (int(response_dict["status_code"]), dict(response_dict["headers"]),
                                             bytes(response_dict["body"]))


class _Body:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


@dataclass
class Replayer:
    """Answers every request from a `Recorder`'s answers after `latency_s`; nothing is sent."""

    answers: dict[tuple[str, str, bytes], tuple[int, dict[str, str], bytes]]
    latency_s: float
    missed: int = 0

    def attach(self, session: Any) -> None:
        session.events.register_first("before-send", self._answer)

    def _answer(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse, HTTPHeaders

        time.sleep(self.latency_s)
        found = self.answers.get(_key(request))
        if found is None:
            self.missed += 1
            unrecorded = b'{"__type": "Unrecorded", "message": "not recorded"}'
            return AWSResponse(request.url, 400, HTTPHeaders(), _Body(unrecorded))
        status, headers, body = found
        return AWSResponse(request.url, status, HTTPHeaders.from_dict(headers), _Body(body))


# ---------------------------------------------------------------------- the report


@dataclass
class ReportRun:
    members: int
    seconds: float
    cpu: float
    code: int
    calls: Counter[str]
    bytes: int


def run_report(accounts: Sequence[str] | None, regions: Sequence[str], members: int, *, since: datetime,
               now: datetime, hooks: Sequence[Any] = (), fmt: str = "json") -> ReportRun:
    """`report --org --since ...` as the CLI runs it (`accounts` None: the organization's, as without
    `--accounts`), output thrown away as it is written."""
    import boto3
    from rich.console import Console

    from automations.cli.org_access import OrgAccess
    from automations.cli.report_org import report_org

    session = boto3.session.Session(region_name=HUB_REGION)
    calls: Counter[str] = Counter()
    session.events.register("before-call", lambda model, **_: calls.update([model.name]))
    for hook in hooks:
        hook.attach(session)
    access = OrgAccess(session)
    out = Discard()
    started, cpu = time.perf_counter(), time.process_time()
    code = report_org(access, since=since, now=now, accounts=accounts, regions=regions, fmt=fmt, out=out,
                      console=Console(file=out, width=200, emoji=False), err=sys.stderr)
    return ReportRun(members, time.perf_counter() - started, time.process_time() - cpu, code, calls, out.written)


def peak_memory(report: Callable[[], object]) -> int:
    """The peak of memory Python allocated while `report` ran (tracemalloc: tracing slows it down)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        report()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def describe(run: ReportRun, label: str, server_cpu: float | None) -> list[str]:
    calls = run.calls
    per = {op: n / run.members for op, n in sorted(calls.items())}
    lines = [f"{label}: {run.members} member account-regions in {run.seconds:.2f} s (target < {TARGET_S:g} s: "
             f"{'met' if run.seconds < TARGET_S else 'NOT met'}); exit {run.code}; {run.bytes:,} bytes out",
             f"  CPU: the CLI {run.cpu:.2f} s" + (f", moto's server {server_cpu:.2f} s" if server_cpu is not None
                                                  else " (no server: answers replayed)"),
             f"  calls: {sum(calls.values())} ({sum(calls.values()) / run.members:.2f} per account-region): "
             + ", ".join(f"{op} {n:.2f}" for op, n in per.items())]
    return lines


if __name__ == "__main__":
    from org_rollout import main

    sys.exit(main(["--skip-rollout", *sys.argv[1:]]))
