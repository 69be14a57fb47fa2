"""An IAM user's access key found in public or used from outside: deactivate it and quarantine its user.

Triggers: AWS Health `AWS_RISK_CREDENTIALS_EXPOSED` (the event names the key; its user is resolved
with `GetAccessKeyLastUsed`) and GuardDuty credential findings on access keys. The key is set
`Inactive` (never deleted: its owner still sees it, and it is the evidence) and AWS's quarantine
managed policy is attached to its user. Default `enforce`: this is the containment AWS itself asks for
(docs/security-rules.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from automations.core.errors import error_code
from automations.core.runtime import Run
from automations.core.selection import NOT_PROTECTED, tag_map
from automations.core.spec import AnyOf, GuardDuty, Health, Permission, Setting
from automations.security.errors import BadEventError, ResourceGoneError
from automations.security.event_kinds import GUARDDUTY, HEALTH, either
from automations.security.reactive import Decision, Remediate, Report, Skip, protected, rule_handler, rule_spec
from automations.security.service_events import GuardDutyFinding, HealthEvent
from automations.security.steps import Step, run_steps

NAME = "exposed-credentials"
ACTION = "contain-exposed-key"
DEACTIVATE = "deactivate-access-key"
QUARANTINE = "attach-quarantine-policy"
HEALTH_EVENT = "AWS_RISK_CREDENTIALS_EXPOSED"
#: The GuardDuty findings that say an access key's credentials are in someone else's hands.
CREDENTIAL_FINDINGS = (
    "CredentialAccess:IAMUser/AnomalousBehavior",
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS",
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
)
#: AWS's newest compromised-key quarantine policy (V3, 2024; AWS attaches it itself to users whose keys it
#: finds exposed). Its name in every partition; the ARN is built with the event's partition.
QUARANTINE_POLICY_NAME = "AWSCompromisedKeyQuarantineV3"
#: An IAM access key id: long-term keys start AKIA, temporary (session) credentials ASIA.
ACCESS_KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z0-9]{12,124}")
_USERS = "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*"
_GONE = ("NoSuchEntity",)

SPEC = rule_spec(
    name=NAME,
    description="Deactivates an IAM user's access key that AWS Health or GuardDuty reports exposed, and attaches "
                "AWS's quarantine policy to the user; never deletes.",
    trigger=AnyOf((Health((HEALTH_EVENT,)), GuardDuty("AccessKey", CREDENTIAL_FINDINGS))),
    default_mode="enforce",  # the containment AWS asks for; docs/security-rules.md says why it is not audit
    permissions=(
        Permission(("iam:GetAccessKeyLastUsed", "iam:ListAccessKeys", "iam:ListUserTags",
                    "iam:ListAttachedUserPolicies"), (_USERS,),
                   why="whose key it is, its status, the user's protect tag and attached policies"),
        Permission(("iam:UpdateAccessKey",), (_USERS,), condition=NOT_PROTECTED,
                   why="deactivate the key (enforce mode only); never a user tagged caretaker:protect=true"),
        Permission(("iam:AttachUserPolicy",), (_USERS,),
                   condition={"StringLike": {"iam:PolicyARN": f"arn:*:iam::aws:policy/{QUARANTINE_POLICY_NAME}"},
                              **NOT_PROTECTED},
                   why="attach AWS's quarantine policy, and no other policy, to the key's user; never a "
                       "protected user"),
    ),
    settings=(
        Setting("quarantine_policy", "bool", True,
                f"Attach AWS's {QUARANTINE_POLICY_NAME} managed policy to the user whose key is exposed "
                "(false: only deactivate the key)."),
    ),
)

Event = HealthEvent | GuardDutyFinding


@dataclass(frozen=True)
class ExposedKey:
    """The key an event names, and what it says about it."""

    key_id: str
    user_name: str  # the user the event names ("" when it names only the key: Health)
    where: str  # where it was found or used: Health's description, GuardDuty's finding and remote address


def health_key(event: HealthEvent) -> ExposedKey:
    """The one access key a Health event names (AWS sends one event per exposed key)."""
    keys = [k for k in event.entities if ACCESS_KEY_ID.fullmatch(k)]
    if not keys:
        raise BadEventError(f"the Health event names no access key id (affected entities: "
                            f"{', '.join(event.entities) or 'none'})")
    if len(keys) > 1:
        raise BadEventError(f"the Health event names {len(keys)} access keys; AWS sends one event per key")
    return ExposedKey(keys[0], "", event.description)


def decide(run: Run, event: Event) -> Decision:
    """Deactivate the exposed access key and quarantine its user; never delete anything."""
    if isinstance(event, HealthEvent):
        key = health_key(event)
    else:
        who = event.access_key
        if who is None or not who.access_key_id:
            raise BadEventError("the finding names no access key (detail.resource.accessKeyDetails.accessKeyId)")
        used = f"used from {event.remote_ip or 'an unknown address'}"
        if who.user_type != "IAMUser":  # an instance role's session, root, a federated user: no key to deactivate
            return Report(f"access-key/{who.access_key_id}",
                          f"{event.type}: credentials of {who.user_type or 'an unknown principal'} "
                          f"{who.user_name or who.principal_id} ({who.access_key_id}) {used}",
                          {"access_key": who.as_dict(),
                           "note": "temporary credentials cannot be deactivated: revoke the role's active sessions "
                                   "and find how they left the instance"})
        key = ExposedKey(who.access_key_id, who.user_name, f"{event.type}: {used}")
    iam = run.clients("iam")
    partition = _partition(event)
    user = _owner(iam, key)
    user_arn = f"arn:{partition}:iam::{event.account}:user/{user}"
    status = _key_status(iam, user, key.key_id)
    policy_arn = f"arn:{partition}:iam::aws:policy/{QUARANTINE_POLICY_NAME}"
    quarantine = bool(run.settings["quarantine_policy"])
    attached = _attached(iam, user, policy_arn)
    details: dict[str, Any] = {"access_key_id": key.key_id, "user_name": user, "user_arn": user_arn,
                               "event_user_name": key.user_name if key.user_name != user else None,
                               "key_status": status, "found": key.where or None,
                               "quarantine_policy": policy_arn if quarantine else None,
                               "quarantine_attached": attached}
    details = {k: v for k, v in details.items() if v is not None}
    headline = f"access key {key.key_id} of IAM user {user} is exposed ({event.name})"
    guarded = protected(user_arn, ACTION, tag_map(iam.list_user_tags(UserName=user).get("Tags")), headline,
                        details)
    if guarded:
        return guarded
    steps: list[Step] = []
    if status == "Active":
        steps.append((DEACTIVATE, f"deactivate access key {key.key_id} of {user}",
                      lambda: iam.update_access_key(UserName=user, AccessKeyId=key.key_id, Status="Inactive")))
    if quarantine and not attached:
        steps.append((QUARANTINE, f"attach {QUARANTINE_POLICY_NAME} to {user}",
                      lambda: iam.attach_user_policy(UserName=user, PolicyArn=policy_arn)))
    if not steps:
        return Skip(user_arn, ACTION, "already contained: the key is inactive"
                    + (" and the quarantine policy attached" if quarantine else ""), details, notify=True,
                    headline=headline)
    remedy = " and ".join(what for _, what, _ in steps)
    return Remediate(user_arn, ACTION, headline, remedy,
                     lambda: {"steps": run_steps(run, user_arn, steps, keep_going=True)}, details,
                     result_details=lambda result: result)


handler = rule_handler(SPEC, decide, kind=either(HEALTH, GUARDDUTY))


def _partition(event: Event) -> str:
    arn = event.event_arn if isinstance(event, HealthEvent) else event.finding_arn
    parts = arn.split(":")
    return parts[1] if len(parts) > 2 and parts[0] == "arn" and parts[1] else "aws"


def _owner(iam: Any, key: ExposedKey) -> str:
    """The user the key belongs to, from IAM (never only from the event): `GetAccessKeyLastUsed`."""
    try:
        user = str(iam.get_access_key_last_used(AccessKeyId=key.key_id).get("UserName") or "")
    except ClientError as exc:
        if error_code(exc) in _GONE:
            raise ResourceGoneError(f"access-key/{key.key_id}",
                                    f"access key {key.key_id} no longer exists (deleted already)") from None
        raise
    if not user:
        raise ResourceGoneError(f"access-key/{key.key_id}", f"access key {key.key_id} belongs to no IAM user")
    return user


def _key_status(iam: Any, user: str, key_id: str) -> str:
    for page in iam.get_paginator("list_access_keys").paginate(UserName=user):
        for meta in page.get("AccessKeyMetadata", []):
            if isinstance(meta, Mapping) and meta.get("AccessKeyId") == key_id:
                return str(meta.get("Status", ""))
    raise ResourceGoneError(f"access-key/{key_id}", f"access key {key_id} of {user} no longer exists")


def _attached(iam: Any, user: str, policy_arn: str) -> bool:
    for page in iam.get_paginator("list_attached_user_policies").paginate(UserName=user):
        if any(p.get("PolicyArn") == policy_arn for p in page.get("AttachedPolicies", [])):
            return True
    return False
