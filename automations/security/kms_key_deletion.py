"""A KMS key scheduled for deletion: cancel the deletion (and re-enable the key, which cancelling
leaves disabled). Always notified."""

from __future__ import annotations

from typing import Any

from automations.core.runtime import Run
from automations.core.selection import tag_map
from automations.core.spec import CloudTrail, Permission
from automations.security.errors import gone_when_missing
from automations.security.findings import CloudTrailEvent
from automations.security.reactive import Decision, Remediate, Skip, protected, rule_handler, rule_spec

NAME = "kms-key-deletion"
ACTION = "cancel-key-deletion"
PENDING = ("PendingDeletion", "PendingReplicaDeletion")
_KEYS = "arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*"
_GONE = ("NotFoundException",)

SPEC = rule_spec(
    name=NAME,
    description="Cancels the scheduled deletion of a KMS key and re-enables it; always notifies.",
    trigger=CloudTrail("aws.kms", "kms.amazonaws.com", ("ScheduleKeyDeletion",)),
    default_mode="enforce",  # cancelling a deletion only keeps what exists
    permissions=(
        Permission(("kms:DescribeKey", "kms:ListResourceTags"), (_KEYS,),
                   why="the key's current state and its protect tag"),
        Permission(("kms:CancelKeyDeletion", "kms:EnableKey"), (_KEYS,),
                   why="cancel the deletion; cancelling leaves the key disabled, so enable it again"),
    ),
)


def decide(run: Run, event: CloudTrailEvent) -> Decision:
    """Cancel a pending key deletion and re-enable the key."""
    key_id = event.param_text("keyId")
    kms = run.clients("kms", event.region)
    with gone_when_missing(key_id, f"KMS key {key_id}", _GONE):
        metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    key_arn = str(metadata.get("Arn") or key_id)
    state = str(metadata.get("KeyState", ""))
    details = {"key_id": metadata.get("KeyId", key_id), "key_arn": key_arn, "key_state": state,
               "deletion_date": event.response.get("deletionDate") or metadata.get("DeletionDate"),
               "pending_window_in_days": event.request.get("pendingWindowInDays"),
               "description": metadata.get("Description") or None}
    headline = f"KMS key {details['key_id']} was scheduled for deletion"
    if state not in PENDING:
        return Skip(key_arn, ACTION, f"the key is no longer pending deletion (state {state})", details,
                    notify=True, headline=headline)
    key = str(metadata.get("KeyId") or key_id)
    tags = tag_map(kms.list_resource_tags(KeyId=key).get("Tags"), key="TagKey", value="TagValue")
    guarded = protected(key_arn, ACTION, tags, headline, details)
    if guarded:
        return guarded
    return Remediate(key_arn, ACTION, headline, "cancel the key deletion and re-enable the key",
                     lambda: cancel_deletion(kms, key), details, result_details=lambda r: r)


handler = rule_handler(SPEC, decide)


def cancel_deletion(kms: Any, key: str) -> dict[str, Any]:
    kms.cancel_key_deletion(KeyId=key)
    state = kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"]
    if state == "Disabled":
        kms.enable_key(KeyId=key)
        return {"cancelled": True, "re_enabled": True}
    return {"cancelled": True, "re_enabled": False, "key_state": state}
