"""The settings the backup families share, declared once: which resources the backup tag selects, how long
their recovery points are kept, and where (with which key) they are copied.

`ebs-snapshots`, `rds-snapshots` and `dynamodb-backups` declare the same settings with the same names and
meanings (`backup-coverage` reads the tag settings), so an operator tunes them the same way for every family.
Declarations only: no AWS, standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from automations.core.selection import is_protected, tag_matches
from automations.core.spec import Setting
from automations.scheduled.retention import Retention

#: `caretaker:critical=true`: a resource that must have a recent recovery point, whoever makes it
#: (`backup-coverage` reports it when none is found, like a resource carrying the backup tag).
CRITICAL_TAG = "caretaker:critical"
#: The tag value that a resource's backups expire on (creation date + max age, or `never`).
EXPIRES_TAG = "caretaker:expires-on"
SOURCE_REGION_TAG = "caretaker:source-region"

BACKUP_TAG_KEY = Setting("backup_tag_key", "str", "caretaker:backup",
                         "Tag key that selects the resources to back up.", pattern=r"[\w.:/=+@ -]{1,128}")
BACKUP_TAG_VALUES = Setting("backup_tag_values", "list", ("true", "daily"),
                            "Accepted values of the backup tag (comma-separated, case-insensitive).")
BACKUP_TAG_SETTINGS = (BACKUP_TAG_KEY, BACKUP_TAG_VALUES)

RETENTION_SETTINGS = (
    Setting("retention_count", "int", 7, "Newest backups kept per resource.", minimum=1, maximum=1000),
    Setting("max_age_days", "int", 35,
            "Backups older than this are deleted even among the newest (0 = no limit); "
            "daily/weekly/monthly generations have their own windows.", minimum=0, maximum=3650),
    Setting("keep_daily", "int", 0, "Days for which the newest backup of the day is kept.", minimum=0, maximum=366),
    Setting("keep_weekly", "int", 0, "Weeks for which the newest backup of the ISO week is kept.",
            minimum=0, maximum=520),
    Setting("keep_monthly", "int", 0, "Months for which the newest backup of the month is kept.",
            minimum=0, maximum=240),
)

COPY_REGION = Setting("copy_region", "str", "", "Region to copy backups to and prune there too (empty = none).",
                      pattern=r"([a-z]{2}(-gov)?-[a-z]+-\d)?")
COPY_KMS_KEY_ID = Setting(
    "copy_kms_key_id", "str", "",
    "KMS key in the copy region (key ARN, key id or alias/<name>) that encrypts the copies of encrypted backups; "
    "empty = the service's default there (EBS: the region's default EBS key; RDS cannot copy an encrypted "
    "snapshot without one: such a copy is recorded as failed).",
    pattern=r"(arn:aws[\w-]*:kms:[a-z0-9-]+:\d{12}:(key/[\w-]+|alias/[\w/.-]+)|[0-9a-f-]{36}|alias/[\w/.-]+)?")
COPY_SETTINGS = (COPY_REGION, COPY_KMS_KEY_ID)

MIN_BACKUP_INTERVAL = Setting(
    "min_snapshot_interval_hours", "int", 12,
    "A resource with a backup of this automation younger than this is not backed up again (a retried or "
    "repeated run does not double the backups; keep it below the schedule's interval; 0 = always back up).",
    minimum=0, maximum=8760)


def retention_policy(settings: Mapping[str, Any]) -> Retention:
    """The retention the settings above describe."""
    return Retention(int(settings["retention_count"]), int(settings["max_age_days"]), int(settings["keep_daily"]),
                     int(settings["keep_weekly"]), int(settings["keep_monthly"]))


def expires_on(settings: Mapping[str, Any], now: datetime) -> str:
    """The `caretaker:expires-on` value of a backup made now: creation date + max age, or `never`."""
    max_age = int(settings["max_age_days"])
    return (now + timedelta(days=max_age)).date().isoformat() if max_age else "never"


def selection_reason(settings: Mapping[str, Any], tags: Mapping[str, str]) -> str | None:
    """None when the backup tag does not select the resource; else why it is (or is not) backed up:
    `""` = back it up, any other text = skip it with that reason (protected)."""
    key, values = settings["backup_tag_key"], settings["backup_tag_values"]
    if not tag_matches(tags, key, values):
        return None
    if is_protected(tags):
        return "protected: tagged caretaker:protect=true"
    return ""


def copy_target(settings: Mapping[str, Any], region: str) -> str:
    """The region to copy to, or "" when none (unset, or the function's own region)."""
    target = str(settings["copy_region"])
    return target if target and target != region else ""
