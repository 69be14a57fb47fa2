"""Admin-equivalent rights granted to a user, role or group by a principal outside the allow-list.

Three ways to grant them, all judged by `iam_policy.evaluate` on IAM's current state:
a managed policy attached (AWS's or the account's own, judged by its default version), an
inline policy put, or a user added to a group whose policies are admin-equivalent. Notified
always; in enforce mode the policy is detached, the inline policy deleted, or the user removed
from the group. Default audit: each takes access away.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from automations.core.runtime import Run
from automations.core.spec import CloudTrail, Permission, Setting
from automations.security.errors import BadEventError, gone_when_missing
from automations.security.findings import CloudTrailEvent, matching_arn
from automations.security.iam_policy import PolicyDocumentError, parse_document
from automations.security.iam_state import (
    GROUPS,
    POLICIES,
    PRINCIPALS,
    ROLES,
    USERS,
    Scope,
    admin_policy_of,
    attached_policies,
    groups_of_user,
    inline_document,
    managed_verdict,
    principal_tags,
)
from automations.security.reactive import Decision, Remediate, Skip, protected, rule_handler, rule_spec

NAME = "iam-admin-grant"
ATTACH = ("AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy")
PUT = ("PutUserPolicy", "PutRolePolicy", "PutGroupPolicy")
ADD_TO_GROUP = "AddUserToGroup"
EVENT_PRINCIPAL = {"AttachUserPolicy": "user", "PutUserPolicy": "user", "AttachRolePolicy": "role",
                   "PutRolePolicy": "role", "AttachGroupPolicy": "group", "PutGroupPolicy": "group"}

#: Shared with iam-policy-version, which grants the same rights another way.
ALLOWED_PRINCIPALS = Setting(
    "admin_grant_allowed_principals", "list", (),
    "Principals allowed to grant admin-equivalent rights (comma-separated ARNs, * and ? allowed; "
    "for assumed roles, the role ARN with its path).",
    pattern=r"arn:[^\s,]+")

SPEC = rule_spec(
    name=NAME,
    description="Reports admin-equivalent rights granted outside the allow-list; in enforce mode removes them.",
    # every attachment passes: customer-managed policies are judged by their document, not their name
    trigger=CloudTrail("aws.iam", "iam.amazonaws.com", ATTACH + PUT + (ADD_TO_GROUP,)),
    default_mode="audit",  # detaching, deleting or removing from a group takes access away
    permissions=(
        Permission(("iam:ListAttachedUserPolicies", "iam:GetUserPolicy", "iam:ListUserTags",
                    "iam:ListGroupsForUser"), (USERS,),
                   why="the user's current policies, groups and protect tag"),
        Permission(("iam:ListAttachedRolePolicies", "iam:GetRolePolicy", "iam:ListRoleTags"), (ROLES,),
                   why="the role's current policies and protect tag"),
        Permission(("iam:ListAttachedGroupPolicies", "iam:ListGroupPolicies", "iam:GetGroupPolicy"), (GROUPS,),
                   why="the group's current policies"),
        Permission(("iam:GetPolicy", "iam:GetPolicyVersion"), POLICIES,
                   why="judge a managed policy by its default version"),
        Permission(("iam:DetachUserPolicy", "iam:DeleteUserPolicy"), (USERS,),
                   why="remove the policy from the user (enforce mode only)"),
        Permission(("iam:DetachRolePolicy", "iam:DeleteRolePolicy"), (ROLES,),
                   why="remove the policy from the role (enforce mode only)"),
        Permission(("iam:DetachGroupPolicy", "iam:DeleteGroupPolicy", "iam:RemoveUserFromGroup"), (GROUPS,),
                   why="remove the policy from the group, or the user from it (enforce mode only)"),
    ),
    settings=(ALLOWED_PRINCIPALS,),
)


def decide(run: Run, event: CloudTrailEvent) -> Decision:
    """Report (and in enforce mode remove) an admin-equivalent grant, unless an allowed principal made it."""
    if event.name == ADD_TO_GROUP:
        return _group_membership(run, event)
    if event.name not in EVENT_PRINCIPAL:
        raise BadEventError(f"{event.name} is not one of the events this rule handles")
    who = PRINCIPALS[EVENT_PRINCIPAL[event.name]]
    principal = event.param_text(who.parameter)
    resource = f"{who.kind}/{principal}"
    iam = run.clients("iam")
    scope = Scope(event.partition, event.account)
    details: dict[str, Any] = {"principal_kind": who.kind, "principal": principal}
    if event.name in ATTACH:
        policy = event.param_text("policyArn")
        action = f"detach-{who.kind}-policy"
        with gone_when_missing(resource, f"policy {policy}"):
            verdict, version = managed_verdict(iam, scope, policy)
        details.update(policy_arn=policy, policy_version=version, verdict=verdict.as_details())
        if not verdict.admin:
            return Skip(resource, action, f"{policy} (default version {version}) is not admin-equivalent", details)
        grant = f"admin-equivalent {policy.rsplit('/', 1)[-1]} attached to {who.kind} {principal}"
    else:
        policy = event.param_text("policyName")
        action = f"delete-{who.kind}-policy"
        try:
            verdict = scope.judge(parse_document(event.param("policyDocument")))
        except PolicyDocumentError as exc:
            raise BadEventError(f"requestParameters.policyDocument: {exc}") from None
        details.update(policy_name=policy, verdict=verdict.as_details())
        if not verdict.admin:
            return Skip(resource, action, f"inline policy {policy} is not admin-equivalent", details)
        grant = f"admin-equivalent inline policy {policy} put on {who.kind} {principal}"
    allowed = _allowed(run, event, resource, action, details)
    if allowed:
        return allowed
    headline = f"{grant} by {event.actor.label}"
    with gone_when_missing(resource, f"{who.kind} {principal}"):
        tags = principal_tags(iam, who, principal)  # also: NoSuchEntity when the principal is gone
        if event.name in ATTACH:
            still = policy in attached_policies(iam, who, principal)
        else:
            still = scope.judge(inline_document(iam, who, principal, policy)).admin
    kept = _unless_in_place(still, "the grant is no longer in place", resource, action, tags, headline, details)
    if kept:
        return kept
    target = {who.argument: principal}
    if event.name in ATTACH:
        return Remediate(resource, action, headline, f"detach {policy} from {who.kind} {principal}",
                         lambda: getattr(iam, who.detach)(**target, PolicyArn=policy), details)
    return Remediate(resource, action, headline, f"delete inline policy {policy} of {who.kind} {principal}",
                     lambda: getattr(iam, who.delete)(**target, PolicyName=policy), details)


def _allowed(run: Run, event: CloudTrailEvent, resource: str, action: str, details: Mapping[str, Any]) -> Skip | None:
    """The skip of a grant made by a principal of `admin_grant_allowed_principals`, or None."""
    allowed = matching_arn(event.actor, run.settings["admin_grant_allowed_principals"])
    if allowed:
        return Skip(resource, action, f"granted by {allowed}, listed in admin_grant_allowed_principals", details)
    return None


def _unless_in_place(in_place: bool, lost: str, resource: str, action: str, tags: Mapping[str, str], headline: str,
                     details: Mapping[str, Any]) -> Skip | None:
    """What stops the removal: the grant is gone already (reported only), or the principal is protected."""
    if not in_place:
        return Skip(resource, action, f"{lost}: only the grant is reported", details, notify=True, headline=headline)
    return protected(resource, action, tags, headline, details)


def _group_membership(run: Run, event: CloudTrailEvent) -> Decision:
    """AddUserToGroup: the user gets the group's rights; admin-equivalent ones are taken back."""
    group, user = event.param_text("groupName"), event.param_text("userName")
    resource, action = f"user/{user}", "remove-user-from-group"
    iam = run.clients("iam")
    with gone_when_missing(f"group/{group}", f"group {group}"):
        found = admin_policy_of(iam, Scope(event.partition, event.account), PRINCIPALS["group"], group)
    details: dict[str, Any] = {"principal_kind": "user", "principal": user, "group": group}
    if found is None:
        return Skip(resource, action, f"group {group} has no admin-equivalent policy", details)
    policy, verdict = found
    details.update(group_policy=policy, verdict=verdict.as_details())
    allowed = _allowed(run, event, resource, action, details)
    if allowed:
        return allowed
    headline = f"user {user} added to admin-equivalent group {group} by {event.actor.label}"
    with gone_when_missing(resource, f"user {user}"):
        tags = principal_tags(iam, PRINCIPALS["user"], user)
        member = group in groups_of_user(iam, user)
    kept = _unless_in_place(member, "the user is no longer in the group", resource, action, tags, headline, details)
    if kept:
        return kept
    return Remediate(resource, action, headline, f"remove user {user} from group {group}",
                     lambda: iam.remove_user_from_group(GroupName=group, UserName=user), details)


handler = rule_handler(SPEC, decide)
