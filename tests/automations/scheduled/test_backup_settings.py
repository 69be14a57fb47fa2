"""The backup families declare the same settings (one declaration each), and recognise their own backups only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from automations.core.spec import FunctionSpec
from automations.scheduled import backup_coverage, dynamodb_backups, ebs_snapshots, rds_snapshots
from automations.scheduled.backup_settings import (
    BACKUP_TAG_SETTINGS,
    COPY_SETTINGS,
    MIN_BACKUP_INTERVAL,
    RETENTION_SETTINGS,
    expires_on,
    retention_policy,
)
from automations.scheduled.retention import Retention

FAMILIES = (ebs_snapshots.SPEC, rds_snapshots.SPEC, dynamodb_backups.SPEC)


@pytest.mark.parametrize("spec", FAMILIES, ids=lambda s: s.name)
def test_every_backup_family_declares_the_shared_tag_retention_and_interval_settings(spec: FunctionSpec) -> None:
    for setting in (*BACKUP_TAG_SETTINGS, *RETENTION_SETTINGS, MIN_BACKUP_INTERVAL):
        assert spec.setting(setting.name) is setting, (spec.name, setting.name)


def test_the_copying_families_declare_the_copy_settings_and_coverage_reads_the_same_tag() -> None:
    for spec in (ebs_snapshots.SPEC, rds_snapshots.SPEC):
        assert all(spec.setting(s.name) is s for s in COPY_SETTINGS)
    assert all(backup_coverage.SPEC.setting(s.name) is s for s in BACKUP_TAG_SETTINGS)
    with pytest.raises(KeyError):
        dynamodb_backups.SPEC.setting("copy_region")  # no cross-region copy of on-demand backups


def test_the_settings_make_the_retention_and_the_expiry_tag() -> None:
    settings = {"retention_count": 3, "max_age_days": 10, "keep_daily": 1, "keep_weekly": 2, "keep_monthly": 0}
    assert retention_policy(settings) == Retention(3, 10, 1, 2, 0)
    now = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    assert expires_on(settings, now) == "2026-12-12"
    assert expires_on({**settings, "max_age_days": 0}, now) == "never"


def _snapshot(identifier: str, snapshot_type: str = "manual", **tags: str) -> rds_snapshots.Snapshot:
    return rds_snapshots.Snapshot(rds_snapshots.INSTANCE, identifier, f"arn:aws:rds:us-east-1:1:snapshot:{identifier}",
                                  "db", None, "available", False,
                                  {"caretaker:automation": "rds-snapshots", **tags}, snapshot_type)


def test_an_rds_snapshot_is_its_own_only_when_manual_named_caretaker_and_tagged() -> None:
    assert _snapshot("caretaker-db-20261202050000").not_ours() == ""
    assert "AWS Backup" in _snapshot("awsbackup:job-1234", "awsbackup").not_ours()
    assert "managed by RDS" in _snapshot("rds:db-2026-12-02-05-00", "automated").not_ours()
    assert "not named caretaker-*" in _snapshot("before-migration").not_ours()


def test_a_dynamodb_backup_is_its_own_only_when_of_type_user_and_named_caretaker() -> None:
    def backup(name: str, backup_type: str) -> dynamodb_backups.Backup:
        return dynamodb_backups.Backup("arn", name, "table-arn", datetime.now(UTC), "AVAILABLE", backup_type)

    assert backup("caretaker-t-1", "USER").ours
    assert not backup("caretaker-t-1", "AWS_BACKUP").ours
    assert not backup("caretaker-t-1", "SYSTEM").ours
    assert not backup("nightly", "USER").ours


def test_backup_names_fit_the_limits() -> None:
    now = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    assert len(dynamodb_backups.backup_name("t" * 255, now)) == 255
    assert rds_snapshots.snapshot_name("orders", now) == "caretaker-orders-20261202050000"
