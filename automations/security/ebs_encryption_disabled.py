"""EBS encryption by default switched off in a region: switch it back on."""

from __future__ import annotations

from typing import Any

from automations.core.runtime import Run
from automations.core.spec import CloudTrail, Permission
from automations.security.findings import CloudTrailEvent
from automations.security.reactive import Decision, Remediate, Skip, rule_handler, rule_spec

NAME = "ebs-encryption-disabled"
ACTION = "enable-ebs-encryption-by-default"

SPEC = rule_spec(
    name=NAME,
    description="Re-enables EBS encryption by default in a region where it was disabled.",
    trigger=CloudTrail("aws.ec2", "ec2.amazonaws.com", ("DisableEbsEncryptionByDefault",)),
    default_mode="enforce",  # re-enabling only restores protection
    permissions=(
        Permission(("ec2:GetEbsEncryptionByDefault", "ec2:EnableEbsEncryptionByDefault"),
                   why="an account-and-region setting: these actions have no resource-level scoping"),
    ),
)


def setting_id(account: str, region: str) -> str:
    """The resource id of the account-and-region setting in the state log."""
    return f"ebs-encryption-by-default/{account}/{region}"


def decide(run: Run, event: CloudTrailEvent) -> Decision:
    """Re-enable EBS encryption by default in the event's region, unless it is on again already."""
    ec2 = run.clients("ec2", event.region)
    resource = setting_id(event.account, event.region)
    headline = f"EBS encryption by default was disabled in {event.region}"
    details = {"region": event.region, "before": {"ebs_encryption_by_default": False}}
    if ec2.get_ebs_encryption_by_default().get("EbsEncryptionByDefault"):
        return Skip(resource, ACTION, "it is enabled again already: only the gap is reported",
                    {**details, "now": {"ebs_encryption_by_default": True}}, notify=True, headline=headline)
    return Remediate(resource, ACTION, headline, f"enable EBS encryption by default in {event.region} again",
                     lambda: _enable(ec2), {**details, "after": {"ebs_encryption_by_default": True}})


handler = rule_handler(SPEC, decide)


def _enable(ec2: Any) -> dict[str, Any]:
    enabled = ec2.enable_ebs_encryption_by_default().get("EbsEncryptionByDefault")
    return {"ebs_encryption_by_default": enabled}
