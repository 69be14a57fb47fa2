"""Declarations shared by the cleanup automations: their common settings, tags and IAM statements.

Declarations only (no I/O): each `cleanup_<family>.py` builds its `FunctionSpec` from these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from automations.core.iam_rules import only_tag_keys
from automations.core.spec import MAX_CONCURRENCY, Permission, Setting

#: Written on a resource when it becomes pending: the day from which a run may act on it.
CLEANUP_AFTER_TAG = "caretaker:cleanup-after"

_EC2 = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}"
EC2_VOLUMES = f"{_EC2}:volume/*"
EC2_INSTANCES = f"{_EC2}:instance/*"
EC2_ADDRESSES = f"{_EC2}:elastic-ip/*"
EC2_SECURITY_GROUPS = f"{_EC2}:security-group/*"
EC2_SNAPSHOTS = "arn:${AWS::Partition}:ec2:${AWS::Region}::snapshot/*"
EC2_IMAGES = "arn:${AWS::Partition}:ec2:${AWS::Region}::image/*"
LOG_GROUPS = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"

#: IAM enforces `caretaker:protect=true` too: the destructive statements only allow resources without it
#: (`selection.NOT_PROTECTED`, imported here for the families).
#: Tagging statements may only touch the cleanup-after tag, and never remove tags without naming them
#: (a DeleteTags call without a tag list removes every tag, caretaker:protect included).
ONLY_CLEANUP_TAG: Mapping[str, Mapping[str, Any]] = only_tag_keys(CLEANUP_AFTER_TAG)


def ec2_marking(resources: tuple[str, ...]) -> Permission:
    return Permission(("ec2:CreateTags", "ec2:DeleteTags"), resources, condition=ONLY_CLEANUP_TAG,
                      why=f"announce a pending cleanup with the {CLEANUP_AFTER_TAG} tag, and remove it when dropped")


def grace_days(default: int = 7) -> Setting:
    return Setting("grace_days", "int", default,
                   "Days between announcing a resource as pending (tag + notification) and acting on it; "
                   "0 acts at once.", minimum=0, maximum=365)


def min_age_days(default: int, what: str) -> Setting:
    return Setting("min_age_days", "int", default, f"Only {what} older than this many days qualify.",
                   minimum=0, maximum=3650)


EXCLUDE_TAGS = Setting(
    "exclude_tags", "list", (),
    "Resources carrying any of these tags are left alone: comma-separated `key` (any value) or "
    "`key=value` (value case-insensitive). caretaker:protect=true always protects.",
    pattern=r"[^=,]{1,128}(=[^,]{0,256})?")

#: us-east-1 list prices (2026), settings so that other regions and discounts can be reflected.
VOLUME_PRICE = Setting("volume_price_per_gb_month", "float", 0.08,
                       "USD per GB-month of an EBS volume, for the savings estimate (gp3 list price).",
                       minimum=0, maximum=10)
SNAPSHOT_PRICE = Setting("snapshot_price_per_gb_month", "float", 0.05,
                         "USD per GB-month of an EBS snapshot, for the savings estimate (standard tier).",
                         minimum=0, maximum=10)
IDLE_ADDRESS_PRICE = Setting("idle_address_price_per_hour", "float", 0.005,
                             "USD per hour of an idle public IPv4 address, for the savings estimate.",
                             minimum=0, maximum=1)

COMMON = (EXCLUDE_TAGS, MAX_CONCURRENCY)
