"""Resource selection helpers shared by automations: tags, protection, age."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

PROTECT_TAG = "caretaker:protect"
#: IAM's half of the protect tag: a condition block that allows only resources without `caretaker:protect=true`
#: (a negated operator matches when the tag is absent). Destructive statements carry it, alone or merged.
NOT_PROTECTED: Mapping[str, Mapping[str, str]] = {
    "StringNotEqualsIgnoreCase": {f"aws:ResourceTag/{PROTECT_TAG}": "true"}}
#: `caretaker:guard-trail=true` on a CloudTrail trail: Caretaker records its configuration and restores it
#: (re-creates it when deleted). See docs/security-rules.md, cloudtrail-tampering.
GUARD_TRAIL_TAG = "caretaker:guard-trail"
AUTOMATION_TAG = "caretaker:automation"
RUN_ID_TAG = "caretaker:run-id"
#: Written by `creator-tags` on new resources (never over an existing value): who created it (the principal
#: ARN; for a role session the role's ARN and the session name) and when (the CloudTrail event time).
CREATED_BY_TAG = "caretaker:created-by"
CREATED_AT_TAG = "caretaker:created-at"


def tag_map(tags: Iterable[Mapping[str, Any]] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    """AWS `[{"Key": k, "Value": v}]` (or KMS's TagKey/TagValue) -> `{k: v}`."""
    return {str(t[key]): str(t.get(value, "")) for t in tags or () if key in t}


def is_protected(tags: Mapping[str, str]) -> bool:
    """`caretaker:protect=true` (any case) protects a resource from every automation."""
    return tags.get(PROTECT_TAG, "").strip().lower() == "true"


def tag_matches(tags: Mapping[str, str], key: str, values: Iterable[str]) -> bool:
    """True when the tag is present with one of the accepted values (case-insensitive)."""
    if key not in tags:
        return False
    accepted = {v.strip().lower() for v in values}
    return tags[key].strip().lower() in accepted


def older_than(created: datetime, now: datetime, days: float) -> bool:
    return now - created > timedelta(days=days)


def copyable_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Tags that may be copied to a derived resource: `aws:` tags are reserved and Caretaker's
    own bookkeeping tags are rewritten by the copier."""
    return {k: v for k, v in tags.items() if not k.startswith("aws:") and not k.startswith("caretaker:")}
