"""What IAM holds now, as the IAM rules read it: principals' tags and policies, managed policies' documents.

Every function takes the IAM client (no client at import time) and raises botocore's
`ClientError` as IAM does; the rules turn `NoSuchEntity` into "gone". Documents are judged by
`automations.security.iam_policy.evaluate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from automations.core.errors import error_code
from automations.core.selection import tag_map
from automations.security.iam_policy import Verdict, evaluate, parse_document

#: The IAM resources of the account, as permission resources (Fn::Sub strings).
IAM_ARN = "arn:${AWS::Partition}:iam::${AWS::AccountId}"
USERS, ROLES, GROUPS = f"{IAM_ARN}:user/*", f"{IAM_ARN}:role/*", f"{IAM_ARN}:group/*"
#: Managed policies: the account's own, and AWS's (account `aws`).
POLICIES = (f"{IAM_ARN}:policy/*", "arn:${AWS::Partition}:iam::aws:policy/*")


@dataclass(frozen=True)
class Principal:
    """One kind of IAM principal: where the event names it, and the boto3 operations on it."""

    kind: str  # "user", "role", "group"
    parameter: str  # requestParameters key and API argument stem: "userName" / "UserName"
    list_attached: str
    list_inline: str
    get_inline: str
    list_tags: str | None  # groups cannot be tagged
    detach: str
    delete: str

    @property
    def argument(self) -> str:
        return self.parameter[0].upper() + self.parameter[1:]


#: principal kind -> its operations (an explicit table, not method names built from strings)
PRINCIPALS = {
    "user": Principal("user", "userName", "list_attached_user_policies", "list_user_policies", "get_user_policy",
                      "list_user_tags", "detach_user_policy", "delete_user_policy"),
    "role": Principal("role", "roleName", "list_attached_role_policies", "list_role_policies", "get_role_policy",
                      "list_role_tags", "detach_role_policy", "delete_role_policy"),
    "group": Principal("group", "groupName", "list_attached_group_policies", "list_group_policies",
                       "get_group_policy", None, "detach_group_policy", "delete_group_policy"),
}


@dataclass(frozen=True)
class Scope:
    """Where documents are judged: the partition and account whose resources "any resource" means."""

    partition: str
    account: str

    def judge(self, document: Mapping[str, Any]) -> Verdict:
        return evaluate(document, partition=self.partition, account=self.account)


def principal_tags(iam: Any, who: Principal, name: str) -> dict[str, str]:
    """Users' and roles' tags; groups cannot be tagged."""
    if who.list_tags is None:
        return {}
    return tag_map(getattr(iam, who.list_tags)(**{who.argument: name}).get("Tags"))


def attached_policies(iam: Any, who: Principal, name: str) -> list[str]:
    """The ARNs of the managed policies attached to the principal, in IAM's order."""
    pages = iam.get_paginator(who.list_attached).paginate(**{who.argument: name})
    return [p["PolicyArn"] for page in pages for p in page.get("AttachedPolicies", [])]


def inline_names(iam: Any, who: Principal, name: str) -> list[str]:
    pages = iam.get_paginator(who.list_inline).paginate(**{who.argument: name})
    return [n for page in pages for n in page.get("PolicyNames", [])]


def inline_document(iam: Any, who: Principal, name: str, policy: str) -> Mapping[str, Any]:
    """The current inline document ({} when the policy is gone but the principal exists)."""
    try:
        response = getattr(iam, who.get_inline)(**{who.argument: name, "PolicyName": policy})
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return {}
        raise
    return parse_document(response.get("PolicyDocument"))


def policy_version_document(iam: Any, arn: str, version: str) -> Mapping[str, Any]:
    response = iam.get_policy_version(PolicyArn=arn, VersionId=version)
    return parse_document(response["PolicyVersion"].get("Document"))


def managed_verdict(iam: Any, scope: Scope, arn: str) -> tuple[Verdict, str]:
    """The verdict on a managed policy's default version, and that version's id."""
    version = str(iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"])
    return scope.judge(policy_version_document(iam, arn, version)), version


def admin_policy_of(iam: Any, scope: Scope, who: Principal, name: str) -> tuple[str, Verdict] | None:
    """The first policy of the principal (managed, then inline) that makes it admin-equivalent, or None.
    Managed policies are named by ARN, inline policies by `inline:<name>`."""
    for arn in attached_policies(iam, who, name):
        verdict, _ = managed_verdict(iam, scope, arn)
        if verdict.admin:
            return arn, verdict
    for policy in inline_names(iam, who, name):
        verdict = scope.judge(inline_document(iam, who, name, policy))
        if verdict.admin:
            return f"inline:{policy}", verdict
    return None


def groups_of_user(iam: Any, user: str) -> list[str]:
    pages = iam.get_paginator("list_groups_for_user").paginate(UserName=user)
    return [g["GroupName"] for page in pages for g in page.get("Groups", [])]
