"""Caretaker's throughput under simulated AWS throttling, on the real clock.

    .venv/bin/python bench/throttle.py [--volumes 1000] [--snapshot-volumes 300] [--latency 0.05]
                                       [--cleanup-refill-scale 8] [--snapshot-refill-scale 2]
                                       [--other-load 0.6] [--quick]

Runs `cleanup-ebs-volumes` (enforce, grace 0, no final snapshot) and `ebs-snapshots` in-process on
moto behind the throttling simulator (tests/throttling/simulator.py) with the documented EC2
limits, refill rates multiplied by a scale so that a run takes a minute instead of ten (bucket
capacities unchanged; the limiter uses the same scaled table, so every figure is relative to it).
The scales are chosen so that, at the default share, the bucket and not the latency bounds the
run: both run `--max-concurrency` (8) calls at once.

For each run it prints the wall time; the shortest time the share of the bucket allows for the
work (burst first, then refill) and the latency floor (calls x latency / calls in flight); the
ratio of the wall time to the larger of the two (target <= 1.2); the throttling errors AWS
answered; the failed actions and the resources left undone; the overdraft of the observed calls
against the share's bucket (0 = never above share x refill, burst included); and how long the
limiter made calls wait. A last run puts other workloads on the same bucket (`--other-load` of
its refill): AWS then throttles, and the run must still fail nothing.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from automations.core.throttle import AWS_LIMITS, RateTable
from tests.throttling import scenarios
from tests.throttling.simulator import ThrottlingSimulator, overdraft

TARGET_RATIO = 1.2
#: The limiter grants exactly within share x refill (+ burst); the simulator sees the calls when they
#: arrive, after threads were scheduled and half the latency: a call delayed behind another can arrive
#: a little closer to the next one. Less than one token of overdraft is that jitter, not a second call.
JITTER_TOKENS = 1.0


def cleanup_run(table: RateTable, volumes: int, latency: float, share: float, other_load: float,
                concurrency: int) -> dict[str, Any]:
    from moto import mock_aws

    from automations.scheduled import cleanup_volumes

    with mock_aws():
        ids = scenarios.make_volumes(volumes)
        simulator = ThrottlingSimulator(table, latency=latency, other_load=other_load)
        result, wall, clients = scenarios.run_caretaker(
            cleanup_volumes.handler, simulator,
            {"mode": "enforce", "grace_days": "0", "min_age_days": "0", "final_snapshot": "false",
             "max_concurrency": str(concurrency), "api_rate_share": str(share)})
        left = scenarios.remaining_volumes(ids)
    return figures("cleanup-ebs-volumes", "DeleteVolume", table, simulator, clients, result, wall, volumes,
                   share, left, latency, concurrency)


def snapshot_run(table: RateTable, volumes: int, latency: float, share: float, concurrency: int) -> dict[str, Any]:
    from moto import mock_aws

    from automations.scheduled import ebs_snapshots

    with mock_aws():
        ids = scenarios.make_volumes(volumes, {scenarios.BACKUP_TAG: "true"})
        simulator = ThrottlingSimulator(table, latency=latency)
        result, wall, clients = scenarios.run_caretaker(ebs_snapshots.handler, simulator,
                                                        {"api_rate_share": str(share),
                                                         "max_concurrency": str(concurrency)})
        missing = scenarios.volumes_without_snapshot(ids)
    return figures("ebs-snapshots", "CreateSnapshot", table, simulator, clients, result, wall, volumes, share,
                   missing, latency, concurrency)


def figures(name: str, operation: str, table: RateTable, simulator: ThrottlingSimulator, clients: Any,
            result: dict[str, Any], wall: float, work: int, share: float, missed: int, latency: float,
            in_flight: int) -> dict[str, Any]:
    (charge,) = table.charges("ec2", operation, {})
    bucket = charge.bucket.share(share)
    accepted = simulator.stats.accepted_times("caretaker", operation)
    attempts = simulator.stats.total(simulator.stats.attempts)
    return {
        "name": name, "operation": operation, "share": share, "bucket": charge.bucket, "wall": wall,
        "minimum": bucket.minimum_seconds(work), "floor": attempts * latency / in_flight,
        "throttled": simulator.stats.total(simulator.stats.throttled),
        "failed": result["counts"]["failed"], "missed": missed, "status": result["status"],
        "overdraft": overdraft(accepted, bucket) if accepted else 0.0, "waited": clients.limiter.waited_s,
        "calls": simulator.stats.total(simulator.stats.calls), "accepted": len(accepted),
    }


def report(f: dict[str, Any], other_load: float = 0.0) -> bool:
    bound = max(f["minimum"], f["floor"])
    ratio = f["wall"] / bound
    fails_nothing = f["failed"] == 0 and f["missed"] == 0
    near = ratio <= TARGET_RATIO
    print(f"\n== {f['name']}, share {f['share']:.0%}"
          + (f", other workloads take {other_load:.0%} of the refill" if other_load else "")
          + f": status {f['status']}")
    print(f"   bucket {f['operation']}: {f['bucket'].capacity:g} tokens, {f['bucket'].refill:g}/s "
          f"(share: {f['bucket'].share(f['share']).capacity:g} burst, {f['bucket'].share(f['share']).refill:g}/s)")
    print(f"   wall {f['wall']:.1f} s; minimum the share allows {f['minimum']:.1f} s, latency floor {f['floor']:.1f} s"
          f" ({'bucket' if f['minimum'] >= f['floor'] else 'latency'}-bound); ratio {ratio:.2f}"
          + ("" if other_load else f" (target <= {TARGET_RATIO}: {'met' if near else 'MISSED'})"))
    print(f"   AWS calls {f['calls']}, {f['operation']} let through {f['accepted']}, throttling errors "
          f"{f['throttled']}, limiter waits {f['waited']:.1f} s (summed over threads)")
    print(f"   failed actions {f['failed']}, resources not done {f['missed']} "
          f"({'none lost: met' if fails_nothing else 'MISSED'})")
    if not other_load:
        within = f["overdraft"] < JITTER_TOKENS
        print(f"   above share x refill, as AWS saw the calls (overdraft): {f['overdraft']:.3f} tokens "
              f"(< {JITTER_TOKENS:g}, arrival jitter: {'met' if within else 'MISSED'})")
        return fails_nothing and near and within
    return fails_nothing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volumes", type=int, default=1000, help="unattached volumes to delete")
    parser.add_argument("--snapshot-volumes", type=int, default=300, help="tagged volumes to snapshot")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per AWS call")
    parser.add_argument("--cleanup-refill-scale", type=float, default=8.0,
                        help="multiplies every refill rate for the cleanup runs")
    parser.add_argument("--snapshot-refill-scale", type=float, default=2.0,
                        help="multiplies every refill rate for the snapshot runs")
    parser.add_argument("--other-load", type=float, default=0.6, help="share of refill other workloads take")
    parser.add_argument("--max-concurrency", type=int, default=8, help="max_concurrency of both automations")
    parser.add_argument("--quick", action="store_true", help="a fifth of the work")
    args = parser.parse_args(argv)
    if args.quick:
        args.volumes, args.snapshot_volumes = args.volumes // 5, args.snapshot_volumes // 5
    scenarios.quiet_environment()
    cleanup_table = AWS_LIMITS.scaled(refill=args.cleanup_refill_scale)
    snapshot_table = AWS_LIMITS.scaled(refill=args.snapshot_refill_scale)
    print(f"throttling bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: moto in-process behind the throttling "
          f"simulator, latency {args.latency * 1000:.0f} ms per call, documented EC2 limits with refill rates "
          f"x{args.cleanup_refill_scale:g} (cleanup) and x{args.snapshot_refill_scale:g} (snapshots), "
          f"max_concurrency {args.max_concurrency}")

    met = True
    for share in (0.5, 1.0):
        met &= report(cleanup_run(cleanup_table, args.volumes, args.latency, share, 0.0, args.max_concurrency))
    for share in (0.5, 1.0):
        met &= report(snapshot_run(snapshot_table, args.snapshot_volumes, args.latency, share, args.max_concurrency))
    if args.other_load:
        met &= report(cleanup_run(cleanup_table, args.volumes // 2, args.latency, 0.5, args.other_load,
                                  args.max_concurrency), other_load=args.other_load)
    print(f"\nall targets {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
