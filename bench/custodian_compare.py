"""Caretaker and Cloud Custodian side by side, in one process, on the same moto fixture and simulator.

    .venv/bin/pip install --no-deps -r requirements-bench.txt     # Cloud Custodian (c7n), optional
    .venv/bin/python bench/custodian_compare.py [--volumes 2000] [--snapshot-volumes 500]
                                                [--latency 0.05] [--tight-refill 40] [--quick]
                                                [--warm-volumes 40] [--ec2-latency 0.1] [--bookkeeping-latency 0.01]
                                                [--repeat 3] [--timeline]

Scenarios (each tool gets a fresh moto account with the same resources and a fresh simulator with
the same settings; see tests/throttling/simulator.py):

  (a) delete N unattached volumes, `--latency` per call, a generous bucket (the documented EC2
      limits x100): latency-bound. Target: Caretaker >= 3x faster.
  (b) the same with a tight DeleteVolume bucket (documented capacity 100, refill `--tight-refill`/s
      instead of 5/s, so that the run takes a minute, not ten): throttle-bound. Targets for
      Caretaker: no failed operation, wall <= 1.2x the minimum its share of the bucket allows (shown
      for the default share 50% and for 100%), and >= 5x fewer throttling errors than Custodian.
  (c) snapshot M tagged volumes, latency and generous bucket as in (a). Target: no slower.
  (d) delete `--warm-volumes` (40) unattached volumes with EC2 calls at `--ec2-latency` (100 ms) and
      DynamoDB/SNS at `--bookkeeping-latency` (10 ms), generous bucket, in a warm process: each tool
      first runs once on an empty account in the same process (Caretaker through its Lambda entry
      point with no injected session, so it keeps the execution environment's session and clients;
      Custodian with its session cache, as in its own Lambda mode), then the timed run. The cold run
      (a fresh session; for Caretaker a reset of the shared clients) is printed too. Each warm row is the
      median of `--repeat` (3) timed runs in that process. Target: Caretaker warm >= 3x faster than
      Custodian warm. `--timeline` prints the last warm Caretaker run call by call
      (bench/call_timeline.py).

Cloud Custodian runs its own pull-mode policies in-process (`c7n.policy.Policy`), with its own
session factory whose sessions go through the same simulator. Caretaker runs
`cleanup-ebs-volumes` (enforce, grace 0, min age 0, no final snapshot, default settings
otherwise: share 50%, max_concurrency 32; `--more-concurrency N` adds a row to (a) and (d) with another
max_concurrency) and `ebs-snapshots` (defaults) through their Lambda entry points. Printed per tool: wall
time, AWS calls by operation, HTTP attempts, throttling errors, failed operations (resources left
undone, counted in moto afterwards), and the Caretaker/Custodian ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from call_timeline import CallTimeline

from automations.core.throttle import AWS_LIMITS, Bucket, RateTable
from tests.throttling import scenarios
from tests.throttling.scenarios import Outcome
from tests.throttling.simulator import ThrottlingSimulator

GENEROUS = AWS_LIMITS.scaled(capacity=100, refill=100)
DELETE_POLICY = {"name": "delete-unattached-volumes", "resource": "ebs",
                 "filters": [{"Attachments": []}, {"State": "available"}], "actions": ["delete"]}
SNAPSHOT_POLICY = {"name": "snapshot-tagged-volumes", "resource": "ebs",
                   "filters": [{f"tag:{scenarios.BACKUP_TAG}": "true"}],
                   "actions": [{"type": "snapshot", "copy-volume-tags": True}]}
CLEANUP_SETTINGS = {"mode": "enforce", "grace_days": "0", "min_age_days": "0", "final_snapshot": "false"}


def custodian_available() -> bool:
    try:
        import c7n.policy  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------- one run of each tool


def run_custodian(policy: Mapping[str, Any], simulator: ThrottlingSimulator, *, warm: bool = False) -> float:
    """Run one pull-mode policy; every session Custodian makes goes through the simulator. `warm`: keep the
    sessions Custodian cached in an earlier run of this process (its own thread-local cache) instead of
    starting from none."""
    from c7n.config import Config
    from c7n.credentials import SessionFactory
    from c7n.policy import Policy
    from c7n.resources import load_resources
    from c7n.utils import reset_session_cache

    class SimulatedSessions(SessionFactory):
        def update(self, session: Any) -> Any:
            simulator.attach(session, "custodian")
            return super().update(session)

    load_resources(("aws.ebs",))
    if not warm:
        reset_session_cache()
    with tempfile.TemporaryDirectory() as output:
        options = Config.empty(region=scenarios.REGION, regions=[scenarios.REGION], output_dir=output,
                               account_id="123456789012", cache="", cache_period=0)
        p = Policy(dict(policy), options, session_factory=SimulatedSessions(scenarios.REGION))
        p.validate()
        started = time.perf_counter()
        p()
        return time.perf_counter() - started


def delete_volumes(tool: str, volumes: int, table: RateTable, latency: float, share: float = 0.5,
                   concurrency: int | None = None) -> Outcome:
    from moto import mock_aws

    from automations.scheduled import cleanup_volumes

    with mock_aws():
        ids = scenarios.make_volumes(volumes)
        simulator = ThrottlingSimulator(table, latency=latency)
        notes: list[str] = []
        if tool == "custodian":
            wall = run_custodian(DELETE_POLICY, simulator)
        else:
            settings = {**CLEANUP_SETTINGS, "api_rate_share": str(share)}
            if concurrency is not None:
                settings["max_concurrency"] = str(concurrency)
            result, wall, _ = scenarios.run_caretaker(cleanup_volumes.handler, simulator, settings, tool)
            notes.append(f"run status {result['status']}, {result['counts']['failed']} failed in its state log")
        found = scenarios.outcome(tool, simulator, tool, wall, scenarios.remaining_volumes(ids))
    found.notes = notes
    return found


def snapshot_volumes(tool: str, volumes: int, table: RateTable, latency: float) -> Outcome:
    from moto import mock_aws

    from automations.scheduled import ebs_snapshots

    with mock_aws():
        ids = scenarios.make_volumes(volumes, {scenarios.BACKUP_TAG: "true"})
        simulator = ThrottlingSimulator(table, latency=latency)
        notes: list[str] = []
        if tool == "custodian":
            wall = run_custodian(SNAPSHOT_POLICY, simulator)
        else:
            result, wall, _ = scenarios.run_caretaker(ebs_snapshots.handler, simulator, {}, tool)
            notes.append(f"run status {result['status']}, {result['counts']['failed']} failed in its state log")
        found = scenarios.outcome(tool, simulator, tool, wall, scenarios.volumes_without_snapshot(ids))
    found.notes = notes
    return found


def delete_volumes_warm(tool: str, volumes: int, latency: Mapping[str, float], warm: bool,
                        session_per_invocation: bool = False, concurrency: int | None = None, repeat: int = 1,
                        timeline: CallTimeline | None = None) -> Outcome:
    """Scenario (d): one run, after a first run of the same tool on an empty account when `warm`; with
    `repeat` > 1, that many timed runs in the same process (new volumes each time): the median wall time, the
    calls and attempts of the last run, and the volumes left undone by any run.
    `session_per_invocation`: Caretaker as it was before 2026-12-02, a new boto3 session (and clients) in
    every invocation. `timeline`: time Caretaker's calls (the last timed run is what it holds)."""
    import boto3
    from moto import mock_aws

    from automations.core.aws import Clients, reset_shared_clients, shared_clients
    from automations.core.throttle import RateLimiter
    from automations.scheduled import cleanup_volumes
    from tests.automations.conftest import LambdaContext, scheduled_event
    from tests.throttling.simulator import SimulatorStats

    with mock_aws():
        simulator = ThrottlingSimulator(GENEROUS, latency=latency)
        notes: list[str] = []
        if tool == "custodian":
            if warm:
                run_custodian(DELETE_POLICY, simulator)  # nothing to delete yet: it only warms the process
            walls, ids = [], []  # every run's volumes: one left undone in any run counts as failed
            for _ in range(repeat):
                simulator.stats = SimulatorStats()
                ids += scenarios.make_volumes(volumes)
                walls.append(run_custodian(DELETE_POLICY, simulator, warm=warm))
        else:
            reset_shared_clients()  # a new execution environment, with the simulator on its session
            simulator.attach(shared_clients().session, tool)
            if timeline is not None:
                timeline.attach(shared_clients().session)
            table, topic = scenarios.state_table_and_topic()
            settings = {**CLEANUP_SETTINGS, **({"max_concurrency": str(concurrency)} if concurrency else {})}
            environ = scenarios.caretaker_environment(table, topic, **settings)

            def invoke() -> dict[str, Any]:
                limiter = RateLimiter(table=simulator.table)
                if session_per_invocation:
                    session = boto3.session.Session()
                    simulator.attach(session, tool)
                    if timeline is not None:
                        timeline.attach(session)
                    clients = Clients(session, limiter=limiter)
                else:
                    clients = Clients(limiter=limiter)  # no session: the execution environment's shared clients
                return cleanup_volumes.handler.invoke(scheduled_event(), LambdaContext(), environ=environ,
                                                      clients=clients)

            if warm:
                invoke()  # nothing to delete yet: the first invocation of this execution environment
            walls, ids = [], []  # every run's volumes: one left undone in any run counts as failed
            for _ in range(repeat):
                simulator.stats = SimulatorStats()
                ids += scenarios.make_volumes(volumes)
                if timeline is not None:
                    timeline.start()
                started = time.perf_counter()
                result = invoke()
                walls.append(time.perf_counter() - started)
                if timeline is not None:
                    timeline.wall_s = walls[-1]
            reset_shared_clients()
            notes.append(f"run status {result['status']}, {result['counts']['failed']} failed in its state log")
        found = scenarios.outcome(tool, simulator, tool, statistics.median(walls), scenarios.remaining_volumes(ids))
    if repeat > 1:
        notes.append("wall times of the timed runs: " + ", ".join(f"{w:.2f} s" for w in walls)
                     + " (median shown; the calls are the last run's)")
    found.notes = notes
    return found


# ---------------------------------------------------------------------- reporting


def table_of(rows: list[tuple[str, Outcome]]) -> None:
    print(f"   {'':<26}{'wall s':>9}{'AWS calls':>11}{'attempts':>10}{'throttled':>11}{'failed':>8}")
    for name, o in rows:
        print(f"   {name:<26}{o.wall_s:>9.2f}{o.total_calls:>11}{o.attempts:>10}{o.throttled:>11}{o.failed:>8}")
    for name, o in rows:
        calls = ", ".join(f"{op.split(':', 1)[1] if op.startswith('ec2:') else op} {n}" for op, n in o.calls.items())
        print(f"   {name} calls: {calls}")
        for note in o.notes:
            print(f"   {name}: {note}")


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def scenario_a(args: argparse.Namespace) -> list[bool]:
    print(f"\n(a) delete {args.volumes} unattached volumes, {args.latency * 1000:.0f} ms per call, generous bucket "
          f"(documented EC2 limits x100): latency-bound")
    custodian = delete_volumes("custodian", args.volumes, GENEROUS, args.latency)
    caretaker = delete_volumes("caretaker", args.volumes, GENEROUS, args.latency)
    rows = [("Cloud Custodian", custodian), ("Caretaker (defaults)", caretaker)]
    if args.more_concurrency:
        tuned = delete_volumes("caretaker", args.volumes, GENEROUS, args.latency, concurrency=args.more_concurrency)
        rows.append((f"Caretaker (max_conc. {args.more_concurrency})", tuned))
    table_of(rows)
    speedup = custodian.wall_s / caretaker.wall_s
    ok = speedup >= 3
    print(f"   Caretaker/Custodian wall time {caretaker.wall_s / custodian.wall_s:.2f}: {speedup:.1f}x faster with "
          f"the defaults (target >= 3x: {verdict(ok)})")
    if args.more_concurrency:
        print(f"   with max_concurrency {args.more_concurrency}: {tuned.wall_s / custodian.wall_s:.2f}, "
              f"{custodian.wall_s / tuned.wall_s:.1f}x faster (for information; the target is judged on defaults)")
    return [ok]


def scenario_b(args: argparse.Namespace) -> list[bool]:
    bucket = Bucket(100, args.tight_refill)
    table = AWS_LIMITS.with_buckets(ec2={"DeleteVolume": bucket})
    print(f"\n(b) delete {args.volumes} unattached volumes, {args.latency * 1000:.0f} ms per call, tight DeleteVolume "
          f"bucket ({bucket.capacity:g} tokens, {bucket.refill:g}/s): throttle-bound")
    custodian = delete_volumes("custodian", args.volumes, table, args.latency)
    default = delete_volumes("caretaker", args.volumes, table, args.latency, share=0.5)
    full = delete_volumes("caretaker", args.volumes, table, args.latency, share=1.0)
    table_of([("Cloud Custodian", custodian), ("Caretaker (share 50%)", default), ("Caretaker (share 100%)", full)])
    results = []
    print(f"   Cloud Custodian: minimum the whole bucket allows {bucket.minimum_seconds(args.volumes):.1f} s, "
          f"wall {custodian.wall_s / bucket.minimum_seconds(args.volumes):.2f}x that")
    for share, o in ((0.5, default), (1.0, full)):
        minimum = bucket.share(share).minimum_seconds(args.volumes)
        ratio = o.wall_s / minimum
        fewer = o.throttled * 5 <= custodian.throttled and custodian.throttled > 0
        print(f"   Caretaker share {share:.0%}: failed {o.failed} (target 0: {verdict(o.failed == 0)}); wall "
              f"{o.wall_s:.1f} s = {ratio:.2f}x the minimum {minimum:.1f} s its share allows (target <= 1.2: "
              f"{verdict(ratio <= 1.2)}); throttling errors {o.throttled} vs Custodian {custodian.throttled} "
              f"(target >= 5x fewer: {verdict(fewer)})")
        print(f"      wall time vs Custodian: {o.wall_s / custodian.wall_s:.2f}")
        results += [o.failed == 0, ratio <= 1.2, fewer]
    return results


def scenario_c(args: argparse.Namespace) -> list[bool]:
    print(f"\n(c) snapshot {args.snapshot_volumes} tagged volumes, {args.latency * 1000:.0f} ms per call, generous "
          f"bucket")
    custodian = snapshot_volumes("custodian", args.snapshot_volumes, GENEROUS, args.latency)
    caretaker = snapshot_volumes("caretaker", args.snapshot_volumes, GENEROUS, args.latency)
    table_of([("Cloud Custodian", custodian), ("Caretaker (defaults)", caretaker)])
    ratio = caretaker.wall_s / custodian.wall_s
    ok = ratio <= 1.0
    print(f"   Caretaker/Custodian wall time {ratio:.2f} (target <= 1, no slower: {verdict(ok)})")
    return [ok, caretaker.failed == 0]


def scenario_d(args: argparse.Namespace) -> list[bool]:
    latency = {"ec2": args.ec2_latency, "dynamodb": args.bookkeeping_latency, "sns": args.bookkeeping_latency}
    print(f"\n(d) delete {args.warm_volumes} unattached volumes, EC2 at {args.ec2_latency * 1000:.0f} ms per call, "
          f"DynamoDB and SNS at {args.bookkeeping_latency * 1000:.0f} ms, generous bucket: cold, then in a warm "
          f"process")
    timeline = CallTimeline() if args.timeline else None
    rows = [(f"{name} {'warm' if warm else 'cold'}",
             delete_volumes_warm(tool, args.warm_volumes, latency, warm, repeat=args.repeat if warm else 1,
                                 timeline=timeline if warm and tool == "caretaker" else None))
            for warm in (False, True) for tool, name in (("custodian", "Cloud Custodian"), ("caretaker", "Caretaker"))]
    rows.append(("Caretaker warm, old", delete_volumes_warm("caretaker", args.warm_volumes, latency, True,
                                                           session_per_invocation=True, repeat=args.repeat)))
    if args.more_concurrency:
        rows.append((f"Caretaker warm, max_conc. {args.more_concurrency}",
                     delete_volumes_warm("caretaker", args.warm_volumes, latency, True,
                                         concurrency=args.more_concurrency, repeat=args.repeat)))
    table_of(rows)
    if timeline is not None:
        print(f"   Caretaker warm, its last timed run call by call (wall {timeline.wall_s:.2f} s):")
        timeline.report()
    print("   (\"old\": a new boto3 session and clients in every invocation, as before 2026-12-02)")
    found = dict(rows)
    cold = found["Cloud Custodian cold"].wall_s / found["Caretaker cold"].wall_s
    warm = found["Cloud Custodian warm"].wall_s / found["Caretaker warm"].wall_s
    old = found["Cloud Custodian warm"].wall_s / found["Caretaker warm, old"].wall_s
    ok = warm >= 3
    print(f"   cold: Caretaker {cold:.1f}x faster (for information); warm: Caretaker {warm:.1f}x faster "
          f"(target >= 3x: {verdict(ok)}); warm with a session per invocation: {old:.1f}x")
    if args.more_concurrency:
        tuned_row = found[f"Caretaker warm, max_conc. {args.more_concurrency}"]
        tuned = found["Cloud Custodian warm"].wall_s / tuned_row.wall_s
        print(f"   warm with max_concurrency {args.more_concurrency}: {tuned:.1f}x (for information; the target is "
              f"judged on defaults)")
    return [ok, found["Caretaker warm"].failed == 0]


SCENARIOS: Mapping[str, Callable[[argparse.Namespace], list[bool]]] = {
    "a": scenario_a, "b": scenario_b, "c": scenario_c, "d": scenario_d}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volumes", type=int, default=2000, help="unattached volumes to delete in (a) and (b)")
    parser.add_argument("--snapshot-volumes", type=int, default=500, help="tagged volumes to snapshot in (c)")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per AWS call")
    parser.add_argument("--tight-refill", type=float, default=40.0, help="DeleteVolume refill per second in (b)")
    parser.add_argument("--warm-volumes", type=int, default=40, help="unattached volumes to delete in (d)")
    parser.add_argument("--ec2-latency", type=float, default=0.1, help="seconds per EC2 call in (d)")
    parser.add_argument("--bookkeeping-latency", type=float, default=0.01,
                        help="seconds per DynamoDB and SNS call in (d)")
    parser.add_argument("--scenarios", default="abcd", help="which scenarios to run, e.g. 'ac'")
    parser.add_argument("--more-concurrency", type=int, default=0,
                        help="also run (a) and (d) with this cleanup max_concurrency (default: don't)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed warm runs per row in (d), in one process; the median is shown")
    parser.add_argument("--timeline", action="store_true",
                        help="print the last warm Caretaker run of (d) call by call")
    parser.add_argument("--quick", action="store_true", help="a tenth of the resources")
    args = parser.parse_args(argv)
    if not custodian_available():
        print("Cloud Custodian (c7n) is not installed, so there is nothing to compare with. It is an optional "
              "benchmark dependency: .venv/bin/pip install --no-deps -r requirements-bench.txt")
        return 0
    if args.quick:
        args.volumes, args.snapshot_volumes = args.volumes // 10, args.snapshot_volumes // 10  # (d) is small already
    scenarios.quiet_environment()
    from importlib.metadata import version

    print(f"Caretaker vs Cloud Custodian {version('c7n')}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: one process, "
          f"moto in-process behind the throttling simulator")
    met: list[bool] = []
    for key in args.scenarios:
        met += SCENARIOS[key](args)
    print(f"\n{sum(met)} of {len(met)} targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
