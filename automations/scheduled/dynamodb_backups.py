"""Scheduled on-demand backups of tagged DynamoDB tables, with retention on the backups this automation made.

DynamoDB backups carry no tags, so this automation recognises its own by what AWS records on them: a backup of
type `USER` (not `SYSTEM`, not `AWS_BACKUP`) whose name starts with `caretaker-` (it names every backup
`caretaker-<table>-<UTC time>`). Retention counts per table as AWS records it on the backup (its `TableArn`), not
by the name, so a backup named after another table cannot push that table's backups out. Someone who names a
backup `caretaker-...` hands it to this retention: that needs `dynamodb:CreateBackup` on the table anyway, and the
backup is a real backup of that table, made when AWS says. Cross-region copies are not a DynamoDB on-demand
backup feature (AWS Backup copies them): left out, see docs/backups.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from automations.core.errors import delete_or_gone, error_code
from automations.core.executor import Act
from automations.core.registry import register
from automations.core.runtime import Run, describe_error, entrypoint
from automations.core.selection import is_protected, tag_map
from automations.core.spec import MAX_CONCURRENCY, FunctionSpec, Permission, Rate
from automations.scheduled import backup_phase
from automations.scheduled.backup_settings import (
    BACKUP_TAG_SETTINGS,
    MIN_BACKUP_INTERVAL,
    RETENTION_SETTINGS,
    retention_policy,
    selection_reason,
)

NAME = "dynamodb-backups"
#: Every backup this automation makes is named `caretaker-<table>-<UTC time>`.
PREFIX = "caretaker-"
_TABLES = "arn:${AWS::Partition}:dynamodb:*:${AWS::AccountId}:table/*"
_NAME_LIMIT = 255  # BackupName's length limit
_GONE = ("BackupNotFoundException",)

SPEC = register(FunctionSpec(
    name=NAME,
    description="Takes on-demand backups of tagged DynamoDB tables and prunes the backups it made past retention.",
    trigger=Rate(1, "day"),
    default_mode="enforce",  # taking backups only adds protection; pruning touches only its own
    timeout=900,
    memory=512,
    continues=True,
    permissions=(
        Permission(("dynamodb:ListTables", "dynamodb:ListBackups"), why="selection; no resource-level scoping"),
        Permission(("dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"), (_TABLES,),
                   why="the table's ARN, status and tags"),
        Permission(("dynamodb:CreateBackup",), (_TABLES,)),
        Permission(("dynamodb:DeleteBackup",), (f"{_TABLES}/backup/*",),
                   why="only backups named caretaker-* of type USER (backups carry no tags to condition on)"),
    ),
    settings=(*BACKUP_TAG_SETTINGS, *RETENTION_SETTINGS, MIN_BACKUP_INTERVAL, MAX_CONCURRENCY),
))

#: The phases of a run, in order.
PHASES = ("backup", "prune")


@dataclass(frozen=True)
class Table:
    name: str
    arn: str
    tags: dict[str, str]
    skip: str  # "" = back it up


@dataclass(frozen=True)
class Backup:
    arn: str
    name: str
    table_arn: str
    created: datetime
    status: str
    backup_type: str

    @property
    def ours(self) -> bool:
        return self.backup_type == "USER" and self.name.startswith(PREFIX)


@entrypoint(SPEC)
def handler(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
    """Back up the tagged tables, then prune this automation's backups by retention."""
    now = run.clock()
    ddb = run.clients("dynamodb")
    created = 0
    tables: list[Table] = []
    if not run.phase_done("backup") or not run.phase_done("prune"):
        tables = select_tables(run, ddb)
    if not run.phase_done("backup"):
        created = take_backups(run, ddb, tables, now)
    deleted = prune(run, ddb, {t.arn for t in tables if is_protected(t.tags)}, now)
    return {"backups_created": created, "backups_deleted": deleted}


@dataclass(frozen=True)
class TaggedTable:
    name: str
    arn: str
    tags: dict[str, str]
    status: str


def describe_tagged(ddb: Any, name: str) -> TaggedTable | None:
    """The table's ARN, tags and status (DescribeTable, ListTagsOfResource); None when it is gone since it was
    listed. Other AWS errors propagate (their `response` names the table: `TableName`/`ResourceArn`)."""
    try:
        described = ddb.describe_table(TableName=name)["Table"]
        arn = str(described["TableArn"])
        tags = tag_map(t for page in ddb.get_paginator("list_tags_of_resource").paginate(ResourceArn=arn)
                       for t in page.get("Tags", []))
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return TaggedTable(name, arn, tags, str(described.get("TableStatus", "")))


def select_tables(run: Run, ddb: Any) -> list[Table]:
    """Tables carrying the backup tag. A table whose tags cannot be read is recorded `failed` and left out."""
    found: list[Table] = []
    for name in [n for page in ddb.get_paginator("list_tables").paginate() for n in page.get("TableNames", [])]:
        try:
            table = describe_tagged(ddb, name)
        except ClientError as exc:
            run.state.outcome(run.state.plan(name, "create-backup", "read the table's tags", dry_run=run.dry_run),
                              "failed", describe_error(exc))
            continue
        if table is None:
            continue
        why = selection_reason(run.settings, table.tags)
        if why is None:
            continue
        if not why and table.status not in ("ACTIVE", "UPDATING"):
            why = f"table status is {table.status!r}"
        found.append(Table(name, table.arn, table.tags, why))
    return found


def list_backups(ddb: Any) -> list[Backup]:
    """Every on-demand backup of the region that this automation made (type USER, named caretaker-*)."""
    found: list[Backup] = []
    for page in ddb.get_paginator("list_backups").paginate(BackupType="USER"):
        for raw in page.get("BackupSummaries", []):
            backup = Backup(raw["BackupArn"], str(raw.get("BackupName", "")), str(raw.get("TableArn", "")),
                            raw["BackupCreationDateTime"], str(raw.get("BackupStatus", "")),
                            str(raw.get("BackupType", "")))
            if backup.ours:
                found.append(backup)
    return found


def backup_name(table: str, now: datetime) -> str:
    stamp = f"-{now:%Y%m%d%H%M%S}"
    return PREFIX + table[:_NAME_LIMIT - len(PREFIX) - len(stamp)] + stamp


def take_backups(run: Run, ddb: Any, tables: list[Table], now: datetime) -> int:
    """One work item per table (its ARN): skipped with the reason, or one CreateBackup."""
    since = backup_phase.interval_start(run.settings, now)
    recent: dict[str, Backup] = {}
    if since is not None:
        for backup in list_backups(ddb):
            if backup.created >= since and (backup.table_arn not in recent
                                            or backup.created > recent[backup.table_arn].created):
                recent[backup.table_arn] = backup

    def one(table: Table) -> Act[Any] | None:
        last = recent.get(table.arn)
        why = table.skip or (backup_phase.too_recent("backed up", last.created, last.name) if last is not None else "")
        if why:
            run.skip(table.arn, "create-backup", why)
            return None
        name = backup_name(table.name, now)
        return Act.one(table.arn, f"tagged {run.settings['backup_tag_key']}", _create(ddb, table.arn, name),
                       details={"backup_name": name},
                       result_details=lambda r: {"backup_arn": r["BackupDetails"]["BackupArn"]})

    return len(backup_phase.act_phase(run, "backup", "create-backup", tables, lambda t: t.arn, one))


def _create(ddb: Any, table_arn: str, name: str) -> Callable[[], Any]:
    return lambda: ddb.create_backup(TableName=table_arn, BackupName=name)


def prune(run: Run, ddb: Any, protected_tables: set[str], now: datetime) -> int:
    """Retention over this automation's backups, per table; a protected table's backups are all kept."""
    if run.phase_done("prune"):
        return 0
    kept = "the table is protected (caretaker:protect=true): its backups are kept"
    candidates = [backup_phase.Candidate(b.arn, b.table_arn, b.created, kept if b.table_arn in protected_tables else "",
                                         ready=b.status == "AVAILABLE") for b in list_backups(ddb)]
    return backup_phase.prune_phase(
        run, "prune", "delete-backup", candidates, retention_policy(run.settings), now,
        lambda arn: delete_or_gone(partial(ddb.delete_backup, BackupArn=arn), _GONE), source_label="table")
