"""backup-coverage: each kind of gap (no recovery point, too old) and each kind of cover (Caretaker, AWS Backup,
DLM), per family; records, notification and metric; read-only; AccessDenied on one resource; moto's AWS Backup gap.

moto 5.2.5 does not implement `ListRecoveryPointsByResource` (it answers 404 "Not yet implemented"), so the tests
answer it themselves (`FakeAwsBackup`, `RecordingClients.answer`) and one test runs into the gap on purpose.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from automations.core.observability import METRICS_NAMESPACE, publish_counts
from automations.scheduled import backup_coverage as coverage
from automations.scheduled.backup_coverage import handler
from tests.automations.conftest import REGION, Alerts, Clock, LambdaContext
from tests.automations.scheduled.backup_harness import (
    BACKUP,
    actions,
    db_cluster,
    db_instance,
    invoke,
    outcomes,
    rds,
    summary,
    table,
    tags,
)
from tests.declared_calls import Guard
from tests.notifications import message_body
from tests.recording import RecordingClients

CRITICAL = {"caretaker:critical": "true"}


class FakeAwsBackup(RecordingClients):
    """RecordingClients whose AWS Backup answers ListRecoveryPointsByResource from `points` (ARN -> creation times),
    and refuses it for the ARNs in `denied`."""

    def __init__(self) -> None:
        super().__init__()
        self.points: dict[str, list[datetime]] = {}
        self.denied: set[str] = set()
        self.fail("backup", "ListRecoveryPointsByResource", "AccessDeniedException", "denied by a test", status=403,
                  when=lambda params: params["ResourceArn"] in self.denied)
        self.answer("backup", "ListRecoveryPointsByResource", self._recovery_points)

    def _recovery_points(self, params: dict[str, Any]) -> dict[str, Any]:
        points = [{"RecoveryPointArn": f"arn:aws:backup:{REGION}:123456789012:recovery-point:{n}",
                   "CreationDate": at, "Status": "COMPLETED"}
                  for n, at in enumerate(self.points.get(params["ResourceArn"], []))]
        return {"RecoveryPoints": points}


def ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def volume(tag_map: dict[str, str]) -> str:
    spec = [{"ResourceType": "volume", "Tags": tags(tag_map)}] if tag_map else []
    return str(ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=1, TagSpecifications=spec)["VolumeId"])


def snapshot(volume_id: str, tag_map: dict[str, str]) -> str:
    spec = [{"ResourceType": "snapshot", "Tags": tags(tag_map)}] if tag_map else []
    return str(ec2().create_snapshot(VolumeId=volume_id, TagSpecifications=spec)["SnapshotId"])


def volume_arn(volume_id: str) -> str:
    return f"arn:aws:ec2:{REGION}:123456789012:volume/{volume_id}"


def run(clock: Clock, context: LambdaContext, clients: RecordingClients | None = None,
        **settings: str) -> dict[str, Any]:
    return invoke(handler, clock, context, clients or FakeAwsBackup(), **settings)


def findings(state_table: str, run_id: str) -> dict[str, dict[str, Any]]:
    return {i["resource_id"]: i for i in actions(state_table, run_id) if i["outcome"] == "skipped"}


@pytest.fixture
def metrics(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, int]]]:
    """What the handler publishes through `publish_counts` (its EMF form is tested below, on its own)."""
    published: list[tuple[str, dict[str, int]]] = []
    monkeypatch.setattr(coverage, "publish_counts", lambda automation, counts: published.append((automation, counts)))
    return published


def test_the_uncovered_count_is_an_emf_metric_of_the_automation(capsys: pytest.CaptureFixture[str]) -> None:
    publish_counts("backup-coverage", {"UncoveredResources": 3})
    (doc,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == METRICS_NAMESPACE and doc["automation"] == "backup-coverage"
    assert [m["Name"] for m in directive["Metrics"]] == ["UncoveredResources"] and doc["UncoveredResources"] == [3.0]


def test_each_kind_of_ebs_gap_and_cover(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext, alerts: Alerts,
        metrics: list[tuple[str, dict[str, int]]]) -> None:
    never = volume(BACKUP)
    stale = volume(BACKUP)
    by_caretaker = volume(BACKUP)
    by_dlm = volume(CRITICAL)
    by_aws_backup = volume(CRITICAL)
    by_a_human = volume(CRITICAL)
    weekly = volume({"caretaker:backup": "weekly"})
    volume({"team": "x"})  # neither tag: not checked
    backup_clock.advance(days=-3)
    snapshot(stale, {"caretaker:automation": "ebs-snapshots"})
    snapshot(weekly, {"caretaker:automation": "ebs-snapshots"})  # 3 days old: within a week
    backup_clock.advance(days=3, hours=-2)
    snapshot(by_caretaker, {"caretaker:automation": "ebs-snapshots"})
    snapshot(by_dlm, {"aws:dlm:lifecycle-policy-id": "policy-0123"})
    snapshot(by_a_human, {"Name": "before upgrade"})  # not a policy: does not count
    backup_clock.advance(hours=2)
    clients = FakeAwsBackup()
    clients.points[volume_arn(by_aws_backup)] = [backup_clock.now - timedelta(hours=5)]

    result = run(backup_clock, lambda_context, clients, backup_tag_values="true,daily,weekly")

    assert result["status"] == "ok"
    assert result["covered_by"] == {"caretaker": 2, "dlm": 1, "aws-backup": 1}
    found = findings(state_table, result["run_id"])
    assert set(found) == {never, stale, by_a_human}
    assert found[never]["details"]["found"] == "no recovery point (Caretaker, AWS Backup or DLM)"
    assert found[stale]["details"]["found"].startswith("newest recovery point")
    assert "72.0 hours old" in found[stale]["details"]["found"]
    assert "caretaker:backup=true: every 24 h + 6 h grace" in found[stale]["details"]["expected"]
    assert "caretaker:critical=true" in found[by_a_human]["details"]["expected"]
    assert {i["details"]["resource_type"] for i in found.values()} == {"ebs-volume"}

    (message,) = alerts.messages()
    body = message_body(message["Message"])
    assert body["uncovered_count"] == 3
    assert {u["resource_id"] for u in body["uncovered"]} == {never, stale, by_a_human}
    assert metrics == [("backup-coverage", {"UncoveredResources": 3})]


def test_rds_dynamodb_and_efs_gaps_and_covers(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext, alerts: Alerts,
        declared_calls: Guard) -> None:
    covered_db = db_instance("orders", BACKUP)
    bare_db = db_instance("billing", CRITICAL)
    bare_cluster = db_cluster("ledger", BACKUP)
    covered_table = table("sessions", BACKUP)
    aws_backup_table = table("carts", BACKUP)
    bare_table = table("events", CRITICAL)
    efs = boto3.client("efs", region_name=REGION)
    covered_fs = efs.create_file_system(CreationToken="covered", Tags=tags(CRITICAL))["FileSystemArn"]
    bare_fs = efs.create_file_system(CreationToken="bare", Tags=tags(BACKUP))["FileSystemArn"]
    rds().create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier="caretaker-orders-1",
                             Tags=tags({"caretaker:automation": "rds-snapshots"}))
    rds().create_db_snapshot(DBInstanceIdentifier="billing", DBSnapshotIdentifier="by-hand")  # not counted
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_backup(TableName="sessions", BackupName="caretaker-sessions-1")
    ddb.create_backup(TableName="events", BackupName="someone-elses")  # not counted
    clients = FakeAwsBackup()
    clients.points[covered_fs] = [backup_clock.now - timedelta(hours=1)]
    clients.points[aws_backup_table] = [backup_clock.now - timedelta(hours=3)]

    result = run(backup_clock, lambda_context, clients)

    assert declared_calls.undeclared() == {}  # every AWS call it made is declared
    assert set(findings(state_table, result["run_id"])) == {bare_db, bare_cluster, bare_table, bare_fs}
    assert result["covered_by"] == {"caretaker": 2, "aws-backup": 2}
    types = {i["resource_id"]: i["details"]["resource_type"] for i in findings(state_table, result["run_id"]).values()}
    assert types == {bare_db: "rds-instance", bare_cluster: "rds-cluster", bare_table: "dynamodb-table",
                     bare_fs: "efs-file-system"}
    assert covered_db and covered_table


def test_a_snapshot_of_another_volume_tagged_as_caretakers_does_not_cover(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    victim = volume(BACKUP)
    other = volume({})
    snapshot(other, {"caretaker:automation": "ebs-snapshots", "caretaker:volume-id": victim})
    result = run(backup_clock, lambda_context)
    assert set(findings(state_table, result["run_id"])) == {victim}


def test_coverage_is_read_only(state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    volume(BACKUP)
    db_instance("orders", BACKUP)
    table("events", BACKUP)
    clients = FakeAwsBackup()
    run(backup_clock, lambda_context, clients)
    called = {op for _, op, _ in clients.calls}
    assert called and all(op.startswith(("Describe", "List", "Get", "BatchWrite", "PutItem", "Query", "UpdateItem",
                                         "Publish")) for op in called), called
    assert ec2().describe_snapshots(OwnerIds=["self"])["Snapshots"] == []


def test_access_denied_on_one_resource_is_a_failure_of_that_resource_only(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext, alerts: Alerts) -> None:
    hidden = volume(BACKUP)
    bare = volume(BACKUP)
    clients = FakeAwsBackup()
    clients.denied.add(volume_arn(hidden))

    result = run(backup_clock, lambda_context, clients)

    # nothing "succeeded" in a read-only run, so one failure makes the run's status `failed` (and alerts)
    assert result["status"] == "failed" and result["uncovered"] == 1
    got = outcomes(state_table, result["run_id"])
    assert got == {hidden: ["failed", "planned"], bare: ["skipped"]}
    failed = next(i for i in actions(state_table, result["run_id"]) if i["outcome"] == "failed")
    assert "AccessDeniedException" in failed["reason"]
    assert summary(state_table, result["run_id"])["failed"] == 1


def test_moto_without_aws_backup_fails_only_the_resources_nothing_else_covers(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    covered = volume(BACKUP)
    bare = volume(BACKUP)
    snapshot(covered, {"caretaker:automation": "ebs-snapshots"})

    result = run(backup_clock, lambda_context, RecordingClients())  # moto's own 404 "Not yet implemented"

    assert outcomes(state_table, result["run_id"]) == {bare: ["failed", "planned"]}
    assert result["covered_by"] == {"caretaker": 1}


def test_dry_run_records_findings_and_sends_nothing(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext, alerts: Alerts) -> None:
    bare = volume(BACKUP)
    result = run(backup_clock, lambda_context, mode="audit")
    assert findings(state_table, result["run_id"])[bare]["dry_run"] is True
    assert alerts.messages() == [] and result["notified"] is False


def test_nothing_uncovered_sends_nothing_and_publishes_zero(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext, alerts: Alerts,
        metrics: list[tuple[str, dict[str, int]]]) -> None:
    covered = volume(BACKUP)
    snapshot(covered, {"caretaker:automation": "ebs-snapshots"})
    result = run(backup_clock, lambda_context)
    assert result["status"] == "ok" and result["uncovered"] == 0 and alerts.messages() == []
    assert metrics == [("backup-coverage", {"UncoveredResources": 0})]
    assert actions(state_table, result["run_id"]) == []


def test_a_family_that_cannot_be_listed_does_not_stop_the_others(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    bare = volume(BACKUP)
    db_instance("orders", BACKUP)
    clients = FakeAwsBackup()
    clients.fail("rds", "DescribeDBInstances")

    result = run(backup_clock, lambda_context, clients)

    assert outcomes(state_table, result["run_id"]) == {bare: ["skipped"], "rds:*": ["failed", "planned"]}


def test_families_setting_limits_what_is_checked(
        state_table: str, backup_clock: Clock, lambda_context: LambdaContext) -> None:
    volume(BACKUP)
    bare_table = table("events", BACKUP)
    result = run(backup_clock, lambda_context, resource_families="dynamodb")
    assert set(findings(state_table, result["run_id"])) == {bare_table}
