"""Who a role's trust policy lets in from outside: a pure evaluator, no AWS calls.

`openings(document, boundary)` lists what an `Allow` statement opens beyond the boundary (the
own account, the organization, the allow-listed accounts):

- `Principal: "*"` or `{"AWS": "*"}`: anyone in any account;
- `NotPrincipal`: everyone except the listed principals;
- an AWS principal (`123456789012`, `arn:aws:iam::123456789012:root`, a role or user ARN, an
  assumed-role ARN) of an account that is neither the own account, nor the organization's
  management account, nor in the allow-list; or a value naming no account at all.

A statement whose `Condition` restricts `aws:PrincipalOrgID` to the organization's id, or
`aws:PrincipalAccount` to accounts inside the boundary (`StringEquals`/`StringLike`, or their
`ForAnyValue:` forms; the `IfExists` and `ForAllValues:` forms hold when the key is absent, so they
restrict nothing), opens nothing. `Service`, `Federated` and `CanonicalUser` principals are
not judged here.

`closed(document, found)` is the document without them: offending AWS principals removed from
their statements, statements left without a principal (and `*` / `NotPrincipal` statements)
dropped; when no statement is left, one that denies everyone (IAM refuses an empty trust policy).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from automations.security.iam_policy import statements

__all__ = ["Boundary", "Opening", "account_of", "closed", "openings"]

_ACCOUNT = re.compile(r"\d{12}")
_ARN_ACCOUNT = re.compile(r"arn:[a-z-]+:(?:iam|sts)::(\d{12}):.+")
#: Condition operators that hold only when the key is present and matches.
_RESTRICTING = {"stringequals", "stringlike", "foranyvalue:stringequals", "foranyvalue:stringlike"}
#: When every statement is closed: IAM refuses a trust policy without statements.
DENY_EVERYONE = {"Sid": "CaretakerClosedOpenTrust", "Effect": "Deny", "Principal": {"AWS": "*"},
                 "Action": "sts:AssumeRole"}


@dataclass(frozen=True)
class Boundary:
    """Who is inside: the own account, the organization (when known), the allow-listed accounts."""

    own_account: str
    org_id: str = ""
    management_account: str = ""
    allowed_accounts: frozenset[str] = field(default_factory=frozenset)

    def inside(self, account: str) -> bool:
        return account in {self.own_account, self.management_account, *self.allowed_accounts} - {""}


@dataclass(frozen=True)
class Opening:
    """One thing a statement lets in from outside the boundary."""

    statement: int
    principal: str  # "*", "NotPrincipal", or the AWS principal as written
    reason: str

    def as_details(self) -> dict[str, Any]:
        return {"statement": self.statement, "principal": self.principal, "reason": self.reason}


def account_of(principal: str) -> str:
    """The account an AWS principal belongs to ("" when it names none)."""
    if _ACCOUNT.fullmatch(principal):
        return principal
    found = _ARN_ACCOUNT.fullmatch(principal)
    return found.group(1) if found else ""


def _values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _restricted(condition: Any, boundary: Boundary) -> bool:
    """True when the statement's conditions admit only principals inside the boundary."""
    if not isinstance(condition, Mapping):
        return False
    for operator, tests in condition.items():
        if str(operator).lower() not in _RESTRICTING or not isinstance(tests, Mapping):
            continue
        for key, value in tests.items():
            wanted = _values(value)
            if not wanted:
                continue
            if str(key).lower() == "aws:principalorgid" and boundary.org_id \
                    and all(v == boundary.org_id for v in wanted):
                return True
            if str(key).lower() == "aws:principalaccount" and all(boundary.inside(v) for v in wanted):
                return True
    return False


def _aws_principals(principal: Any) -> list[str] | None:
    """The AWS principals of a `Principal` element; None for `"*"` (anyone)."""
    if principal == "*":
        return None
    if isinstance(principal, Mapping):
        return _values(principal.get("AWS"))
    return []


def openings(document: Mapping[str, Any], boundary: Boundary) -> list[Opening]:
    """What the document's Allow statements let in from outside the boundary, in document order."""
    found: list[Opening] = []
    for index, statement in statements(document):
        if str(statement.get("Effect", "")).lower() != "allow" or _restricted(statement.get("Condition"), boundary):
            continue
        if "NotPrincipal" in statement:
            found.append(Opening(index, "NotPrincipal", "NotPrincipal lets in everyone except the listed principals"))
            continue
        principals = _aws_principals(statement.get("Principal"))
        if principals is None:
            found.append(Opening(index, "*", "Principal * lets in anyone in any account"))
            continue
        for principal in principals:
            account = account_of(principal)
            if principal == "*":
                found.append(Opening(index, principal, "AWS * lets in anyone in any account"))
            elif not account:
                found.append(Opening(index, principal, "names no account Caretaker can place inside the boundary"))
            elif not boundary.inside(account):
                found.append(Opening(index, principal, f"account {account} is outside the own account, the "
                                     "organization and trust_policy_allowed_accounts"))
    return found


def closed(document: Mapping[str, Any], found: list[Opening]) -> dict[str, Any]:
    """The document without what `found` lists (see the module docstring)."""
    by_statement: dict[int, set[str]] = {}
    for opening in found:
        by_statement.setdefault(opening.statement, set()).add(opening.principal)
    kept: list[Any] = []
    for index, statement in statements(document):
        offending = by_statement.get(index)
        if not offending:
            kept.append(copy.deepcopy(statement))
            continue
        principal = statement.get("Principal")
        if "NotPrincipal" in offending or not isinstance(principal, Mapping):
            continue  # NotPrincipal, or Principal "*": the whole statement is the opening
        remaining = {k: copy.deepcopy(v) for k, v in principal.items() if k != "AWS"}
        aws = [p for p in _values(principal.get("AWS")) if p not in offending]
        if aws:
            remaining["AWS"] = aws if len(aws) > 1 else aws[0]
        if remaining:
            kept.append({**copy.deepcopy(dict(statement)), "Principal": remaining})
    result = {k: copy.deepcopy(v) for k, v in document.items() if k != "Statement"}
    result["Statement"] = kept or [dict(DENY_EVERYONE)]
    return result
