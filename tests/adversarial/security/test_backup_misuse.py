"""Attacks with developer permissions on the backup families and backup-coverage: forged Caretaker tags and names
that try to make Caretaker delete another team's backups, push real backups out of retention, or silence the
coverage report. Each attack beside the legitimate use that must keep working."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import boto3
import pytest

from automations.core.runtime import Entrypoint
from automations.scheduled import backup_coverage, dynamodb_backups, ebs_snapshots, rds_snapshots
from tests.automations.conftest import REGION, Clock, LambdaContext, scheduled_event
from tests.recording import RecordingClients

ACCOUNT = "123456789012"


@pytest.fixture
def moto_clock(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """The test clock, also stamping moto's RDS snapshots and DynamoDB backups (EBS: the `clock` fixture)."""
    import moto.dynamodb.models.table as ddb_table
    import moto.rds.models as rds_models

    def naive() -> Any:
        return clock.now.astimezone(UTC).replace(tzinfo=None)

    monkeypatch.setattr(rds_models, "utcnow", naive)
    monkeypatch.setattr(ddb_table, "utcnow", naive)
    yield clock


def invoke(handler: Entrypoint, clock: Clock, context: LambdaContext, **settings: str) -> dict[str, Any]:
    environ = {**os.environ, **{f"CARETAKER_{k.upper()}": v for k, v in settings.items()}}
    return handler.invoke(scheduled_event(), context, environ=environ, clients=RecordingClients(), clock=clock)


def tags(mapping: dict[str, str]) -> list[Any]:  # Any: each service stubs its own tag TypedDict
    return [{"Key": k, "Value": v} for k, v in mapping.items()]


def rds_instance(name: str, tag_map: dict[str, str]) -> None:
    boto3.client("rds", region_name=REGION).create_db_instance(
        DBInstanceIdentifier=name, DBInstanceClass="db.t3.micro", Engine="postgres", MasterUsername="admin",
        MasterUserPassword="password123", AllocatedStorage=20, Tags=tags(tag_map))


def volume(tag_map: dict[str, str] | None = None) -> str:
    spec: list[Any] = [{"ResourceType": "volume", "Tags": tags(tag_map)}] if tag_map else []
    return str(boto3.client("ec2", region_name=REGION).create_volume(
        AvailabilityZone=f"{REGION}a", Size=1, TagSpecifications=spec)["VolumeId"])


def snapshot(volume_id: str, tag_map: dict[str, str]) -> str:
    return str(boto3.client("ec2", region_name=REGION).create_snapshot(
        VolumeId=volume_id, TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags(tag_map)}])["SnapshotId"])


# ---------------------------------------------------------------------- rds-snapshots


def test_tagging_another_teams_rds_snapshot_as_caretakers_does_not_get_it_deleted(
        state_table: str, moto_clock: Clock, lambda_context: LambdaContext) -> None:
    rds = boto3.client("rds", region_name=REGION)
    rds_instance("victim", {"caretaker:backup": "true"})
    moto_clock.advance(days=-100)
    rds.create_db_snapshot(DBInstanceIdentifier="victim", DBSnapshotIdentifier="victim-before-migration",
                           Tags=tags({"caretaker:automation": "rds-snapshots"}))  # the attacker's forged tag
    rds.create_db_snapshot(DBInstanceIdentifier="victim", DBSnapshotIdentifier="caretaker-victim-real",
                           Tags=tags({"caretaker:automation": "rds-snapshots"}))  # a real, expired one of ours
    moto_clock.advance(days=100)

    result = invoke(rds_snapshots.handler, moto_clock, lambda_context)

    left = {s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]}
    assert "victim-before-migration" in left  # the attack: refused, recorded with the reason
    assert "caretaker-victim-real" not in left  # the legitimate use: its own expired snapshot is pruned
    assert result["snapshots_deleted"] == 1
    # and IAM would refuse it anyway: deletions only of caretaker-* snapshots carrying the tag
    (statement,) = [p for p in rds_snapshots.SPEC.permissions if "rds:DeleteDBSnapshot" in p.actions]
    assert all(":snapshot:caretaker-*" in r or ":cluster-snapshot:caretaker-*" in r for r in statement.resources)
    assert statement.condition == {"StringEquals": {"aws:ResourceTag/caretaker:automation": "rds-snapshots"}}


def test_forged_caretaker_snapshots_of_another_database_do_not_push_the_real_ones_out(
        state_table: str, moto_clock: Clock, lambda_context: LambdaContext) -> None:
    rds = boto3.client("rds", region_name=REGION)
    rds_instance("victim", {"caretaker:backup": "true"})
    rds_instance("attacker", {})
    invoke(rds_snapshots.handler, moto_clock, lambda_context)
    for n in range(5):
        moto_clock.advance(hours=13)
        rds.create_db_snapshot(DBInstanceIdentifier="attacker", DBSnapshotIdentifier=f"caretaker-victim-{n}",
                               Tags=tags({"caretaker:automation": "rds-snapshots"}))
    invoke(rds_snapshots.handler, moto_clock, lambda_context, retention_count="2")
    victims = [s for s in rds.describe_db_snapshots(DBInstanceIdentifier="victim")["DBSnapshots"]
               if s["SnapshotType"] == "manual"]
    assert len(victims) == 2


# ---------------------------------------------------------------------- dynamodb-backups


def test_caretaker_named_backups_of_another_table_do_not_push_the_real_ones_out(
        state_table: str, moto_clock: Clock, lambda_context: LambdaContext) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    for name, tag_map in (("victim", {"caretaker:backup": "true"}), ("attacker", {})):
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST", Tags=tags(tag_map) or [{"Key": "team", "Value": "x"}])
    invoke(dynamodb_backups.handler, moto_clock, lambda_context)
    for n in range(5):
        moto_clock.advance(hours=13)
        ddb.create_backup(TableName="attacker", BackupName=f"caretaker-victim-{n}")
    invoke(dynamodb_backups.handler, moto_clock, lambda_context, retention_count="2")
    assert len(ddb.list_backups(TableName="victim")["BackupSummaries"]) == 2


# ---------------------------------------------------------------------- ebs-snapshots


def test_snapshots_of_another_volume_tagged_with_the_victims_id_do_not_push_its_snapshots_out(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    victim = volume({"caretaker:backup": "true"})
    attacker = volume()
    invoke(ebs_snapshots.handler, clock, lambda_context)
    for _ in range(5):
        clock.advance(hours=13)
        snapshot(attacker, {"caretaker:automation": "ebs-snapshots", "caretaker:volume-id": victim})
    invoke(ebs_snapshots.handler, clock, lambda_context, retention_count="2")
    ec2 = boto3.client("ec2", region_name=REGION)
    kept = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": [victim]}])
    assert len(kept["Snapshots"]) == 2


# ---------------------------------------------------------------------- backup-coverage


def test_a_forged_caretaker_snapshot_of_another_volume_does_not_silence_the_coverage_report(
        state_table: str, clock: Clock, lambda_context: LambdaContext) -> None:
    victim = volume({"caretaker:critical": "true"})
    covered = volume({"caretaker:critical": "true"})
    snapshot(volume(), {"caretaker:automation": "ebs-snapshots", "caretaker:volume-id": victim,
                        "aws:dlm:lifecycle-policy-id": "policy-forged"})
    snapshot(covered, {"caretaker:automation": "ebs-snapshots"})  # the legitimate cover still counts

    result = invoke(backup_coverage.handler, clock, lambda_context, resource_families="ebs")

    # moto has no AWS Backup: the victim, covered by nothing, is a failed check (never silently "covered")
    assert result["covered_by"] == {"caretaker": 1} and result["status"] != "ok"
    records = boto3.client("dynamodb", region_name=REGION).query(
        TableName=state_table, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"RUN#{result['run_id']}"}})["Items"]
    assert {r["resource_id"]["S"] for r in records if "resource_id" in r} == {victim}
