"""An organization on moto over HTTP: the rollout (`deploy --organization`) and the report (`report --org`).

    .venv/bin/python bench/org_rollout.py [--accounts 50] [--regions us-east-1,eu-west-1,ap-southeast-2]
        [--latency-ms 20] [--runs 100] [--with-actions 10] [--skip-rollout] [--skip-report] [--no-replay]

moto runs as a server in a child process on loopback (`bench/org_server.py`), every request held there for
`--latency-ms` (a round trip), so both measures show the client's fan-out and not moto's CPU, which is printed
apart (the server's CPU seconds against the client's). First an organization whose OU holds `--accounts` member
accounts, then:

- the rollout (unless `--skip-rollout`): the time to render every template, a build of dist/ (no lint), then
  `builder.org_deploy.deploy_organization` into every account and region as `build.py deploy --organization`
  runs it: its wall time, the stack instances, deploy's AWS calls by operation and per account-region. StackSets
  fans out, so deploy's calls grow with the regions (buckets, uploads) and targets, not with the accounts. moto
  creates every member stack synchronously inside CreateStackInstances (about 100 resources each): that time is
  the server's CPU, where AWS runs the operations at `--max-concurrent-percentage`.
- the report (unless `--skip-report`): every member account-region's ledger seeded with `--runs` runs of the last
  24 hours (`--with-actions` of them with an action), then `report --org --since 24h --format json` over a third of
  the accounts and over all of them: wall time (target < 10 s at 150 account-regions), the CLI's and the server's
  CPU, calls per account-region by operation, and the report's peak memory (tracemalloc, in further runs): flat in
  the number of accounts when the two sizes are close. Then (unless `--no-replay`) the full report once more with
  the answers recorded from the server replayed from memory after the same latency: the CLI alone.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BUCKET = "caretaker-bench-artifacts"
HOME = "us-east-1"


def _environment() -> None:
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_ACCOUNT_ID"):
        os.environ.pop(key, None)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
                      AWS_DEFAULT_REGION=HOME, MOTO_EC2_LOAD_DEFAULT_AMIS="false",
                      AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)


def render_seconds() -> float:
    from templates.organization import render_organization
    from templates.stacks import render_all, render_yaml

    started = time.perf_counter()
    names = ("caretaker-code-0.zip", "caretaker-deps-0.zip", "caretaker-bytecode-0.zip")
    stacks = [s.template for s in render_all(*names)]
    org = render_organization(*names)
    for template in [*stacks, org.hub.template, *(s.stack.template for s in org.stack_sets)]:
        render_yaml(template)
    return time.perf_counter() - started


def rollout(ou: str, accounts: int, regions: list[str], server: Any) -> None:
    import boto3

    from builder.org_config import resolve
    from builder.org_deploy import deploy_organization
    from builder.pipeline import build

    rendered = render_seconds()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dist = Path(tmp) / "dist"
        started = time.perf_counter()
        build(dist, lint=False)
        built = time.perf_counter() - started
        calls: Counter[str] = Counter()
        session = boto3.Session(region_name=regions[0])

        def count(model: Any, **_: Any) -> None:
            calls[f"{model.service_model.service_name}:{model.name}"] += 1

        session.events.register("provide-client-params.*.*", count)
        config = resolve(None, targets=ou, regions=",".join(regions), home_region=regions[0])
        lines: list[str] = []
        server_cpu, cpu, started = server.cpu_seconds(), time.process_time(), time.perf_counter()
        outcomes = deploy_organization(dist, BUCKET, config, create_bucket=True, session=session,
                                       report=lines.append, sleep=lambda _: time.sleep(0.05))
        seconds, cpu, server_cpu = (time.perf_counter() - started, time.process_time() - cpu,
                                    server.cpu_seconds() - server_cpu)
    account_regions = accounts * len(regions)
    total = sum(calls.values())
    print(f"render every template: {rendered:.2f} s; build (artifacts, templates, manifest; no lint): {built:.2f} s")
    print(f"rollout (hub, buckets, {len({o.stack_set for o in outcomes})} stack sets): {seconds:.1f} s, "
          f"{len(outcomes)} stack instances, {sum(o.failed for o in outcomes)} failed; CPU: deploy {cpu:.1f} s, "
          f"moto's server {server_cpu:.1f} s (creating every member stack)")
    print(f"deploy's AWS calls: {total} ({total / account_regions:.2f} per account-region)")
    for operation, n in calls.most_common():
        print(f"  {operation:55} {n}")


def report(accounts: list[str], regions: list[str], args: argparse.Namespace, server: Any) -> Any:
    """Seed, then the report at two sizes with its memory. Returns what `replay` needs: (the recorder holding the
    full report's answers, its `since` and `now`, its account-regions)."""
    from org_report import Recorder, describe, peak_memory, run_report, seed_ledgers

    now = datetime.now(UTC)
    since = now - timedelta(hours=24)
    started = time.perf_counter()
    seed_ledgers(accounts, regions, args.runs, min(args.with_actions, args.runs), now)
    print(f"seeded {len(accounts)} x {len(regions)} ledgers of {args.runs} runs ({args.with_actions} with an "
          f"action) in {time.perf_counter() - started:.1f} s")
    third = accounts[:max(1, len(accounts) // 3)]
    recorder = Recorder()
    for chosen in (third, None):
        before = server.cpu_seconds()
        hooks = [recorder] if chosen is None else []
        run = run_report(chosen, regions, len(chosen or accounts) * len(regions), since=since, now=now, hooks=hooks)
        for line in describe(run, f"report --org over HTTP, latency {args.latency_ms:g} ms",
                             server.cpu_seconds() - before):
            print(line)
    for chosen in (third, accounts):
        peak = peak_memory(partial(run_report, chosen, regions, len(chosen) * len(regions), since=since, now=now))
        print(f"peak memory of the report (tracemalloc), {len(chosen) * len(regions)} account-regions: "
              f"{peak / 1e6:.1f} MB")
    return recorder, since, now, len(accounts) * len(regions)


def replay(recorded: Any, regions: list[str], latency_ms: float) -> None:
    from org_report import Replayer, describe, run_report

    recorder, since, now, members = recorded
    replayer = Replayer(recorder.answers, latency_ms / 1000)
    run = run_report(None, regions, members, since=since, now=now, hooks=[replayer])
    for line in describe(run, f"report --org replayed ({len(recorder.answers)} recorded answers, latency "
                              f"{latency_ms:g} ms, {replayer.missed} unrecorded)", None):
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--regions", default="us-east-1,eu-west-1,ap-southeast-2")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulated round trip of every AWS call")
    parser.add_argument("--runs", type=int, default=100, help="runs per member ledger")
    parser.add_argument("--with-actions", type=int, default=10, help="of them, runs that recorded an action")
    parser.add_argument("--skip-rollout", action="store_true", help="no deploy: the report's ledgers only")
    parser.add_argument("--skip-report", action="store_true", help="the rollout only")
    parser.add_argument("--no-replay", action="store_true", help="no replay of the recorded report")
    args = parser.parse_args(argv)
    _environment()
    logging.getLogger("moto").setLevel(logging.ERROR)
    regions = args.regions.split(",")
    from org_server import moto_server

    with moto_server(args.latency_ms) as server:
        os.environ["AWS_ENDPOINT_URL"] = server.endpoint
        from tests.moto_organization import make_organization

        _, ou, accounts = make_organization(args.accounts)
        print(f"organization: {args.accounts} accounts x {len(regions)} regions = {args.accounts * len(regions)} "
              f"account-regions; moto's server in a child process, {args.latency_ms:g} ms per call")
        if not args.skip_rollout:
            rollout(ou, args.accounts, regions, server)
        recorded = None if args.skip_report else report(accounts, regions, args, server)
    if recorded is not None and not args.no_replay:  # the same endpoint (requests match), never reached
        replay(recorded, regions, args.latency_ms)
    os.environ.pop("AWS_ENDPOINT_URL")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
