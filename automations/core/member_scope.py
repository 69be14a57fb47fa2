"""Where a function runs across an AWS Organization: once per account (its home region) or in every region.

Derived from the declaration only, so the member templates (`templates.member`, which place each function in
the account-scoped or a regional stack set) and the `trigger-health` canary (which must not look for an
account-scoped function outside the home region) read the same answer. See docs/organizations.md.
"""

from __future__ import annotations

from typing import Literal

from automations.core.spec import CloudTrail, Cron, EventPattern, FunctionSpec, Rate, Rotation

Scope = Literal["account", "region"]


def member_scope(spec: FunctionSpec) -> Scope:
    """Where a function runs in an organization: once per account (home region) or in every region.

    Account-wide: Secrets Manager rotation functions; rules on IAM's CloudTrail events (IAM is global, its
    events reach EventBridge in us-east-1 only); schedules that declare IAM actions (IAM users and keys are
    account-wide: the same run in three regions would rotate a key three times). Everything else is regional;
    custom resource providers stay regional because the stacks that call them are.
    """
    trigger = spec.trigger
    if isinstance(trigger, Rotation):
        return "account"
    if isinstance(trigger, (CloudTrail, EventPattern)):
        return "account" if trigger.pattern().get("source") == ["aws.iam"] else "region"
    if isinstance(trigger, (Rate, Cron)) and any(a.startswith("iam:") for p in spec.permissions for a in p.actions):
        return "account"
    return "region"
