"""Does an IAM policy document grant admin-equivalent access? A pure evaluator: no AWS calls.

`evaluate(document, partition=, account=)` returns a `Verdict`: admin-equivalent or not, and
the statement and reason that make it so. An `Allow` statement counts (its `Condition` is
ignored: a condition an attacker writes is one the attacker can satisfy) when it allows

1. every action (`Action: "*"`, `"*:*"`) on a broad resource;
2. anything through `NotAction` on a broad resource ("everything except ..." is broad by
   construction, whatever the list leaves out);
3. every IAM action (`iam:*`) on IAM's resources;
4. one of the known IAM self-escalation actions (`ESCALATION_ACTIONS`: attach or put policies,
   create or set policy versions, pass a role, update a trust policy, add a user to a group,
   create access keys or login profiles for others) on any resource of the kind it acts on.

Matching follows IAM: actions case-insensitively with `*` and `?`, resources case-sensitively
with `*` and `?` (so `arn:aws:*:*:*:*` and `arn:*` match everything), `Action`/`NotAction`/
`Resource`/`NotResource` as a string or a list. "Broad" and "any resource of a kind" are decided
by matching probe ARNs of arbitrary names (`PROBE_NAME`) in the account: `arn:aws:iam::*:user/*`
is broad for users, `arn:aws:iam::111122223333:user/${aws:username}` is not.

`parse_document` reads a document as CloudTrail and IAM hand it over: an object, a JSON string,
or a URL-encoded JSON string (RFC 3986, as `GetPolicyVersion` and `GetRolePolicy` return it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

__all__ = ["ESCALATION_ACTIONS", "PolicyDocumentError", "Verdict", "evaluate", "grants_admin", "parse_document",
           "statements"]

#: IAM actions that let a principal give itself (or anyone) more rights, with the kind of IAM resource each
#: acts on. Allowed on any resource of that kind, each one is as good as administrator access.
ESCALATION_ACTIONS: Mapping[str, str] = {
    "iam:AttachUserPolicy": "user", "iam:AttachRolePolicy": "role", "iam:AttachGroupPolicy": "group",
    "iam:PutUserPolicy": "user", "iam:PutRolePolicy": "role", "iam:PutGroupPolicy": "group",
    "iam:CreatePolicyVersion": "policy", "iam:SetDefaultPolicyVersion": "policy",
    "iam:PassRole": "role", "iam:UpdateAssumeRolePolicy": "role", "iam:AddUserToGroup": "group",
    "iam:CreateAccessKey": "user", "iam:CreateLoginProfile": "user", "iam:UpdateLoginProfile": "user",
}
#: The name of the made-up resources a pattern must match to count as "any resource".
PROBE_NAME = "caretaker-probe-7f3a"
#: An account id for the probes when the caller does not know the account.
UNKNOWN_ACCOUNT = "000000000000"


class PolicyDocumentError(ValueError):
    """The value is not a JSON policy document."""


@dataclass(frozen=True)
class Verdict:
    """Whether a document grants admin-equivalent access, and which statement does (index into Statement)."""

    admin: bool
    reason: str
    statement: int | None = None
    sid: str = ""

    def as_details(self) -> dict[str, Any]:
        """What the state log and the notification say about it."""
        out: dict[str, Any] = {"admin_equivalent": self.admin, "reason": self.reason}
        if self.statement is not None:
            out["statement"] = self.statement
        if self.sid:
            out["sid"] = self.sid
        return out


NOT_ADMIN_REASON = "no Allow statement grants admin-equivalent access"


# ---------------------------------------------------------------------- reading documents


def parse_document(value: Any) -> Mapping[str, Any]:
    """A policy document from an object, a JSON string or a URL-encoded JSON string."""
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        raise PolicyDocumentError("the policy document is neither a JSON object nor a string")
    text = value.strip()
    if not text.startswith("{") and "%" in text:
        text = unquote(text).strip()
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise PolicyDocumentError("the policy document is not valid JSON") from None
    if not isinstance(document, Mapping):
        raise PolicyDocumentError("the policy document is not a JSON object")
    return document


def statements(document: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    """(index, statement) of every statement object: `Statement` may be one object or a list."""
    raw = document.get("Statement")
    listed = raw if isinstance(raw, list) else [raw]
    return [(i, s) for i, s in enumerate(listed) if isinstance(s, Mapping)]


def _strings(value: Any) -> tuple[str, ...] | None:
    """A string-or-list element as a tuple of strings; None when the element is absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


# ---------------------------------------------------------------------- matching


@lru_cache(maxsize=1024)
def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: `*` any run of characters (colons and slashes too), `?` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _matches(patterns: Iterable[str], value: str, *, ignore_case: bool) -> bool:
    return any(_compile(p, ignore_case).fullmatch(value) for p in patterns)


def _allows(listed: tuple[str, ...] | None, negated: tuple[str, ...] | None, value: str, *,
            ignore_case: bool) -> bool:
    """Action/NotAction (or Resource/NotResource) semantics for one value."""
    if listed is not None:
        return _matches(listed, value, ignore_case=ignore_case)
    if negated is not None:
        return not _matches(negated, value, ignore_case=ignore_case)
    return False


def _probes(kind: str, partition: str, account: str) -> tuple[str, ...]:
    """Made-up ARNs of one kind of resource: a pattern matching all of them matches any such resource."""
    iam = f"arn:{partition}:iam::{account}"
    if kind in ("user", "role", "group", "policy"):
        return (f"{iam}:{kind}/{PROBE_NAME}", f"{iam}:{kind}/team/{PROBE_NAME}")
    return (f"{iam}:user/{PROBE_NAME}", f"{iam}:role/{PROBE_NAME}",
            f"arn:{partition}:s3:::{PROBE_NAME}/object", f"arn:{partition}:ec2:us-east-1:{account}:instance/i-0f3a",
            f"arn:{partition}:kms:eu-west-1:{account}:key/{PROBE_NAME}",
            f"arn:{partition}:lambda:ap-south-1:{account}:function:{PROBE_NAME}")


def _only_wildcards(pattern: str) -> bool:
    return bool(pattern) and set(pattern) <= {"*", ":"} and "*" in pattern


# ---------------------------------------------------------------------- the verdict


def evaluate(document: Mapping[str, Any], *, partition: str = "aws", account: str = "") -> Verdict:
    """The first statement (in document order) that makes the document admin-equivalent, or a negative verdict."""
    account = account or UNKNOWN_ACCOUNT
    for index, statement in statements(document):
        reason = _statement_reason(statement, partition, account)
        if reason:
            sid = statement.get("Sid")
            return Verdict(True, reason, index, sid if isinstance(sid, str) else "")
    return Verdict(False, NOT_ADMIN_REASON)


def grants_admin(document: Mapping[str, Any], *, partition: str = "aws", account: str = "") -> bool:
    return evaluate(document, partition=partition, account=account).admin


def _statement_reason(statement: Mapping[str, Any], partition: str, account: str) -> str:
    if str(statement.get("Effect", "")).lower() != "allow":
        return ""
    actions, not_actions = _strings(statement.get("Action")), _strings(statement.get("NotAction"))
    resources, not_resources = _strings(statement.get("Resource")), _strings(statement.get("NotResource"))

    def on_all(kind: str) -> bool:
        return all(_allows(resources, not_resources, probe, ignore_case=False)
                   for probe in _probes(kind, partition, account))

    broad = on_all("any")
    where = _where(resources, not_resources)
    if actions is not None and broad and any(_only_wildcards(a) for a in actions):
        return f"allows every action ({_quote(actions)}) on {where}"
    if not_actions is not None and broad:
        return f"allows every action except NotAction {_quote(not_actions)} on {where}"
    if actions is not None and any(a.lower().startswith("iam:") and _only_wildcards(a[4:]) for a in actions) \
            and all(on_all(kind) for kind in ("user", "role", "group", "policy")):
        return f"allows every IAM action (iam:*) on {where}"
    for action, kind in ESCALATION_ACTIONS.items():
        if _allows(actions, not_actions, action, ignore_case=True) and on_all(kind):
            how = f"Action {_quote(actions)}" if actions is not None else f"NotAction {_quote(not_actions or ())}"
            return f"allows {action} ({how}) on any IAM {kind}, a known self-escalation"
    return ""


def _where(resources: Sequence[str] | None, not_resources: Sequence[str] | None) -> str:
    if resources is not None:
        return f"Resource {_quote(resources)}"
    return f"every resource except NotResource {_quote(not_resources or ())}"


def _quote(values: Sequence[str]) -> str:
    shown = ", ".join(values[:5]) + (f", ... ({len(values)} in all)" if len(values) > 5 else "")
    return f"[{shown}]"
