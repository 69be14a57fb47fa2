"""The main job: build, deploy into an embedded emulator, make a realistic mess, run every family once, report.

Everything runs against moto on 127.0.0.1 through the same code a user points at a real account
(`build.py deploy`, `python -m automations invoke`); nothing is left running. The cleanup families are deployed
with no minimum age and no grace period (the resources are minutes old) and keep their default `audit` mode, so
they record what they would remove; everything else runs with its defaults.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from rich.console import Console
from rich.table import Table

from automations.cli.demo_mess import (
    Mess,
    custom_resource_request,
    seed_backups,
    seed_exposures,
    seed_idle,
    seed_tables_and_schedules,
)
from automations.cli.emulator import REGION, moto_emulator, unsupported_resource_types
from automations.cli.invoke import EXIT_ERROR, Invocation, invoke
from automations.cli.report import report
from automations.cli.responder import LocalResponder, self_signed_certificate
from templates import names

ARTIFACT_BUCKET = "caretaker-artifacts-demo"
#: Settings the demo deploys the cleanup families with: the mess is minutes old.
DEMO_CLEANUP_SETTINGS = {"min_age_days": "0", "min_unassociated_days": "0", "min_stopped_days": "0",
                         "grace_days": "0"}
#: Every family once, in this order: (function, what the narration says it does).
RUNS = (
    ("ebs-snapshots", "snapshot the tagged volumes"),
    ("dynamodb-backups", "on-demand backups of the tagged tables"),
    ("instance-scheduler", "stop what its schedule wants stopped (nights-off)"),
    ("cleanup-ebs-volumes", "unattached volumes"),
    ("cleanup-ebs-snapshots", "snapshots of deleted volumes"),
    ("cleanup-amis", "AMIs nothing launches"),
    ("cleanup-elastic-ips", "idle Elastic IPs"),
    ("cleanup-security-groups", "unused security groups"),
    ("cleanup-log-retention", "log groups without retention"),
    ("cleanup-stopped-instances", "long-stopped instances"),
    ("access-key-rotation", "IAM access keys of opted-in users"),
    ("sg-open-world", "CloudTrail: AuthorizeSecurityGroupIngress 22/tcp from 0.0.0.0/0"),
    ("s3-public-bucket", "CloudTrail: PutBucketAcl public-read"),
    ("random-secret", "Custom::RandomSecret Create from stack team-payments"),
    ("backup-coverage", "tagged resources no recovery point covers"),
    ("trigger-health", "canary: every rule, schedule and dead-letter queue"),
)
#: The last of `RUNS` run one after the other, after the rest: they read what the others left.
SEQUENTIAL_RUNS = 2
#: The schedule the demo deploys instance-scheduler with: stopped all day, so the tagged instance stops now.
DEMO_SCHEDULES = '{"nights-off": {"timezone": "UTC", "periods": [{"days": "mon-sun", "stop": "00:00"}]}}'


def demo_parameters() -> dict[str, dict[str, str]]:
    """Per stack: the template parameters that set `DEMO_CLEANUP_SETTINGS` on the cleanup functions and
    `DEMO_SCHEDULES` on instance-scheduler."""
    from automations.core import registry
    from templates.parameters import setting_parameter_name

    overrides: dict[str, dict[str, str]] = {}
    for spec in registry.discover():
        wanted = (DEMO_CLEANUP_SETTINGS if spec.name.startswith("cleanup-")
                  else {"schedules": DEMO_SCHEDULES} if spec.name == "instance-scheduler" else {})
        stack = names.function_stack_name(str(registry.stack_of(spec)))
        for setting in spec.all_settings:
            if setting.name in wanted:
                overrides.setdefault(stack, {})[setting_parameter_name(spec, setting)] = wanted[setting.name]
    return overrides


@dataclass
class Outcome:
    name: str
    what: str
    invocation: Invocation
    note: str = ""

    @property
    def status(self) -> str:
        if not self.invocation.ok:
            return "error"
        result = self.invocation.result if isinstance(self.invocation.result, Mapping) else {}
        return str(result.get("status", "ok"))

    def counts(self) -> str:
        result = self.invocation.result if isinstance(self.invocation.result, Mapping) else {}
        counts = result.get("counts") if isinstance(result.get("counts"), Mapping) else result
        return ", ".join(f"{k} {counts[k]}" for k in ("succeeded", "failed", "skipped", "planned")
                         if isinstance(counts, Mapping) and counts.get(k))


#: Local invokes at once: each is a fresh interpreter, so most of its time is start-up that overlaps well.
PARALLEL_INVOKES = 4


def _run_one(name: str, what: str, dist: Path, mess: Mess, responder: LocalResponder, cert_file: Path) -> Outcome:
    if name != "random-secret":
        return Outcome(name, what, invoke(name, dist=dist, event=mess.events.get(name), capture=True))
    request_id = str(uuid.uuid4())
    token = boto3.client("lambda", region_name=REGION).get_function_configuration(
        FunctionName=f"caretaker-{name}")["FunctionArn"]
    event = custom_resource_request(token, responder.url_for(request_id), request_id, REGION)
    invocation = invoke(name, dist=dist, event=event, capture=True,
                        extra_env={"SSL_CERT_FILE": str(cert_file)})  # trust the local responder
    replies = responder.bodies(request_id)
    note = (f"CloudFormation got {replies[0]['Status']} for {replies[0].get('PhysicalResourceId')}"
            if len(replies) == 1 else f"CloudFormation got {len(replies)} replies (expected 1)")
    return Outcome(name, what, invocation, note)


def run_every_family(dist: Path, mess: Mess, tmp: Path, console: Console) -> list[Outcome]:
    """Every function of `RUNS` once; backup coverage and the canary last, so that they see what the others
    left."""
    certificate = self_signed_certificate(tmp / "tls")
    responder = LocalResponder(certificate)
    try:
        first, last = RUNS[:-SEQUENTIAL_RUNS], RUNS[-SEQUENTIAL_RUNS:]
        with ThreadPoolExecutor(max_workers=PARALLEL_INVOKES) as pool:
            futures = [pool.submit(_run_one, name, what, dist, mess, responder, certificate.cert_file)
                       for name, what in first]
            outcomes = [future.result() for future in futures]
        outcomes.extend(_run_one(name, what, dist, mess, responder, certificate.cert_file) for name, what in last)
    finally:
        responder.close()
    for outcome in outcomes:
        style = {"ok": "green", "partial": "yellow"}.get(outcome.status, "bold red")
        console.print(f"  [{style}]{outcome.status:8}[/] {outcome.name:26} {outcome.what}"
                      + (f"  [dim]{outcome.counts()}[/]" if outcome.counts() else "")
                      + (f"  [cyan]{outcome.note}[/]" if outcome.note else ""))
        if not outcome.invocation.ok:
            console.print(f"    [red]{outcome.invocation.error}[/]")
            console.print(outcome.invocation.output[-3000:])
    return outcomes


def what_changed_in_aws(mess: Mess) -> Table:
    """The account after the runs, read from AWS (not from Caretaker's own records)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    table = Table(title="The account afterwards (read from AWS)")
    table.add_column("what")
    table.add_column("now")
    group = mess.resources["security group bastion: 22/tcp from 0.0.0.0/0"]
    rules = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
    open_world = any(r.get("FromPort") == 22 and any(x.get("CidrIp") == "0.0.0.0/0" for x in r.get("IpRanges", []))
                     for r in rules)
    table.add_row(f"{group} 22/tcp from 0.0.0.0/0", "[red]still open[/]" if open_world else "[green]revoked[/]")
    bucket = mess.resources["bucket made public (ACL public-read)"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    table.add_row(f"bucket {bucket} public access block",
                  "[green]all four on[/]" if all(block.values()) else f"[red]{block}[/]")
    snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:caretaker:automation", "Values": ["ebs-snapshots"]}])["Snapshots"]
    table.add_row("snapshots made by ebs-snapshots", str(len(snapshots)))
    idle = mess.resources["volume old-scratch (unattached, 100 GB)"]
    left = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [idle]}])["Volumes"]
    table.add_row(f"idle volume {idle}", "still there (cleanup runs in audit by default)" if left else "deleted")
    secrets = boto3.client("secretsmanager", region_name=REGION).list_secrets()["SecretList"]
    table.add_row("secrets made by random-secret", ", ".join(s["Name"] for s in secrets) or "none")
    return table


def demo(keep_dist: bool = False, console: Console | None = None) -> int:
    from builder.deploy import deploy
    from builder.pipeline import build

    console = console or Console(width=max(Console().width, 150), emoji=False)  # ARNs hold ":secret:"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="caretaker-demo-") as tmp:
        dist = Path("dist") if keep_dist else Path(tmp) / "dist"
        console.rule("1. build")
        result = build(dist)
        console.print(f"built {len(result.templates)} templates, {result.code.path.name}, {result.layer.path.name}")

        with moto_emulator() as endpoint:
            console.rule(f"2. deploy into the embedded emulator at {endpoint}")
            with unsupported_resource_types() as skipped:
                outputs = deploy(dist, ARTIFACT_BUCKET, create_bucket=True, region=REGION,
                                 parameters=demo_parameters(), report=lambda line: console.print(f"  {line}"))
            console.print(f"  [dim]the emulator does not implement {', '.join(skipped)}: they are in the "
                          "templates and real CloudFormation creates them[/]")
            table = outputs[names.CORE_STACK_NAME]["StateTableName"]

            console.rule("3. make a realistic mess")
            mess = Mess()
            ec2 = boto3.client("ec2", region_name=REGION)
            seed_backups(ec2, REGION, mess)
            seed_idle(ec2, boto3.client("logs", region_name=REGION), REGION, mess)
            seed_exposures(ec2, boto3.client("s3", region_name=REGION), REGION, mess)
            seed_tables_and_schedules(ec2, boto3.client("dynamodb", region_name=REGION), REGION, mess)
            for label, resource_id in mess.resources.items():
                console.print(f"  {label:46} {resource_id}")

            console.rule("4. run every family once (local invoke from the built artifact)")
            since = datetime.now(UTC) - timedelta(seconds=5)
            outcomes = run_every_family(dist, mess, Path(tmp), console)

            console.rule("5. what Caretaker did, from the state log")
            report(boto3.client("dynamodb", region_name=REGION), table, since=since, console=console)
            console.print(what_changed_in_aws(mess))
    failed = [o.name for o in outcomes if o.invocation.exit_code == EXIT_ERROR]
    replied = all("got SUCCESS" in o.note for o in outcomes if o.name == "random-secret")
    console.rule(f"done in {time.monotonic() - started:.1f} s; the emulator is stopped"
                 + (f"; [red]failed: {', '.join(failed)}[/]" if failed else ""))
    return 1 if failed or not replied else 0
