"""What a warm invocation costs beyond its AWS calls: one scheduled function, one reactive rule, one provider.

    .venv/bin/python bench/warm_invoke.py [-n 7] [--volumes 5] [--latency 0] [--before]

In one process, as one Lambda execution environment, on in-process moto: each handler is invoked through
its Lambda entry point (`handler(event, context)`: no injected session or clients, as Lambda calls it),
once cold and then `-n` times warm, each warm invocation on fresh work of the same size:

  scheduled  cleanup-ebs-volumes deleting `--volumes` unattached volumes (enforce, grace 0, no final snapshot)
  reactive   ebs-encryption-disabled answering one DisableEbsEncryptionByDefault event
  provider   Custom::RandomSecret serving one Create (Secrets Manager); the response PUT to CloudFormation's
             URL is recorded instead of sent (it is network time, the same for any provider)

Against it, the bare boto3 calls of the same work on an already built client of another session, timed
the same way: DescribeVolumes + one DeleteVolume per volume; GetEbsEncryptionByDefault +
EnableEbsEncryptionByDefault; CreateSecret. For each: wall time and CPU time (all threads), the part of
each that moto spent serving requests (the AWS side; a network round trip in Lambda), and the rest
("own"). The warm overhead is the warm invocation's own CPU time minus the bare calls' own CPU time:
settings, state log, mode override, notification, idempotency record, crhelper, and botocore's
client-side work for those calls; target < 50 ms. CPU time, as in bench/cold_start.py, because it is
what the other load of a shared machine disturbs least; the wall figures are printed beside it. Built
and parsed per phase (bench/model_loads.py): boto3 sessions, botocore clients and data files parsed, counted by wrapping
`boto3.session.Session.__init__`, `botocore.session.Session.create_client` and
`botocore.loaders.JSONFileLoader.load_file` (where botocore reads and parses a model file), only during
the handlers' invocations and never for moto's own use (the shared session itself is built before the
cold invocation, to put the hooks on it). Targets: nothing built or parsed in a warm invocation; no
service model parsed twice in the process.

`--before`: every invocation gets a `Clients` on a new boto3 session, as every invocation did before
2026-12-02 (the figures to compare with). `--latency S`: the throttling simulator
(tests/throttling/simulator.py, generous buckets) on every session, so each AWS call takes S seconds more
(counted on the AWS side).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model_loads import BuildCounter, Parses

from tests.throttling import scenarios

TARGET_OVERHEAD_S = 0.050
REGION = scenarios.REGION
EVENT_REGION = "eu-west-1"  # the sample CloudTrail event's region
ACCOUNT = "123456789012"


@dataclass
class Timing:
    wall_s: float
    aws_s: float  # of which moto was serving requests (the AWS side: a network round trip in Lambda)
    cpu_s: float  # CPU time of the process (all threads)
    aws_cpu_s: float  # of which moto's

    @property
    def own_cpu_s(self) -> float:
        return self.cpu_s - self.aws_cpu_s

    @property
    def own_s(self) -> float:
        return self.wall_s - self.aws_s


@dataclass
class Figures:
    name: str
    cold: Timing
    cold_parses: Parses
    warm: list[Timing]
    warm_parses: list[Parses]
    bare: list[Timing]
    calls: Counter[str]

    @staticmethod
    def median(timings: list[Timing], what: str) -> float:
        return statistics.median(getattr(t, what) for t in timings)

    @property
    def overhead_s(self) -> float:
        """Caretaker's own CPU time beyond the bare calls' own (moto's taken out of both). CPU time, not wall
        time: it is what the other load of a shared machine disturbs least (the wall figure is printed too)."""
        return self.median(self.warm, "own_cpu_s") - self.median(self.bare, "own_cpu_s")

    @property
    def own_wall_overhead_s(self) -> float:
        return self.median(self.warm, "own_s") - self.median(self.bare, "own_s")

    @property
    def raw_overhead_s(self) -> float:
        return self.median(self.warm, "wall_s") - self.median(self.bare, "wall_s")


# ---------------------------------------------------------------------- the three handlers


class Bench:
    def __init__(self, args: argparse.Namespace, counter: BuildCounter) -> None:
        from automations.core.aws import shared_clients

        self.args = args
        self.counter = counter
        self.session = shared_clients().session  # the execution environment's, as the handlers get it
        self.calls: Counter[str] = Counter()
        self.session.events.register("before-parameter-build", self._count)
        if args.latency:
            from automations.core.throttle import AWS_LIMITS
            from tests.throttling.simulator import ThrottlingSimulator

            generous = AWS_LIMITS.scaled(capacity=100, refill=100)
            counter.time_aws_side(ThrottlingSimulator, "_send")
            self.simulator = ThrottlingSimulator(generous, latency=args.latency)
            self.simulator.attach(self.session, "caretaker")
        # fixtures and the bare calls on a session of their own: the cold invocation then pays what it
        # pays in Lambda (their parsing is not counted: counting is on only during the handlers' invocations)
        import boto3

        fixtures = boto3.session.Session()
        self.ec2 = fixtures.client("ec2", region_name=REGION)
        self.ec2_events = fixtures.client("ec2", region_name=EVENT_REGION)
        self.secrets = fixtures.client("secretsmanager", region_name=REGION)
        self.fixtures = fixtures
        if args.latency:
            self.simulator.attach(fixtures, "bare")  # the bare calls, and the fixtures', get the latency too

    def old_clients(self) -> Any:
        """`--before`: what every invocation got before 2026-12-02, a `Clients` on a new boto3 session."""
        import boto3

        from automations.core.aws import Clients

        session = boto3.session.Session()
        session.events.register("before-parameter-build", self._count)
        if self.args.latency:
            self.simulator.attach(session, "caretaker")
        return Clients(session)

    def _count(self, model: Any, **_: Any) -> None:
        if self.counter.active:
            self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def timed(self, fn: Callable[[Any], Any], work: Any) -> Timing:
        aws_cpu = self.counter.aws_cpu_s
        started, cpu = time.perf_counter(), time.process_time()
        fn(work)
        ended, cpu_s = time.perf_counter(), time.process_time() - cpu
        return Timing(ended - started, self.counter.aws_time(started, ended), cpu_s, self.counter.aws_cpu_s - aws_cpu)

    def run(self, name: str, prepare: Callable[[int], Any], invoke: Callable[[Any], Any],
            bare: Callable[[Any], Any]) -> Figures:
        work = prepare(0)
        with self.counter.measuring() as cold_parses:
            cold = self.timed(invoke, work)
        warm, warm_parses, bare_runs = [], [], []
        self.calls.clear()
        for i in range(1, self.args.n + 1):
            work = prepare(i)
            with self.counter.measuring() as parses:
                warm.append(self.timed(invoke, work))
            warm_parses.append(parses)
        calls = Counter({k: v // self.args.n for k, v in self.calls.items()})
        for i in range(self.args.n):
            work = prepare(1000 + i)
            bare_runs.append(self.timed(bare, work))
        return Figures(name, cold, cold_parses, warm, warm_parses, bare_runs, calls)

    # scheduled: cleanup-ebs-volumes
    def volumes(self, _: int) -> list[str]:
        with scenarios.created_at(datetime.now(UTC) - timedelta(days=100)):
            return [self.ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
                    for _ in range(self.args.volumes)]

    def cleanup(self, _: list[str]) -> Any:
        from automations.scheduled import cleanup_volumes
        from tests.automations.conftest import LambdaContext, scheduled_event

        if self.args.before:
            return cleanup_volumes.handler.invoke(scheduled_event(), LambdaContext(), clients=self.old_clients())
        return cleanup_volumes.handler(scheduled_event(), LambdaContext())

    def bare_cleanup(self, _: list[str]) -> None:
        pages = self.ec2.get_paginator("describe_volumes").paginate(
            Filters=[{"Name": "status", "Values": ["available"]}])
        for volume in [v for page in pages for v in page["Volumes"]]:
            self.ec2.delete_volume(VolumeId=volume["VolumeId"])

    # reactive: ebs-encryption-disabled
    def encryption_event(self, _: int) -> dict[str, Any]:
        from tests.automations.security.conftest import load_event

        self.ec2_events.disable_ebs_encryption_by_default()
        event = copy.deepcopy(load_event("disable_ebs_encryption_by_default"))
        event["id"] = str(uuid.uuid4())
        return event

    def reactive(self, event: dict[str, Any]) -> Any:
        from automations.security import ebs_encryption_disabled
        from tests.automations.conftest import LambdaContext

        if self.args.before:
            return ebs_encryption_disabled.handler.invoke(event, LambdaContext(), clients=self.old_clients())
        return ebs_encryption_disabled.handler(event, LambdaContext())

    def bare_reactive(self, _: dict[str, Any]) -> None:
        if not self.ec2_events.get_ebs_encryption_by_default()["EbsEncryptionByDefault"]:
            self.ec2_events.enable_ebs_encryption_by_default()

    # provider: Custom::RandomSecret
    def create_request(self, i: int) -> dict[str, Any]:
        from custom_resources import random_secret

        request_id = str(uuid.uuid4())
        token = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{random_secret.SPEC.function_name}"
        return {"RequestType": "Create", "ResponseURL": f"https://cloudformation.invalid/{request_id}?sig=bench",
                "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/bench/{uuid.uuid4()}",
                "RequestId": request_id, "ResourceType": random_secret.RESOURCE_TYPE,
                "LogicalResourceId": "Secret",
                "ResourceProperties": {"ServiceToken": token, "Name": f"bench/secret-{i}"}}

    def provider(self, event: dict[str, Any]) -> Any:
        from custom_resources import random_secret
        from tests.automations.conftest import LambdaContext

        context = LambdaContext(function_name=random_secret.SPEC.function_name)
        if self.args.before:
            return random_secret.handler.invoke(event, context, clients=self.old_clients())
        return random_secret.handler(event, context)

    def bare_provider(self, event: dict[str, Any]) -> None:
        self.secrets.create_secret(Name=event["ResourceProperties"]["Name"] + "-bare",
                                   SecretString=uuid.uuid4().hex * 2,
                                   Tags=[{"Key": "caretaker:automation", "Value": "random-secret"}])


# ---------------------------------------------------------------------- main


def record_responses() -> list[dict[str, Any]]:
    """Replace the response PUT to CloudFormation with a recorder (see the module docstring)."""
    import custom_resources.cfn_helper as cfn_helper

    sent: list[dict[str, Any]] = []

    def recorded(url: str, body: Any, **_: Any) -> bool:
        sent.append(dict(body))
        return True

    cfn_helper.send_response = recorded
    return sent


def describe(parses: Parses) -> str:
    models = sum(n for f, n in parses.files.items() if f.endswith("service-2"))
    return (f"{parses.sessions} sessions, {sum(parses.clients.values())} clients, {sum(parses.files.values())} "
            f"files parsed ({models} service models)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=7, help="warm invocations (and bare runs) per handler")
    parser.add_argument("--volumes", type=int, default=5, help="volumes the scheduled cleanup deletes per run")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every AWS call")
    parser.add_argument("--before", action="store_true",
                        help="give every invocation a new boto3 session, as before 2026-12-02 (for comparison)")
    args = parser.parse_args(argv)
    scenarios.quiet_environment()
    counter = BuildCounter()  # before any session exists
    sent = record_responses()
    from moto import mock_aws

    print(f"Warm invocations, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: in-process moto, latency "
          f"{args.latency * 1000:.0f} ms per call, -n {args.n}, cleanup of {args.volumes} volumes"
          f"{'; --before: a new session per invocation' if args.before else ''}")
    with mock_aws():
        from automations.core.aws import reset_shared_clients

        reset_shared_clients()
        bench = Bench(args, counter)
        topic = bench.fixtures.client("sns", region_name=REGION).create_topic(Name="alerts")["TopicArn"]
        from tests.automations.conftest import create_state_table

        os.environ.update({"CARETAKER_STATE_TABLE": create_state_table(), "CARETAKER_ALERT_TOPIC_ARN": topic,
                           "CARETAKER_MODE": "enforce", "CARETAKER_GRACE_DAYS": "0",
                           "CARETAKER_MIN_AGE_DAYS": "0", "CARETAKER_FINAL_SNAPSHOT": "false"})
        results = [
            bench.run("scheduled: cleanup-ebs-volumes", bench.volumes, bench.cleanup, bench.bare_cleanup),
            bench.run("reactive: ebs-encryption-disabled", bench.encryption_event, bench.reactive,
                      bench.bare_reactive),
            bench.run("provider: Custom::RandomSecret", bench.create_request, bench.provider, bench.bare_provider),
        ]
    failed = [body for body in sent if body.get("Status") != "SUCCESS"]
    met: list[bool] = []
    for r in results:
        nothing = all(p.sessions == 0 and not p.clients and not p.files for p in r.warm_parses)
        print(f"\n{r.name:<32}{'wall':>10}{'moto':>12}{'own':>11}{'CPU':>11}{'moto CPU':>12}{'own CPU':>11}")
        for label, timings in (("cold invocation", [r.cold]), (f"warm, median of {len(r.warm)}", r.warm),
                               (f"bare boto3, median of {len(r.bare)}", r.bare)):
            print(f"   {label:<29}" + "".join(f"{Figures.median(timings, what) * 1000:8.1f} ms" for what in
                                          ("wall_s", "aws_s", "own_s", "cpu_s", "aws_cpu_s", "own_cpu_s")))
        warm_built = sorted({describe(p) for p in r.warm_parses})
        print(f"   built and parsed: cold {describe(r.cold_parses)}; each warm invocation "
              f"{'nothing' if nothing else ' or '.join(warm_built)}")
        ok = r.overhead_s < TARGET_OVERHEAD_S
        print(f"   warm overhead, own CPU time beyond the bare calls' own: {r.overhead_s * 1000:.1f} ms (target < "
              f"{TARGET_OVERHEAD_S * 1000:.0f} ms: {'met' if ok else 'MISSED'}); own wall time beyond theirs: "
              f"{r.own_wall_overhead_s * 1000:.1f} ms; wall time beyond theirs: {r.raw_overhead_s * 1000:.1f} ms "
              f"(moto serving the state log, notification and idempotency calls included)")
        print(f"   nothing built or parsed warm: {'met' if nothing else 'MISSED'}")
        print(f"   AWS calls per warm invocation: {', '.join(f'{k} {v}' for k, v in sorted(r.calls.items()))}")
        met += [ok, nothing]
    twice = counter.parsed_twice()
    print(f"\nservice models parsed more than once in this process: {', '.join(twice) if twice else 'none'} "
          f"(target none: {'met' if not twice else 'MISSED'})")
    others = sorted(name for name, n in counter.process.items() if n > 1)
    if others:
        print(f"data files parsed more than once (for information; crhelper builds its three clients on boto3's "
              f"default session, so botocore's own endpoints and partitions files are parsed by both): "
              f"{', '.join(others)}")
    if failed:
        print(f"provider answered FAILED {len(failed)} times: {failed[0].get('Reason')}")
    met += [not twice, not failed]
    print(f"\n{sum(met)} of {len(met)} targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
