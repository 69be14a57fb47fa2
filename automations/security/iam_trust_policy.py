"""A role's trust policy opened to anyone, or to an account outside the organization and the allow-list.

`UpdateAssumeRolePolicy` replaces a role's trust policy. When the role's current trust policy
lets in principals outside the boundary (`trust_policy.openings`: `*`, `NotPrincipal`, accounts
that are not the own account, the organization's management account or in
`trust_policy_allowed_accounts`, unless a statement requires the organization's
`aws:PrincipalOrgID`), it is reported; in enforce mode those principals are removed from it.

CloudTrail does not record the document the call replaced, so "restore" means: keep what the
current document lets in from inside, take out what it lets in from outside
(`trust_policy.closed`). The state log keeps the document before and after. Default audit: it
takes access away.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from automations.core.errors import error_code
from automations.core.runtime import Run
from automations.core.selection import tag_map
from automations.core.spec import CloudTrail, Permission, Setting
from automations.security.errors import BadEventError, gone_when_missing
from automations.security.findings import CloudTrailEvent
from automations.security.iam_policy import PolicyDocumentError, parse_document
from automations.security.iam_state import ROLES
from automations.security.reactive import Decision, Remediate, Skip, protected, rule_handler, rule_spec
from automations.security.trust_policy import Boundary, closed, openings

NAME = "iam-trust-policy"
ACTION = "close-trust-policy"

SPEC = rule_spec(
    name=NAME,
    description="Reports a role trust policy opened to anyone or to a foreign account; in enforce mode closes it.",
    trigger=CloudTrail("aws.iam", "iam.amazonaws.com", ("UpdateAssumeRolePolicy",)),
    default_mode="audit",  # removing principals from a trust policy takes access away
    permissions=(
        Permission(("iam:GetRole", "iam:ListRoleTags"), (ROLES,), why="the role's current trust policy and tags"),
        Permission(("organizations:DescribeOrganization",), ("*",),
                   why="the organization's id (DescribeOrganization supports no resource-level permissions)"),
        Permission(("iam:UpdateAssumeRolePolicy",), (ROLES,),
                   why="remove the principals outside the boundary (enforce mode only)"),
    ),
    settings=(
        Setting("trust_policy_allowed_accounts", "list", (),
                "Accounts outside the organization that role trust policies may name (comma-separated "
                "12-digit account ids).",
                pattern=r"\d{12}"),
    ),
)


def decide(run: Run, event: CloudTrailEvent) -> Decision:
    """Report (and in enforce mode close) a trust policy that lets in principals from outside."""
    role = event.param_text("roleName")
    resource = f"role/{role}"
    try:
        requested = parse_document(event.param("policyDocument"))
    except PolicyDocumentError as exc:
        raise BadEventError(f"requestParameters.policyDocument: {exc}") from None
    allowed = frozenset(run.settings["trust_policy_allowed_accounts"])
    if not openings(requested, Boundary(event.account, allowed_accounts=allowed)):
        return Skip(resource, ACTION, "the trust policy lets in only the own account, allow-listed accounts "
                    "and services", {"role": role})
    boundary = organization_boundary(run, event.account, allowed)
    iam = run.clients("iam")
    with gone_when_missing(resource, f"role {role}"):
        current = parse_document(iam.get_role(RoleName=role)["Role"].get("AssumeRolePolicyDocument"))
        tags = tag_map(iam.list_role_tags(RoleName=role).get("Tags"))
    outside = openings(requested, boundary)
    found = openings(current, boundary)
    details: dict[str, Any] = {"role": role, "organization": boundary.org_id or None,
                               "openings": [o.as_details() for o in outside]}
    if not outside:
        return Skip(resource, ACTION, "every principal from outside the account is held to the organization by "
                    "aws:PrincipalOrgID or is its management account", details)
    what = ", ".join(sorted({o.principal for o in (found or outside)}))
    headline = f"trust policy of role {role} opened to {what} by {event.actor.label}"
    if not found:
        return Skip(resource, ACTION, "the trust policy no longer lets anyone in from outside: only the change "
                    "is reported", details, notify=True, headline=headline)
    after = closed(current, found)
    details.update(openings=[o.as_details() for o in found], before=current, after=after)
    guarded = protected(resource, ACTION, tags, headline, details)
    if guarded:
        return guarded
    return Remediate(resource, ACTION, headline, f"remove {what} from the trust policy of role {role}",
                     lambda: iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(after)), details)


def organization_boundary(run: Run, account: str, allowed: frozenset[str]) -> Boundary:
    """The boundary with the organization's id and management account; without them outside an
    organization or when DescribeOrganization is refused (then only conditions on the own account hold)."""
    try:
        organization = run.clients("organizations").describe_organization()["Organization"]
    except ClientError as exc:
        if error_code(exc) in ("AWSOrganizationsNotInUseException", "AccessDeniedException"):
            return Boundary(account, allowed_accounts=allowed)
        raise
    return Boundary(account, str(organization.get("Id", "")), str(organization.get("MasterAccountId", "")), allowed)


handler = rule_handler(SPEC, decide)
