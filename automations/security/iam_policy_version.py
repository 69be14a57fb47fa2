"""A managed policy made admin-equivalent by a new default version, while principals hold it.

`CreatePolicyVersion` with `setAsDefault` and `SetDefaultPolicyVersion` change what every
principal the policy is attached to may do, without any Attach or Put call. When the version
they made default is admin-equivalent (`iam_policy.evaluate`), the policy is attached, it is
still the default, and the caller is not in `admin_grant_allowed_principals`: notified, and in
enforce mode the default is set back to the newest other version that is not admin-equivalent
(reported without a change when there is none). The admin version itself is kept: it is the
evidence, and deleting it is not needed to take the rights away. Default audit: it takes access away.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from automations.core.runtime import Run
from automations.core.selection import tag_map
from automations.core.spec import CloudTrail, Permission
from automations.security.errors import BadEventError, gone_when_missing
from automations.security.findings import CloudTrailEvent, matching_arn
from automations.security.iam_admin_grant import ALLOWED_PRINCIPALS
from automations.security.iam_state import IAM_ARN, Scope, policy_version_document
from automations.security.reactive import Decision, Remediate, Report, Skip, protected, rule_handler, rule_spec

NAME = "iam-policy-version"
CREATE, SET_DEFAULT = "CreatePolicyVersion", "SetDefaultPolicyVersion"
ACTION = "restore-policy-version"
#: Only the account's own policies have versions anyone but AWS can create.
OWN_POLICIES = f"{IAM_ARN}:policy/*"

SPEC = rule_spec(
    name=NAME,
    description="Reports a managed policy made admin-equivalent by a new default version; in enforce mode "
                "restores the previous one.",
    trigger=CloudTrail(
        "aws.iam", "iam.amazonaws.com", (CREATE, SET_DEFAULT),
        # a version created without setAsDefault changes nothing until SetDefaultPolicyVersion; CloudTrail
        # records the flag as a JSON boolean, the text form is matched too so that a change of shape cannot hide it
        detail={"$or": [{"eventName": [SET_DEFAULT]}, {"requestParameters": {"setAsDefault": [True, "true"]}}]},
    ),
    default_mode="audit",  # restoring the previous version takes access away
    permissions=(
        Permission(("iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions", "iam:ListPolicyTags"),
                   (OWN_POLICIES,), why="the policy's versions, attachments and protect tag"),
        Permission(("iam:SetDefaultPolicyVersion",), (OWN_POLICIES,),
                   why="set the previous version back as the default (enforce mode only)"),
    ),
    settings=(ALLOWED_PRINCIPALS,),
)


def made_default(event: CloudTrailEvent) -> str:
    """The version id the event made the default."""
    if event.name == SET_DEFAULT:
        return event.param_text("versionId")
    if event.name != CREATE:
        raise BadEventError(f"{event.name} is not one of the events this rule handles")
    if event.param("setAsDefault") not in (True, "true"):
        raise BadEventError("requestParameters.setAsDefault is not true: the new version is not the default")
    version = event.response.get("policyVersion")
    version_id = version.get("versionId") if isinstance(version, Mapping) else None
    if not isinstance(version_id, str) or not version_id:
        raise BadEventError("responseElements.policyVersion.versionId is missing")
    return version_id


def decide(run: Run, event: CloudTrailEvent) -> Decision:
    """Report (and in enforce mode undo) a default version that makes an attached policy admin-equivalent."""
    arn = event.param_text("policyArn")
    version = made_default(event)
    resource = f"policy/{arn.rsplit('/', 1)[-1]}"
    iam = run.clients("iam")
    scope = Scope(event.partition, event.account)
    with gone_when_missing(resource, f"policy {arn} or its version {version}"):
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
        verdict = scope.judge(policy_version_document(iam, arn, version))
    attachments = int(policy.get("AttachmentCount", 0))
    details: dict[str, Any] = {"policy_arn": arn, "version_id": version, "attachment_count": attachments,
                               "verdict": verdict.as_details()}
    if not verdict.admin:
        return Skip(resource, ACTION, f"version {version} of {arn} is not admin-equivalent", details)
    if attachments == 0:
        return Skip(resource, ACTION, f"{arn} is attached to no principal: the version grants nothing yet "
                    "(iam-admin-grant judges it when it is attached)", details)
    allowed = matching_arn(event.actor, run.settings["admin_grant_allowed_principals"])
    if allowed:
        return Skip(resource, ACTION, f"changed by {allowed}, listed in admin_grant_allowed_principals", details)
    headline = (f"version {version} makes policy {arn.rsplit('/', 1)[-1]} admin-equivalent for the {attachments} "
                f"principal(s) it is attached to; made default by {event.actor.label}")
    if policy.get("DefaultVersionId") != version:
        return Skip(resource, ACTION, f"version {version} is no longer the default "
                    f"({policy.get('DefaultVersionId')} is): only the change is reported", details,
                    notify=True, headline=headline)
    tags = tag_map(iam.list_policy_tags(PolicyArn=arn).get("Tags"))
    guarded = protected(resource, ACTION, tags, headline, details)
    if guarded:
        return guarded
    previous = restorable_version(iam, scope, arn, version)
    if previous is None:
        return Report(resource, f"{headline}; no other version of it is free of admin-equivalent access, so "
                      "there is nothing to restore", details)
    details["restore_version"] = previous
    return Remediate(resource, ACTION, headline, f"set version {previous} of {arn} back as its default",
                     lambda: iam.set_default_policy_version(PolicyArn=arn, VersionId=previous), details)


def restorable_version(iam: Any, scope: Scope, arn: str, offending: str) -> str | None:
    """The newest version other than `offending` that is not admin-equivalent (IAM keeps at most five).

    CloudTrail does not record which version was the default before; for CreatePolicyVersion every
    other version is older, so this is the newest older one, and for SetDefaultPolicyVersion the
    newest one is the likeliest previous default."""
    versions = [v for v in iam.list_policy_versions(PolicyArn=arn).get("Versions", [])
                if v.get("VersionId") != offending]
    versions.sort(key=_age, reverse=True)
    for listed in versions:
        version_id = str(listed["VersionId"])
        if not scope.judge(policy_version_document(iam, arn, version_id)).admin:
            return version_id
    return None


def _age(version: Mapping[str, Any]) -> tuple[float, int]:
    """Sort key: creation time, then the number in `v<N>` (versions created within one second)."""
    created = version.get("CreateDate")
    stamp = created.timestamp() if isinstance(created, datetime) else 0.0
    number = str(version.get("VersionId", "v0"))[1:].split(".", 1)[0]
    return stamp, int(number) if number.isdigit() else 0


handler = rule_handler(SPEC, decide)
