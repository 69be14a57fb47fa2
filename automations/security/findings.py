"""CloudTrail events as the security rules read them: who did what, where and when.

`parse_event` turns an EventBridge envelope around a CloudTrail record into a
`CloudTrailEvent`, or raises `BadEventError` naming what is missing. Nothing here
calls AWS. `finding()` is the record of one event that goes on the state-log item
and in the notification.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

from automations.core.spec import OWN_ROLE_ARN_PREFIX_ENV, OWN_ROLE_NAMES_ENV
from automations.core.truncate import clip
from automations.security.envelope import Envelope
from automations.security.errors import BadEventError

API_CALL = "AWS API Call via CloudTrail"
CONSOLE_SIGN_IN = "AWS Console Sign In via CloudTrail"
#: The `userIdentity.type` of a role session (a Lambda function's calls, among others).
ASSUMED_ROLE = "AssumedRole"

#: How much of a malformed value an error message quotes.
QUOTE_LIMIT_BYTES = 200

log = logging.getLogger(__name__)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class Actor:
    """`userIdentity`: who made the call. Every field is "" when the record does not carry it."""

    type: str
    arn: str
    principal_id: str
    account_id: str
    access_key_id: str
    session_issuer_arn: str  # for assumed roles: the role (with its path), not the session
    user_name: str
    invoked_by: str
    session_issuer_principal_id: str = ""  # for assumed roles: the role's unique id (RoleId, AROA...)
    session_issuer_account_id: str = ""

    @classmethod
    def from_identity(cls, identity: Mapping[str, Any]) -> Actor:
        issuer = _mapping(_mapping(identity.get("sessionContext")).get("sessionIssuer"))
        return cls(
            type=_text(identity.get("type")),
            arn=_text(identity.get("arn")),
            principal_id=_text(identity.get("principalId")),
            account_id=_text(identity.get("accountId")),
            access_key_id=_text(identity.get("accessKeyId")),
            session_issuer_arn=_text(issuer.get("arn")),
            user_name=_text(identity.get("userName")),
            invoked_by=_text(identity.get("invokedBy")),
            session_issuer_principal_id=_text(issuer.get("principalId")),
            session_issuer_account_id=_text(issuer.get("accountId")),
        )

    @property
    def arns(self) -> tuple[str, ...]:
        """The ARNs that identify the actor: its own, and its session issuer's."""
        return tuple(a for a in (self.arn, self.session_issuer_arn) if a)

    @property
    def label(self) -> str:
        return self.session_issuer_arn or self.arn or self.principal_id or self.type or "unknown"

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in {
            "type": self.type, "arn": self.arn, "principal_id": self.principal_id,
            "account_id": self.account_id, "access_key_id": self.access_key_id,
            "session_issuer_arn": self.session_issuer_arn,
            "session_issuer_principal_id": self.session_issuer_principal_id,
            "session_issuer_account_id": self.session_issuer_account_id, "user_name": self.user_name,
            "invoked_by": self.invoked_by,
        }.items() if v}


@dataclass(frozen=True)
class CloudTrailEvent(Envelope):
    """One CloudTrail record inside its EventBridge envelope (`time`: the record's `eventTime`)."""

    name: str
    event_source: str
    actor: Actor
    source_ip: str
    user_agent: str
    request: Mapping[str, Any]  # requestParameters ({} when the record has none)
    response: Mapping[str, Any]  # responseElements ({} when the record has none)
    cloudtrail_event_id: str
    error_code: str
    detail: Mapping[str, Any]

    @property
    def partition(self) -> str:
        for arn in (*self.actor.arns, _text(self.response.get("trailARN"))):
            parts = arn.split(":")
            if len(parts) > 2 and parts[0] == "arn" and parts[1]:
                return parts[1]
        if self.region.startswith("cn-"):
            return "aws-cn"
        return "aws-us-gov" if self.region.startswith("us-gov-") else "aws"

    def param(self, *path: str) -> Any:
        """A required value of requestParameters; `BadEventError` names the missing path."""
        return require(self.request, "requestParameters", *path)

    def param_text(self, *path: str) -> str:
        value = self.param(*path)
        if not isinstance(value, str) or not value:
            raise BadEventError(f"requestParameters.{'.'.join(path)} is not a non-empty string: "
                                f"{clip(repr(value), QUOTE_LIMIT_BYTES)}")
        return value

    def describe(self) -> str:
        """One sentence for the notification: who called what, where and when."""
        return (f"{self.actor.label} ({self.actor.type or 'unknown type'}) called {self.name} in {self.region} of "
                f"account {self.account} at {self.time}")

    def summary(self) -> dict[str, Any]:
        """Who, where, when: what every finding says about the event (never the whole record)."""
        return {
            "event": {k: v for k, v in {
                "id": self.id, "cloudtrail_event_id": self.cloudtrail_event_id, "name": self.name,
                "source": self.event_source or self.source, "detail_type": self.detail_type, "time": self.time,
                "region": self.region, "account": self.account, "error_code": self.error_code,
            }.items() if v},
            "actor": self.actor.as_dict(),
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
        }


def require(data: Mapping[str, Any], label: str, *path: str) -> Any:
    """`data[path[0]][path[1]]...`, or `BadEventError` naming the first missing step."""
    value: Any = data
    walked = [label]
    for step in path:
        walked.append(step)
        if not isinstance(value, Mapping) or value.get(step) is None:
            raise BadEventError(f"{'.'.join(walked)} is missing")
        value = value[step]
    return value


def parse_event(event: Mapping[str, Any]) -> CloudTrailEvent:
    """Read the fields every rule relies on; raise `BadEventError` when one is missing."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise BadEventError("the event has no detail object")
    envelope_id = _text(event.get("id"))
    if not envelope_id:
        raise BadEventError("the event has no id")
    name = _text(detail.get("eventName"))
    if not name:
        raise BadEventError("detail.eventName is missing")
    identity = detail.get("userIdentity")
    if not isinstance(identity, Mapping):
        raise BadEventError("detail.userIdentity is missing")
    region = _text(detail.get("awsRegion")) or _text(event.get("region"))
    if not region:
        raise BadEventError("the event names no region (detail.awsRegion)")
    request = detail.get("requestParameters")
    response = detail.get("responseElements")
    return CloudTrailEvent(
        id=envelope_id,
        detail_type=_text(event.get("detail-type")),
        source=_text(event.get("source")),
        account=_text(detail.get("recipientAccountId")) or _text(event.get("account")),
        region=region,
        name=name,
        event_source=_text(detail.get("eventSource")),
        time=_text(detail.get("eventTime")) or _text(event.get("time")),
        actor=Actor.from_identity(identity),
        source_ip=_text(detail.get("sourceIPAddress")),
        user_agent=_text(detail.get("userAgent")),
        request=_mapping(request),
        response=_mapping(response),
        cloudtrail_event_id=_text(detail.get("eventID")),
        error_code=_text(detail.get("errorCode")),
        detail=detail,
    )


def matching_arn(actor: Actor, patterns: Iterable[str]) -> str | None:
    """The first of the actor's ARNs matching one of the (fnmatch) patterns, if any."""
    patterns = [p for p in patterns if p]
    for arn in actor.arns:
        if any(fnmatchcase(arn, pattern) for pattern in patterns):
            return arn
    return None


#: An IAM role name (what `Ref` of a role gives): letters, digits and `+=,.@_-` (IAM allows 64; the emulator's
#: generated names are longer, and the length proves nothing either way).
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,128}")
#: The ARN prefix of Caretaker's roles in this account (`arn:<partition>:iam::<account>:role/caretaker/`).
ROLE_ARN_PREFIX = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/caretaker/")


@lru_cache(maxsize=8)
def parse_own_role_arns(prefix: str, names_text: str) -> frozenset[str]:
    """The exact ARNs of Caretaker's own roles: `CARETAKER_OWN_ROLE_ARN_PREFIX` + each name of
    `CARETAKER_OWN_ROLE_NAMES`. A prefix that is not this shape, or an entry that is not a role name (a pattern,
    an ARN, a path), trusts nothing (with a warning)."""
    if not ROLE_ARN_PREFIX.fullmatch(prefix):
        if prefix or names_text.strip(","):
            log.warning("%s is not a Caretaker role ARN prefix: %s", OWN_ROLE_ARN_PREFIX_ENV,
                        clip(prefix, QUOTE_LIMIT_BYTES))
        return frozenset()
    entries = [entry.strip() for entry in names_text.split(",") if entry.strip()]
    bad = [entry for entry in entries if not ROLE_NAME.fullmatch(entry)]
    if bad:
        log.warning("%s: ignoring entries that are not IAM role names: %s", OWN_ROLE_NAMES_ENV,
                    clip(", ".join(bad), QUOTE_LIMIT_BYTES))
    return frozenset(prefix + entry for entry in entries if entry not in bad)


def own_role_arns(environ: Mapping[str, str]) -> frozenset[str]:
    """The exact ARNs of Caretaker's own roles, from the deploy-time prefix and names (parsed once per value)."""
    return parse_own_role_arns(environ.get(OWN_ROLE_ARN_PREFIX_ENV, ""), environ.get(OWN_ROLE_NAMES_ENV, ""))


def arn_account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" else ""


def caretaker_cause(actor: Actor, own_arns: Collection[str], ignored: Sequence[str], account: str) -> str | None:
    """Why the event is Caretaker's own doing (and must be ignored), or None.

    Own: the call was made in a session of a role whose ARN is exactly one of `own_arns` (`own_role_arns`, known at
    deploy time), of the event's `account`. Never a path, a name pattern or a session name: anyone who may create
    roles can create one under `/caretaker/` or named `caretaker-*`, and a session's name is the caller's choice.
    `ignored` (the operator's `ignore_principal_arns`, wildcards allowed) is checked after.
    """
    issuer = actor.session_issuer_arn if actor.type == ASSUMED_ROLE else ""
    if issuer and issuer in own_arns and account and arn_account(issuer) == account:
        return f"caused by Caretaker's own role {issuer} (its exact ARN)"
    listed = matching_arn(actor, ignored)
    if listed:
        return f"caused by {listed}, listed in ignore_principal_arns"
    return None
