"""rds-snapshots: instance and cluster snapshots with their tags, retention on its own snapshots only, copies to a
second region (with the target region's KMS key), protect, dry-run, one failing database, continuation."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from automations.core.spec import CONTINUATION_MARGIN
from automations.scheduled.rds_snapshots import handler
from tests.automations.conftest import REGION, Clock, LambdaContext
from tests.automations.core.test_continuation_support import DrainingContext, drive
from tests.automations.scheduled.backup_harness import (
    BACKUP,
    OTHER_REGION,
    actions,
    db_cluster,
    db_instance,
    invoke,
    kms_key,
    outcomes,
    rds,
    summary,
    tag_dict,
    tags,
)
from tests.declared_calls import Guard
from tests.recording import RecordingClients


def instance_snapshots(region: str = REGION) -> list[dict[str, Any]]:
    return list(rds(region).describe_db_snapshots(SnapshotType="manual")["DBSnapshots"])


def cluster_snapshots(region: str = REGION) -> list[dict[str, Any]]:
    return list(rds(region).describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"])


def run(clock: Clock, context: LambdaContext, clients: RecordingClients | None = None,
        **settings: str) -> dict[str, Any]:
    return invoke(handler, clock, context, clients, **settings)


def test_snapshots_tagged_instances_and_clusters_with_their_tags(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    db = db_instance("orders", {**BACKUP, "team": "payments", "aws:cloudformation:stack-name": "x"})
    cluster = db_cluster("ledger", {**BACKUP, "team": "finance"})
    db_instance("scratch", {"team": "payments"})  # no backup tag: ignored

    result = run(backup_clock, lambda_context)

    assert result["status"] == "ok" and result["snapshots_created"] == 2
    (snapshot,) = instance_snapshots()
    assert snapshot["DBInstanceIdentifier"] == "orders"
    assert snapshot["DBSnapshotIdentifier"] == f"caretaker-orders-{backup_clock.now:%Y%m%d%H%M%S}"
    got = tag_dict(snapshot["TagList"])
    assert got["team"] == "payments" and "aws:cloudformation:stack-name" not in got
    assert got["caretaker:automation"] == "rds-snapshots" and got["caretaker:run-id"] == result["run_id"]
    (cluster_snapshot,) = cluster_snapshots()
    assert cluster_snapshot["DBClusterIdentifier"] == "ledger"
    assert tag_dict(cluster_snapshot["TagList"])["team"] == "finance"
    assert outcomes(state_table, result["run_id"]) == {db: ["planned", "succeeded"],
                                                      cluster: ["planned", "succeeded"]}
    done = {i["resource_id"]: i for i in actions(state_table, result["run_id"]) if i["outcome"] == "succeeded"}
    assert done[db]["details"]["snapshot_arn"] == snapshot["DBSnapshotArn"]


def test_protected_and_unavailable_databases_are_skipped_with_the_reason(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    protected = db_instance("vault", {**BACKUP, "caretaker:protect": "true"})
    stopped = db_instance("paused", BACKUP)
    rds().stop_db_instance(DBInstanceIdentifier="paused")

    result = run(backup_clock, lambda_context)

    assert {s["DBInstanceIdentifier"] for s in instance_snapshots()} == {"paused"}  # a stopped one can be
    reasons = {i["resource_id"]: i["reason"] for i in actions(state_table, result["run_id"])}
    assert reasons[protected] == "protected: tagged caretaker:protect=true"
    assert outcomes(state_table, result["run_id"])[protected] == ["skipped"]
    assert outcomes(state_table, result["run_id"])[stopped] == ["planned", "succeeded"]


def test_a_repeated_run_does_not_snapshot_twice_within_the_interval(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    db = db_instance("orders", BACKUP)
    run(backup_clock, lambda_context)
    backup_clock.advance(hours=1)
    second = run(backup_clock, lambda_context)
    assert len(instance_snapshots()) == 1 and second["snapshots_created"] == 0
    assert outcomes(state_table, second["run_id"]) == {db: ["skipped"]}


def test_retention_prunes_its_own_snapshots_per_database_and_nothing_else(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    db_instance("orders", BACKUP)
    db_instance("billing", BACKUP)
    client = rds()
    ours = {"caretaker:automation": "rds-snapshots"}
    backup_clock.advance(days=-10)
    client.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier="manual-by-a-human")
    client.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier="tagged-but-not-named",
                              Tags=tags(ours))
    client.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier="caretaker-orders-protected",
                              Tags=tags({**ours, "caretaker:protect": "true"}))
    for day in range(3):
        backup_clock.advance(days=1)
        client.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier=f"caretaker-orders-old{day}",
                                  Tags=tags(ours))
    backup_clock.advance(days=7)

    result = run(backup_clock, lambda_context, retention_count="2")

    left = {s["DBSnapshotIdentifier"] for s in instance_snapshots()}
    # the newest 2 of orders (old2 + today's), billing's first; the others of ours pruned
    assert "caretaker-orders-old2" in left and not {"caretaker-orders-old0", "caretaker-orders-old1"} & left
    assert {"manual-by-a-human", "tagged-but-not-named", "caretaker-orders-protected"} <= left
    assert result["snapshots_deleted"] == 2
    by_reason = {i["resource_id"].rsplit(":", 1)[1]: i["reason"] for i in actions(state_table, result["run_id"])
                 if i["action"] == "delete-snapshot"}
    assert by_reason["tagged-but-not-named"].startswith("tagged caretaker:automation=rds-snapshots but not named")
    assert by_reason["caretaker-orders-protected"] == "protected: tagged caretaker:protect=true"
    assert "manual-by-a-human" not in by_reason
    assert by_reason["caretaker-orders-old0"].startswith("beyond the newest 2")


def test_retention_counts_by_the_database_aws_records_not_a_forged_tag(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    """Snapshots of another database that carry this automation's tags do not push the real ones out."""
    db_instance("orders", BACKUP)
    db_instance("attacker")
    client = rds()
    run(backup_clock, lambda_context)  # the real snapshot of orders
    for n in range(3):
        backup_clock.advance(hours=13)
        client.create_db_snapshot(DBInstanceIdentifier="attacker", DBSnapshotIdentifier=f"caretaker-orders-fake{n}",
                                  Tags=tags({"caretaker:automation": "rds-snapshots",
                                             "caretaker:db-id": "orders"}))
    result = run(backup_clock, lambda_context, retention_count="2")
    left = Counter(s["DBInstanceIdentifier"] for s in instance_snapshots())
    assert left["orders"] == 2  # the first real one and this run's: neither pruned by the fakes
    assert result["status"] == "ok"


def test_copies_to_a_second_region_under_its_key_and_prunes_the_copies(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext, declared_calls: Guard) -> None:
    source_key, target_key = kms_key(), kms_key(OTHER_REGION)
    db_instance("orders", {**BACKUP, "team": "payments"}, encrypted_with=source_key)
    db_cluster("ledger", BACKUP)

    clients = RecordingClients()
    first = run(backup_clock, lambda_context, clients, copy_region=OTHER_REGION, copy_kms_key_id=target_key)

    (copy,) = instance_snapshots(OTHER_REGION)
    (source,) = instance_snapshots()
    assert copy["KmsKeyId"] == target_key and copy["Encrypted"]
    copy_tags = tag_dict(copy["TagList"])
    assert copy_tags["caretaker:source-snapshot"] == source["DBSnapshotArn"]
    assert copy_tags["caretaker:source-region"] == REGION and copy_tags["team"] == "payments"
    assert len(cluster_snapshots(OTHER_REGION)) == 1 and first["snapshots_copied"] == 2
    copied = [i for i in actions(state_table, first["run_id"]) if i["action"] == "copy-snapshot"
              and i["outcome"] == "succeeded"]
    assert {i["details"]["target_region"] for i in copied} == {OTHER_REGION}
    assert declared_calls.undeclared() == {}  # every AWS call it made is declared

    backup_clock.advance(days=1)
    second = run(backup_clock, lambda_context, copy_region=OTHER_REGION, copy_kms_key_id=target_key)
    assert second["snapshots_copied"] == 2  # only the new ones
    backup_clock.advance(days=40)
    third = run(backup_clock, lambda_context, copy_region=OTHER_REGION, copy_kms_key_id=target_key)
    # the copies of the two expired days are pruned in the target region, by the same retention
    assert third["copies_deleted"] == 4
    assert len(instance_snapshots(OTHER_REGION)) == 1 and len(cluster_snapshots(OTHER_REGION)) == 1


def test_encrypted_source_without_a_copy_key_is_a_recorded_failure_not_a_crash(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    db_instance("orders", BACKUP, encrypted_with=kms_key())
    db_instance("plain", BACKUP)

    result = run(backup_clock, lambda_context, copy_region=OTHER_REGION)

    assert result["status"] == "partial"
    failed = [i for i in actions(state_table, result["run_id"]) if i["outcome"] == "failed"]
    assert len(failed) == 1 and failed[0]["action"] == "copy-snapshot"
    assert "set copy_kms_key_id to a key in us-west-2" in failed[0]["reason"]
    assert [s["DBInstanceIdentifier"] for s in instance_snapshots(OTHER_REGION)] == ["plain"]


def test_dry_run_records_the_plan_and_changes_nothing(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    db = db_instance("orders", BACKUP)
    backup_clock.advance(days=-50)
    rds().create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier="caretaker-orders-old",
                             Tags=tags({"caretaker:automation": "rds-snapshots"}))
    backup_clock.advance(days=50)

    result = run(backup_clock, lambda_context, mode="audit", copy_region=OTHER_REGION)

    assert [s["DBSnapshotIdentifier"] for s in instance_snapshots()] == ["caretaker-orders-old"]
    assert instance_snapshots(OTHER_REGION) == []
    records = actions(state_table, result["run_id"])
    assert {(i["action"], i["outcome"], i["dry_run"]) for i in records} == {
        ("create-snapshot", "planned", True), ("delete-snapshot", "planned", True),
        ("copy-snapshot", "planned", True)}
    assert db in {i["resource_id"] for i in records}


def test_access_denied_on_one_database_does_not_stop_the_others(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    bad = db_instance("denied", BACKUP)
    good = db_instance("orders", BACKUP)
    cluster = db_cluster("ledger", BACKUP)
    clients = RecordingClients()
    clients.fail("rds", "CreateDBSnapshot", when=lambda body: body.get("DBInstanceIdentifier") == "denied")

    result = run(backup_clock, lambda_context, clients)

    assert result["status"] == "partial"
    got = outcomes(state_table, result["run_id"])
    assert got == {bad: ["failed", "planned"], good: ["planned", "succeeded"], cluster: ["planned", "succeeded"]}
    failed = next(i for i in actions(state_table, result["run_id"]) if i["outcome"] == "failed")
    assert failed["reason"].startswith("AccessDenied")
    assert summary(state_table, result["run_id"])["failed"] == 1


def test_snapshot_already_gone_counts_as_deleted(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    db_instance("orders", BACKUP)
    backup_clock.advance(days=-50)
    rds().create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier="caretaker-orders-old",
                             Tags=tags({"caretaker:automation": "rds-snapshots"}))
    backup_clock.advance(days=50)
    clients = RecordingClients()
    clients.fail("rds", "DeleteDBSnapshot", code="DBSnapshotNotFound")
    result = run(backup_clock, lambda_context, clients)
    assert result["status"] == "ok" and result["snapshots_deleted"] == 1


@pytest.mark.parametrize("count", [30])
def test_snapshot_and_prune_continue_across_invocations_and_act_once(
        state_table: str, backup_clock: Clock, count: int) -> None:
    names = [f"db{n:02d}" for n in range(count)]
    arns = [db_instance(name, BACKUP) for name in names]
    backup_clock.advance(days=-50)
    old = [rds().create_db_snapshot(DBInstanceIdentifier=name, DBSnapshotIdentifier=f"caretaker-{name}-old",
                                    Tags=tags({"caretaker:automation": "rds-snapshots"}))["DBSnapshot"]["DBSnapshotArn"]
           for name in names]
    backup_clock.advance(days=50)
    margin = int(CONTINUATION_MARGIN.default) * 1000

    driven = drive(handler, backup_clock, lambda: DrainingContext(remaining_ms=margin + 1_500, step_ms=1_000))

    assert len(driven.results) > 2 and driven.results[-1]["status"] == "ok"
    assert {r.get("phase") for r in driven.results[:-1]} >= {"snapshot", "prune"}
    snapshots = instance_snapshots()
    assert Counter(s["DBInstanceIdentifier"] for s in snapshots) == Counter(names)  # one new each, old pruned
    per = Counter((i["resource_id"], i["action"], i["outcome"]) for i in actions(state_table, driven.run_id))
    assert set(per.values()) == {1}
    assert {(a, "create-snapshot", o) for a in arns for o in ("planned", "succeeded")} | \
           {(a, "delete-snapshot", o) for a in old for o in ("planned", "succeeded")} == set(per)
