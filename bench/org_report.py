"""`report --org` over an organization of 50 accounts x 3 regions, each member ledger holding 100 runs.

    .venv/bin/python bench/org_report.py [--accounts 50] [--regions 3] [--runs 100] [--with-actions 10]
                                         [--latency-ms 0] [--format json]

In one process on in-process moto: an organization with `--accounts` member accounts; in each of `--regions`
regions every member holds a `caretaker-state` table with `--runs` run summaries of the last 24 hours, of which
`--with-actions` recorded one snapshot each (a planned and a succeeded item: the rest found nothing to do, as most
scheduled runs do). The first ledger is written by the state log itself; the others get copies of its items
(BatchWriteItem), so seeding stays quick. Then `report --org --since 24h` (the CLI's `report_org`, through
`caretaker-reader` in every account, output thrown away as it is written):

- the time of the report over every member (target < 10 s at 150 member account-regions), with the DynamoDB
  queries and AssumeRole calls it made;
- the peak memory the report allocates (tracemalloc, in further runs: tracing slows Python down) at about a third of
  the accounts and at all of them, also less what moto kept of it (moto's DynamoDB keeps a typed copy of what every
  Query returns, for good: the emulator grows with the ledgers read, the CLI does not): flat in the number of
  accounts when the two are close.

`--latency-ms`: every AWS call sleeps that long first (a botocore `before-send` hook; the sleep releases the GIL, as
a network round trip would), to see the fan-out hide latency; moto serving the calls in-process is CPU time that no
thread pool can overlap, so with latency 0 the figure is mostly moto's.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_S = 10.0
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2", "eu-central-1")
HUB_REGION = "us-east-1"


class Discard(io.StringIO):
    """A text sink that keeps nothing (the report's stdout)."""

    written = 0

    def write(self, text: str) -> int:
        self.written += len(text)
        return len(text)


def _environment() -> None:
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_ACCOUNT_ID"):
        os.environ.pop(key, None)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_SESSION_TOKEN="bench",
                      AWS_DEFAULT_REGION=HUB_REGION)


def _call(client: Any, operation: str, **kwargs: Any) -> Any:
    return getattr(client, operation)(**kwargs)


def _fixed(at: datetime) -> Callable[[], datetime]:
    return lambda: at


def seed(accounts: int, regions: list[str], runs: int, with_actions: int) -> list[str]:
    """The organization and every member's ledger; returns the member account ids."""
    import boto3

    from automations.core.state_log import StateLog, new_run_id
    from automations.core.store import write_batches
    from templates import names
    from tests.cli.org_ledgers import create_state_table, member_dynamodb

    org = boto3.client("organizations", region_name=HUB_REGION)
    org.create_organization(FeatureSet="ALL")
    members = [str(org.create_account(AccountName=f"m{n}", Email=f"m{n}@example.com")
                   ["CreateAccountStatus"]["AccountId"]) for n in range(accounts)]
    now = datetime.now(UTC)
    first = member_dynamodb(members[0], regions[0])
    create_state_table(names.MEMBER_STATE_TABLE, first)
    for n in range(runs):
        at = now - timedelta(hours=23) + timedelta(seconds=n * 60)
        log = StateLog(names.MEMBER_STATE_TABLE, first, automation="ebs-snapshots" if n < with_actions else
                       "cleanup-ebs-volumes", run_id=new_run_id(at), clock=_fixed(at))
        log.start_run(mode="enforce", mode_source="environment")
        if n < with_actions:
            record = log.plan(f"vol-{n:04d}", "create-snapshot", "tagged for backup", dry_run=False)
            log.outcome(record, "succeeded", details={"snapshot_id": f"snap-{n:04d}"})
        log.finish_run("ok")
    items = [page_item for page in first.get_paginator("scan").paginate(TableName=names.MEMBER_STATE_TABLE)
             for page_item in page["Items"]]
    requests = [{"PutRequest": {"Item": item}} for item in items]
    for account in members:
        for region in regions:
            if (account, region) == (members[0], regions[0]):
                continue
            client = member_dynamodb(account, region)
            create_state_table(names.MEMBER_STATE_TABLE, client)
            write_batches(partial(_call, client), names.MEMBER_STATE_TABLE, requests)
    return members


def add_latency(session: Any, latency_s: float) -> None:
    def wait(**_: Any) -> None:
        time.sleep(latency_s)

    session.events.register_first("before-send", wait)


class MotoTime:
    """CPU time the threads spent inside moto serving requests (the AWS side: on AWS it is not ours)."""

    def __init__(self) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        self.seconds = 0.0
        self._lock = threading.Lock()
        self._stubber = BotocoreStubber
        self._original = BotocoreStubber.__call__
        timer = self

        def timed(stubber: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return timer._original(stubber, *args, **kwargs)
            finally:
                with timer._lock:
                    timer.seconds += time.thread_time() - started

        setattr(BotocoreStubber, "__call__", timed)  # noqa: B010 - restored by close()

    def close(self) -> None:
        setattr(self._stubber, "__call__", self._original)  # noqa: B010


def run_report(accounts: list[str], regions: list[str], latency_s: float, fmt: str) -> dict[str, Any]:
    import boto3
    from rich.console import Console

    from automations.cli.org_access import OrgAccess
    from automations.cli.report_org import report_org

    session = boto3.session.Session(region_name=HUB_REGION)
    calls: Counter[str] = Counter()
    session.events.register("before-call", lambda model, **_: calls.update([model.name]))
    if latency_s:
        add_latency(session, latency_s)
    access = OrgAccess(session)
    out = Discard()
    moto = MotoTime()
    started, cpu = time.perf_counter(), time.process_time()
    try:
        code = report_org(access, since=datetime.now(UTC) - timedelta(hours=24), accounts=accounts,
                          regions=regions, fmt=fmt, out=out, console=Console(file=out, width=200, emoji=False),
                          err=sys.stderr)
    finally:
        moto.close()
    return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu, "moto": moto.seconds,
            "code": code, "calls": calls, "bytes": out.written}


def peak_memory(accounts: list[str], regions: list[str], fmt: str) -> tuple[int, int]:
    """The report's peak of traced memory, and what moto kept of it: moto 5.2.5's DynamoDB keeps typed copies of
    the items every Query returns (about 280 KB per read of a 100-run ledger, never freed), which is the
    emulator's memory growing with the members read, not the CLI's."""
    moto_files = [tracemalloc.Filter(True, "*/moto/*")]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot().filter_traces(moto_files)
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        run_report(accounts, regions, 0.0, fmt)
        peak = tracemalloc.get_traced_memory()[1] - base
        gc.collect()
        kept = sum(stat.size_diff for stat in
                   tracemalloc.take_snapshot().filter_traces(moto_files).compare_to(before, "filename"))
        return peak, kept
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--regions", type=int, default=3, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--runs", type=int, default=100, help="runs per member ledger")
    parser.add_argument("--with-actions", type=int, default=10, help="of them, runs that recorded an action")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="simulated latency of every AWS call")
    parser.add_argument("--format", dest="fmt", choices=("json", "table"), default="json")
    args = parser.parse_args(argv)
    _environment()
    from moto import mock_aws

    regions = list(REGIONS[:args.regions])
    with mock_aws():
        started = time.perf_counter()
        accounts = seed(args.accounts, regions, args.runs, min(args.with_actions, args.runs))
        members = len(accounts) * len(regions)
        print(f"seeded {len(accounts)} accounts x {len(regions)} regions = {members} ledgers of {args.runs} runs "
              f"({args.with_actions} with an action) in {time.perf_counter() - started:.1f} s")
        result = run_report(accounts, regions, args.latency_ms / 1000, args.fmt)
        calls = result["calls"]
        own = result["cpu"] - result["moto"]
        print(f"report --org --format {args.fmt}, {members} member account-regions, latency {args.latency_ms:g} ms"
              f" per call: {result['seconds']:.2f} s wall; exit {result['code']}; {result['bytes']:,} bytes out")
        print(f"  CPU {result['cpu']:.2f} s, of which moto serving the calls {result['moto']:.2f} s (the AWS side) "
              f"and the CLI's own {own:.2f} s")
        print(f"  calls: {calls['Query']} Query ({calls['Query'] / members:.1f} per member), {calls['AssumeRole']} "
              f"AssumeRole, {sum(calls.values())} in all")
        # On AWS: the CLI's own CPU, or the calls' round trips spread over the workers, whichever is longer.
        from automations.cli.org_access import ORG_WORKERS

        rtt = max(args.latency_ms, 20.0) / 1000
        estimate = max(own, sum(calls.values()) * rtt / ORG_WORKERS)
        verdict = "met" if (result["seconds"] if not result["moto"] else estimate) < TARGET_S else "NOT met"
        print(f"  on AWS (the CLI's own CPU, or {rtt * 1000:g} ms round trips over {ORG_WORKERS} workers, whichever "
              f"is longer): about "
              f"{estimate:.1f} s; target < {TARGET_S:g} s: {verdict}")
        third = accounts[:max(1, len(accounts) // 3)]
        for chosen in (third, accounts):
            peak, kept = peak_memory(chosen, regions, args.fmt)
            print(f"peak memory of the report (tracemalloc), {len(chosen) * len(regions)} members: "
                  f"{peak / 1e6:.1f} MB; less what moto kept of it ({kept / 1e6:.1f} MB): {(peak - kept) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
