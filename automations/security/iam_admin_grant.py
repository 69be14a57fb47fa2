"""Administrator rights granted to a user, role or group by a principal outside the allow-list.

AWS's AdministratorAccess attached, or an inline policy put whose document allows `*` on `*`:
notified always; in enforce mode the policy is detached (managed) or deleted (inline).
Default audit: it takes access away.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from automations.core.registry import register
from automations.core.runtime import Run
from automations.core.spec import CloudTrail, FunctionSpec, Permission, Setting
from automations.security.errors import BadEventError, ResourceGoneError
from automations.security.findings import CloudTrailEvent, matching_arn, tag_dict
from automations.security.reactive import (
    Decision,
    Remediate,
    Skip,
    error_code,
    protected,
    rule_handler,
    security_settings,
)

NAME = "iam-admin-grant"
#: Matches AdministratorAccess in every partition (arn:aws:..., arn:aws-cn:..., arn:aws-us-gov:...).
ADMIN_POLICY_SUFFIX = ":iam::aws:policy/AdministratorAccess"
ATTACH = ("AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy")
PUT = ("PutUserPolicy", "PutRolePolicy", "PutGroupPolicy")


@dataclass(frozen=True)
class Principal:
    """One kind of IAM principal: where the event names it, and the boto3 operations on it."""

    kind: str  # "user", "role", "group"
    parameter: str  # requestParameters key and API argument stem: "userName" / "UserName"
    list_attached: str
    get_inline: str
    list_tags: str | None  # groups cannot be tagged
    detach: str
    delete: str

    @property
    def argument(self) -> str:
        return self.parameter[0].upper() + self.parameter[1:]


#: principal kind -> its operations (an explicit table, not method names built from strings)
PRINCIPALS = {
    "user": Principal("user", "userName", "list_attached_user_policies", "get_user_policy", "list_user_tags",
                      "detach_user_policy", "delete_user_policy"),
    "role": Principal("role", "roleName", "list_attached_role_policies", "get_role_policy", "list_role_tags",
                      "detach_role_policy", "delete_role_policy"),
    "group": Principal("group", "groupName", "list_attached_group_policies", "get_group_policy", None,
                       "detach_group_policy", "delete_group_policy"),
}
EVENT_PRINCIPAL = {"AttachUserPolicy": "user", "PutUserPolicy": "user", "AttachRolePolicy": "role",
                   "PutRolePolicy": "role", "AttachGroupPolicy": "group", "PutGroupPolicy": "group"}
_IAM = "arn:${AWS::Partition}:iam::${AWS::AccountId}"
_PRINCIPALS = (f"{_IAM}:user/*", f"{_IAM}:role/*", f"{_IAM}:group/*")


SPEC = register(FunctionSpec(
    name=NAME,
    description="Reports administrator rights granted outside the allow-list; in enforce mode removes them.",
    handler=__name__ + ".handler",
    trigger=CloudTrail(
        "aws.iam", "iam.amazonaws.com", ATTACH + PUT,
        # attachments only of AdministratorAccess; inline documents are read by the handler
        detail={"$or": [{"eventName": sorted(PUT)},
                        {"requestParameters": {"policyArn": [{"suffix": ADMIN_POLICY_SUFFIX}]}}]},
    ),
    default_mode="audit",  # detaching or deleting a policy takes access away
    timeout=60,
    memory=256,
    permissions=(
        Permission(("iam:ListAttachedUserPolicies", "iam:ListAttachedRolePolicies", "iam:ListAttachedGroupPolicies",
                    "iam:GetUserPolicy", "iam:GetRolePolicy", "iam:GetGroupPolicy",
                    "iam:ListUserTags", "iam:ListRoleTags"),
                   _PRINCIPALS, why="the principal's current policies and its protect tag"),
        Permission(("iam:DetachUserPolicy", "iam:DetachRolePolicy", "iam:DetachGroupPolicy",
                    "iam:DeleteUserPolicy", "iam:DeleteRolePolicy", "iam:DeleteGroupPolicy"), _PRINCIPALS,
                   why="remove the administrator policy (enforce mode only)"),
    ),
    settings=security_settings(
        Setting("admin_grant_allowed_principals", "list", (),
                "Principals allowed to grant administrator rights (comma-separated ARNs, * and ? allowed; "
                "for assumed roles, the role ARN with its path).",
                pattern=r"arn:[^\s,]+"),
    ),
))


def decide(run: Run, event: CloudTrailEvent) -> Decision:
    """Report (and in enforce mode remove) an administrator grant, unless an allowed principal made it."""
    if event.name not in EVENT_PRINCIPAL:
        raise BadEventError(f"{event.name} is not one of the events this rule handles")
    who = PRINCIPALS[EVENT_PRINCIPAL[event.name]]
    principal = event.param_text(who.parameter)
    resource = f"{who.kind}/{principal}"
    iam = run.clients("iam")
    if event.name in ATTACH:
        policy = event.param_text("policyArn")
        action = f"detach-{who.kind}-policy"
        if not policy.endswith(ADMIN_POLICY_SUFFIX):
            return Skip(resource, action, f"{policy} is not AWS's AdministratorAccess")
        grant = f"AdministratorAccess attached to {who.kind} {principal}"
        details: dict[str, Any] = {"principal_kind": who.kind, "principal": principal, "policy_arn": policy}
    else:
        policy = event.param_text("policyName")
        action = f"delete-{who.kind}-policy"
        if not grants_admin(parse_document(event.param("policyDocument"))):
            return Skip(resource, action, f"inline policy {policy} does not allow * on *")
        grant = f"inline policy {policy} allowing * on * put on {who.kind} {principal}"
        details = {"principal_kind": who.kind, "principal": principal, "policy_name": policy}
    allowed = matching_arn(event.actor, run.settings["admin_grant_allowed_principals"])
    if allowed:
        return Skip(resource, action, f"granted by {allowed}, listed in admin_grant_allowed_principals", details)
    headline = f"{grant} by {event.actor.label}"
    try:
        tags = principal_tags(iam, who, principal)  # also: NoSuchEntity when the principal is gone
        attached = attached_policies(iam, who, principal)
        still = policy in attached if event.name in ATTACH else grants_admin(inline_document(iam, who, principal,
                                                                                             policy))
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            raise ResourceGoneError(resource, f"{who.kind} {principal} no longer exists") from None
        raise
    if not still:
        return Skip(resource, action, "the grant is no longer in place: only the grant is reported", details,
                    notify=True, headline=headline)
    guarded = protected(resource, action, tags, headline, details)
    if guarded:
        return guarded
    target = {who.argument: principal}
    if event.name in ATTACH:
        return Remediate(resource, action, headline, f"detach {policy} from {who.kind} {principal}",
                         lambda: getattr(iam, who.detach)(**target, PolicyArn=policy), details)
    return Remediate(resource, action, headline, f"delete inline policy {policy} of {who.kind} {principal}",
                     lambda: getattr(iam, who.delete)(**target, PolicyName=policy), details)


handler = rule_handler(SPEC, decide)


def parse_document(value: Any) -> Mapping[str, Any]:
    """A policy document as CloudTrail records it: a JSON string (sometimes URL-encoded) or an object."""
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        raise BadEventError("requestParameters.policyDocument is not a JSON document")
    text = value.strip()
    if text.startswith("%7B") or text.startswith("%7b"):
        text = unquote(text)
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise BadEventError("requestParameters.policyDocument is not valid JSON") from None
    if not isinstance(document, Mapping):
        raise BadEventError("requestParameters.policyDocument is not a JSON object")
    return document


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants_admin(document: Mapping[str, Any]) -> bool:
    """True when a statement allows every action (`*` or `*:*`) on every resource (`*`), conditions or not."""
    for statement in _as_list(document.get("Statement")):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        actions = _as_list(statement.get("Action"))
        resources = _as_list(statement.get("Resource"))
        if any(a in ("*", "*:*") for a in actions) and "*" in resources:
            return True
    return False


def attached_policies(iam: Any, who: Principal, principal: str) -> set[str]:
    pages = iam.get_paginator(who.list_attached).paginate(**{who.argument: principal})
    return {p["PolicyArn"] for page in pages for p in page.get("AttachedPolicies", [])}


def inline_document(iam: Any, who: Principal, principal: str, policy: str) -> Mapping[str, Any]:
    """The current inline document ({} when the policy is gone); boto3 already decodes it."""
    try:
        response = getattr(iam, who.get_inline)(**{who.argument: principal, "PolicyName": policy})
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return {}  # the principal exists (checked before): the policy is gone
        raise
    return parse_document(response.get("PolicyDocument"))


def principal_tags(iam: Any, who: Principal, principal: str) -> dict[str, str]:
    """Users' and roles' tags; groups cannot be tagged."""
    if who.list_tags is None:
        return {}
    return tag_dict(getattr(iam, who.list_tags)(**{who.argument: principal}).get("Tags"))
