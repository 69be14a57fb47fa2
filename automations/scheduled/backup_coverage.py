"""backup-coverage: the resources that should be backed up and have no recent recovery point. Read-only.

A resource must be covered when it carries the backup tag with an accepted value (the same settings as the
backup families) or `caretaker:critical=true`: EBS volumes, RDS instances and Aurora clusters, DynamoDB tables,
EFS file systems. It is covered when its newest recovery point (Caretaker's own snapshots and backups, AWS Backup's
recovery points, DLM's snapshots: `coverage_sources`) is newer than its policy's interval plus `grace_hours`.
The interval is the backup tag's value when that names one (`hourly`, `daily`, `weekly`, `monthly`), else
`interval_hours`.

Each uncovered resource is one record of the run (action `backup-uncovered`, outcome `skipped`: the function never
acts; `details` hold the resource type, what was expected and what was found). A resource whose recovery points
could not be read is recorded `failed` (the run then ends `partial` and alerts). One notification lists the
findings; the EMF metric `UncoveredResources` counts them (0 included, so an alarm can tell "none" from "no data").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core.notify import LIST_LIMIT
from automations.core.observability import publish_counts
from automations.core.registry import register
from automations.core.runtime import Run, entrypoint
from automations.core.selection import tag_matches
from automations.core.spec import FunctionSpec, Permission, Rate, Setting
from automations.core.state_log import iso
from automations.scheduled import coverage_sources as sources
from automations.scheduled.backup_settings import BACKUP_TAG_SETTINGS, CRITICAL_TAG

NAME = "backup-coverage"
ACTION = "backup-uncovered"
METRIC = "UncoveredResources"
_RDS = "arn:${AWS::Partition}:rds:*:${AWS::AccountId}"
_TABLES = "arn:${AWS::Partition}:dynamodb:*:${AWS::AccountId}:table/*"
#: Backup tag values that name their interval, in hours.
INTERVAL_WORDS = {"hourly": 1, "daily": 24, "weekly": 7 * 24, "monthly": 31 * 24}

SPEC = register(FunctionSpec(
    name=NAME,
    description="Reports (records, notification, metric) the tagged or critical resources that have no recent "
                "recovery point from Caretaker, AWS Backup or DLM. Read-only.",
    trigger=Rate(1, "day"),
    default_mode="enforce",  # it only reads and reports
    timeout=600,
    memory=512,
    permissions=(
        Permission(("ec2:DescribeVolumes", "ec2:DescribeSnapshots"),
                   why="volumes and their snapshots; Describe* has no resource-level scoping"),
        Permission(("rds:DescribeDBInstances",), (f"{_RDS}:db:*",)),
        Permission(("rds:DescribeDBClusters",), (f"{_RDS}:cluster:*",)),
        Permission(("rds:DescribeDBSnapshots",), (f"{_RDS}:db:*", f"{_RDS}:snapshot:*")),
        Permission(("rds:DescribeDBClusterSnapshots",), (f"{_RDS}:cluster:*", f"{_RDS}:cluster-snapshot:*")),
        Permission(("dynamodb:ListTables", "dynamodb:ListBackups"), why="no resource-level scoping"),
        Permission(("dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"), (_TABLES,)),
        Permission(("elasticfilesystem:DescribeFileSystems",),
                   ("arn:${AWS::Partition}:elasticfilesystem:*:${AWS::AccountId}:file-system/*",)),
        Permission(("backup:ListRecoveryPointsByResource",),
                   why="AWS Backup's recovery points of a resource; the action has no resource-level scoping"),
    ),
    settings=(
        *BACKUP_TAG_SETTINGS,
        Setting("interval_hours", "int", 24,
                "The interval of a resource whose backup tag value names none (true, critical): its newest "
                "recovery point must be younger than this plus grace_hours.", minimum=1, maximum=8784),
        Setting("grace_hours", "int", 6,
                "Slack on every interval (a schedule's jitter, a snapshot still being made).", minimum=0,
                maximum=720),
        Setting("resource_families", "list", sources.FAMILIES, "Families to check (ebs, rds, dynamodb, efs).",
                allowed=sources.FAMILIES),
    ),
))


@dataclass(frozen=True)
class Finding:
    resource: sources.Resource
    expected: str
    found: str

    def as_dict(self) -> dict[str, str]:
        return {"resource_id": self.resource.resource_id, "resource_type": self.resource.resource_type,
                "expected": self.expected, "found": self.found}


def interval_of(settings: Mapping[str, Any], tags: Mapping[str, str]) -> tuple[timedelta, str]:
    """The resource's policy interval and where it comes from."""
    key = str(settings["backup_tag_key"])
    value = tags.get(key, "").strip().lower()
    if value in INTERVAL_WORDS and tag_matches(tags, key, settings["backup_tag_values"]):
        return timedelta(hours=INTERVAL_WORDS[value]), f"{key}={value}"
    why = f"{key}={value}" if tag_matches(tags, key, settings["backup_tag_values"]) else f"{CRITICAL_TAG}=true"
    return timedelta(hours=int(settings["interval_hours"])), why


def _wanted(settings: Mapping[str, Any]) -> Callable[[dict[str, str]], bool]:
    key, values = str(settings["backup_tag_key"]), settings["backup_tag_values"]
    return lambda tags: tag_matches(tags, key, values) or tags.get(CRITICAL_TAG, "").strip().lower() == "true"


def _describe(point: sources.RecoveryPoint | None, now: datetime) -> str:
    if point is None:
        return "no recovery point (Caretaker, AWS Backup or DLM)"
    age = (now - point.created).total_seconds() / 3600
    return f"newest recovery point {iso(point.created)} ({point.source}: {point.point_id}), {age:.1f} hours old"


def inventories(run: Run) -> list[sources.Inventory]:
    """The families' resources and recovery points; a family that cannot be listed is one `failed` record."""
    wanted, families = _wanted(run.settings), set(run.settings["resource_families"])
    keys = [str(run.settings["backup_tag_key"]), CRITICAL_TAG]

    def failed(resource_id: str, reason: str) -> None:
        run.state.outcome(run.state.plan(resource_id, ACTION, "check its recovery points", dry_run=run.dry_run),
                          "failed", reason)

    readers: dict[str, Callable[[], sources.Inventory]] = {
        "ebs": lambda: sources.ebs(run.clients("ec2"), wanted, keys, _ec2_arn_prefix(run)),
        "rds": lambda: sources.rds(run.clients("rds"), wanted),
        "dynamodb": lambda: sources.dynamodb(run.clients("dynamodb"), wanted, failed),
        "efs": lambda: sources.efs(run.clients("efs"), wanted),
    }
    found: list[sources.Inventory] = []
    for family in sources.FAMILIES:
        if family not in families:
            continue
        try:
            found.append(readers[family]())
        except (ClientError, BotoCoreError) as exc:
            failed(f"{family}:*", f"the {family} resources could not be listed: {exc}")
    return found


def _ec2_arn_prefix(run: Run) -> str:
    caller = str(run.clients("sts").get_caller_identity()["Arn"])
    partition, account = caller.split(":")[1], caller.split(":")[4]
    return f"arn:{partition}:ec2:{run.clients.region}:{account}"


def evaluate(run: Run, inventory: sources.Inventory, now: datetime) -> tuple[list[Finding], Counter[str]]:
    """The findings of one family; `covered_by` counts the covered resources per source."""
    findings: list[Finding] = []
    covered_by: Counter[str] = Counter()
    grace = timedelta(hours=int(run.settings["grace_hours"]))
    for resource in sorted(inventory.resources, key=lambda r: r.resource_id):
        interval, why = interval_of(run.settings, resource.tags)
        since = now - interval - grace
        newest = inventory.newest.get(resource.resource_id)
        backup_error = ""
        if newest is None or newest.created < since:
            try:
                from_backup = sources.aws_backup_newest(run.clients("backup"), resource.arn)
            except (ClientError, BotoCoreError) as exc:
                backup_error, from_backup = str(exc), None
            if from_backup is not None and (newest is None or from_backup.created > newest.created):
                newest = from_backup
        expected = (f"a recovery point newer than {iso(since)} ({why}: every "
                    f"{interval.total_seconds() / 3600:g} h + {grace.total_seconds() / 3600:g} h grace)")
        if newest is not None and newest.created >= since:
            covered_by[newest.source] += 1
            continue
        errors = [e for e in (inventory.points_error, backup_error) if e]
        finding = Finding(resource, expected, _describe(newest, now))
        if errors:  # it may be covered where we could not look: a failure to check, not a finding
            run.state.outcome(run.state.plan(resource.resource_id, ACTION, expected, dry_run=run.dry_run,
                                             details=finding.as_dict()),
                              "failed", f"recovery points could not be read: {'; '.join(errors)}")
            continue
        run.skip(resource.resource_id, ACTION, f"no recovery point newer than {iso(since)}: {finding.found}",
                 finding.as_dict())
        findings.append(finding)
    return findings, covered_by


@entrypoint(SPEC)
def handler(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
    """Find the tagged or critical resources without a recent recovery point; record, notify, publish a metric."""
    now = run.clock()
    findings: list[Finding] = []
    covered_by: Counter[str] = Counter()
    checked = 0
    for inventory in inventories(run):
        checked += len(inventory.resources)
        family_findings, family_covered = evaluate(run, inventory, now)
        findings += family_findings
        covered_by += family_covered
    publish_counts(NAME, {METRIC: len(findings)})
    notified = False
    if findings and not run.dry_run:
        listed = [f.as_dict() for f in findings[:LIST_LIMIT]]
        notified = run.notify(
            f"Caretaker {NAME}: {len(findings)} resource(s) without a recent backup",
            f"{len(findings)} of {checked} resources that must be backed up have no recent recovery point: "
            + ", ".join(f.resource.resource_id for f in findings[:10]) + (" ..." if len(findings) > 10 else ""),
            {"uncovered_count": len(findings), "checked": checked, "covered_by": dict(covered_by),
             "uncovered": listed, "listed": len(listed)})
    return {"checked": checked, "uncovered": len(findings), "covered_by": dict(covered_by), "notified": notified}
