"""dynamodb-backups: on-demand backups of tagged tables, retention on its own backups (by name prefix and the
table AWS records), protect, dry-run, one failing table, continuation."""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3

from automations.core.spec import CONTINUATION_MARGIN
from automations.scheduled.dynamodb_backups import handler
from tests.automations.conftest import REGION, Clock, LambdaContext
from tests.automations.core.test_continuation_support import DrainingContext, drive
from tests.automations.scheduled.backup_harness import (
    BACKUP,
    actions,
    invoke,
    outcomes,
    summary,
    table,
)
from tests.declared_calls import Guard
from tests.recording import RecordingClients


def ddb() -> Any:
    return boto3.client("dynamodb", region_name=REGION)


def backups(table_name: str | None = None) -> list[dict[str, Any]]:
    kwargs = {"TableName": table_name} if table_name else {}
    return list(ddb().list_backups(**kwargs)["BackupSummaries"])


def run(clock: Clock, context: LambdaContext, clients: RecordingClients | None = None,
        **settings: str) -> dict[str, Any]:
    return invoke(handler, clock, context, clients, **settings)


def test_backs_up_tagged_tables_under_a_caretaker_name(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    orders = table("orders", {**BACKUP, "team": "payments"})
    table("scratch", {"team": "payments"})

    result = run(backup_clock, lambda_context)

    assert result["status"] == "ok" and result["backups_created"] == 1
    (backup,) = backups()
    assert backup["TableArn"] == orders
    assert backup["BackupName"] == f"caretaker-orders-{backup_clock.now:%Y%m%d%H%M%S}"
    assert outcomes(state_table, result["run_id"]) == {orders: ["planned", "succeeded"]}
    done = next(i for i in actions(state_table, result["run_id"]) if i["outcome"] == "succeeded")
    assert done["details"]["backup_arn"] == backup["BackupArn"]


def table_with_old_backup(clock: Clock, name: str, days: int) -> str:
    """An opted-in table with one backup of Caretaker's name (`caretaker-<name>-old`) taken `days` ago."""
    arn = table(name, BACKUP)
    clock.advance(days=-days)
    ddb().create_backup(TableName=name, BackupName=f"caretaker-{name}-old")
    clock.advance(days=days)
    return arn


def test_protected_table_is_not_backed_up_and_its_backups_are_kept(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    vault = table_with_old_backup(backup_clock, "vault", days=60)
    ddb().tag_resource(ResourceArn=vault, Tags=[{"Key": "caretaker:protect", "Value": "true"}])

    result = run(backup_clock, lambda_context)

    assert [b["BackupName"] for b in backups()] == ["caretaker-vault-old"]
    reasons = {(i["action"], i["outcome"]): i["reason"] for i in actions(state_table, result["run_id"])}
    assert reasons[("create-backup", "skipped")] == "protected: tagged caretaker:protect=true"
    assert reasons[("delete-backup", "skipped")].startswith("the table is protected")


def test_retention_prunes_only_its_own_backups_per_table(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext, declared_calls: Guard) -> None:
    orders = table("orders", BACKUP)
    table("billing", BACKUP)
    backup_clock.advance(days=-10)
    ddb().create_backup(TableName="orders", BackupName="before-the-migration")  # a human's: never touched
    for day in range(3):
        backup_clock.advance(days=1)
        ddb().create_backup(TableName="orders", BackupName=f"caretaker-orders-day{day}")
    backup_clock.advance(days=7)

    clients = RecordingClients()
    result = run(backup_clock, lambda_context, clients, retention_count="2")

    assert declared_calls.undeclared() == {}  # every AWS call it made is declared
    left = {b["BackupName"] for b in backups("orders")}
    assert "before-the-migration" in left and "caretaker-orders-day2" in left
    assert not {"caretaker-orders-day0", "caretaker-orders-day1"} & left
    assert result["backups_deleted"] == 2
    deleted = [i for i in actions(state_table, result["run_id"]) if i["action"] == "delete-backup"
               and i["outcome"] == "succeeded"]
    assert {i["details"]["table_id"] for i in deleted} == {orders}
    assert len(backups("billing")) == 1


def test_a_backup_named_after_another_table_does_not_push_that_tables_backups_out(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    table("orders", BACKUP)
    table("attacker")
    run(backup_clock, lambda_context)
    for n in range(3):
        backup_clock.advance(hours=13)
        ddb().create_backup(TableName="attacker", BackupName=f"caretaker-orders-{n}")
    run(backup_clock, lambda_context, retention_count="2")
    assert len(backups("orders")) == 2  # both real ones kept: the forged names count for table attacker


def test_max_age_prunes_old_backups_and_a_repeated_run_does_not_back_up_twice(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    orders = table_with_old_backup(backup_clock, "orders", days=40)
    first = run(backup_clock, lambda_context)
    made = f"caretaker-orders-{backup_clock.now:%Y%m%d%H%M%S}"
    backup_clock.advance(hours=1)
    second = run(backup_clock, lambda_context)
    assert [b["BackupName"] for b in backups()] == [made]
    assert first["backups_deleted"] == 1 and second["backups_created"] == 0
    assert outcomes(state_table, second["run_id"]) == {orders: ["skipped"]}


def test_dry_run_records_the_plan_and_changes_nothing(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    orders = table("orders", BACKUP)
    backup_clock.advance(days=-40)
    old = ddb().create_backup(TableName="orders", BackupName="caretaker-orders-old")["BackupDetails"]["BackupArn"]
    backup_clock.advance(days=40)

    result = run(backup_clock, lambda_context, mode="audit")

    assert [b["BackupArn"] for b in backups()] == [old]
    got = {(i["resource_id"], i["action"], i["outcome"], i["dry_run"]) for i in actions(state_table, result["run_id"])}
    assert got == {(orders, "create-backup", "planned", True), (old, "delete-backup", "planned", True)}


def run_failing_on_one_table(clock: Clock, context: LambdaContext, name: str, operation: str,
                             parameter: str) -> tuple[str, str, dict[str, Any]]:
    """Tables `name` and "orders" (both opted in), and a run in which `operation` fails on `name` alone (its
    `parameter` names the table)."""
    bad = table(name, BACKUP)
    orders = table("orders", BACKUP)
    clients = RecordingClients()
    clients.fail("dynamodb", operation, when=lambda body: body.get(parameter) == bad)
    return bad, orders, run(clock, context, clients)


def test_access_denied_on_one_table_does_not_stop_the_others(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    denied, orders, result = run_failing_on_one_table(backup_clock, lambda_context, "denied", "CreateBackup",
                                                      "TableName")

    assert result["status"] == "partial"
    assert outcomes(state_table, result["run_id"]) == {denied: ["failed", "planned"], orders: ["planned", "succeeded"]}
    assert [b["TableArn"] for b in backups()] == [orders]
    assert summary(state_table, result["run_id"])["failed"] == 1


def test_unreadable_tags_of_one_table_are_a_failure_of_that_table_only(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    _, orders, result = run_failing_on_one_table(backup_clock, lambda_context, "hidden", "ListTagsOfResource",
                                                 "ResourceArn")

    failed = [i for i in actions(state_table, result["run_id"]) if i["outcome"] == "failed"]
    assert [(i["resource_id"], i["reason"][:12]) for i in failed] == [("hidden", "AccessDenied")]
    assert [b["TableArn"] for b in backups()] == [orders]


def test_backup_and_prune_continue_across_invocations_and_act_once(state_table: str, backup_clock: Clock) -> None:
    names = [f"table{n:02d}" for n in range(30)]
    arns = [table(name, BACKUP) for name in names]
    backup_clock.advance(days=-50)
    old = [ddb().create_backup(TableName=n, BackupName=f"caretaker-{n}-old")["BackupDetails"]["BackupArn"]
           for n in names]
    backup_clock.advance(days=50)
    margin = int(CONTINUATION_MARGIN.default) * 1000

    driven = drive(handler, backup_clock, lambda: DrainingContext(remaining_ms=margin + 1_500, step_ms=1_000))

    assert len(driven.results) > 2 and driven.results[-1]["status"] == "ok"
    assert Counter(b["TableName"] for b in backups()) == Counter(names)
    per = Counter((i["resource_id"], i["action"], i["outcome"]) for i in actions(state_table, driven.run_id))
    assert set(per.values()) == {1}
    assert {(a, "create-backup", o) for a in arns for o in ("planned", "succeeded")} | \
           {(b, "delete-backup", o) for b in old for o in ("planned", "succeeded")} == set(per)
