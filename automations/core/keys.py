"""IAM access keys and the secrets that hold them, read and deleted the same way by the scheduled
`access-key-rotation` (automations/scheduled/access_key_*.py) and the Secrets Manager rotation function
`rotate-iam-access-key` (automations/rotation/iam_access_key.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from automations.core.errors import delete_or_gone, error_code
from automations.core.selection import tag_map

if TYPE_CHECKING:
    from types_boto3_iam.client import IAMClient
    from types_boto3_secretsmanager.client import SecretsManagerClient


@dataclass(frozen=True)
class Key:
    key_id: str
    active: bool
    created: datetime


def list_keys(iam: IAMClient, user: str) -> dict[str, Key]:
    """The user's access keys by id, oldest first."""
    keys = [Key(k["AccessKeyId"], k["Status"] == "Active", k["CreateDate"].astimezone(UTC))
            for page in iam.get_paginator("list_access_keys").paginate(UserName=user)
            for k in page.get("AccessKeyMetadata", [])]
    return {k.key_id: k for k in sorted(keys, key=lambda k: (k.created, k.key_id))}


def last_used(iam: IAMClient, key_id: str) -> datetime | None:
    """When the key was last used, or None when it never was."""
    used = iam.get_access_key_last_used(AccessKeyId=key_id).get("AccessKeyLastUsed", {}).get("LastUsedDate")
    return used.astimezone(UTC) if isinstance(used, datetime) else None


def delete_key(iam: IAMClient, user: str, key_id: str) -> dict[str, Any]:
    """Delete one access key; a key already gone counts as deleted (`already_gone` in the result)."""
    return delete_or_gone(lambda: iam.delete_access_key(UserName=user, AccessKeyId=key_id), ("NoSuchEntity",))


@dataclass(frozen=True)
class SecretInfo:
    """What Secrets Manager says about one secret (`exists=False`: there is none by that name)."""

    exists: bool
    arn: str = ""
    name: str = ""
    rotation_enabled: bool = False
    versions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    def version_with(self, stage: str) -> str | None:
        return next((v for v, stages in self.versions.items() if stage in stages), None)


def describe_secret(sm: SecretsManagerClient, secret_id: str) -> SecretInfo:
    try:
        raw = sm.describe_secret(SecretId=secret_id)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return SecretInfo(exists=False)
        raise
    return SecretInfo(exists=True, arn=str(raw.get("ARN", "")), name=str(raw.get("Name", "")),
                      rotation_enabled=bool(raw.get("RotationEnabled")),
                      versions={v: tuple(s) for v, s in raw.get("VersionIdsToStages", {}).items()},
                      tags=tag_map(raw.get("Tags")))
