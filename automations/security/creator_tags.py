"""creator-tags: new resources are tagged with who created them and when, from the CloudTrail create call.

`caretaker:created-by` is the principal's ARN (for a role session: the role's ARN, with its path, and
the session name, e.g. `arn:aws:iam::123456789012:role/dev/Developer session:alice@example.com`), and
`caretaker:created-at` the event's time. The calls answered, and where each records the new ids, are
declared in `create_calls.CREATE_CALLS`; the tag calls per service are in `resource_tags`.

Tags are only ever added: a key the resource already has is never written. A resource that already
carries `caretaker:created-by` with another value (pre-tagged at creation to hide who made it) is
left as it is; the state log keeps what CloudTrail says, and the mismatch is notified. The IAM
statements enforce this too, where the service supports `aws:ResourceTag` on its tag call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from automations.core.codec import iso
from automations.core.iam_rules import only_tag_keys
from automations.core.runtime import Run
from automations.core.selection import CREATED_AT_TAG, CREATED_BY_TAG, PROTECT_TAG, is_protected
from automations.core.spec import EventPattern, Permission
from automations.security.create_calls import CreateCall, create_call, pattern
from automations.security.errors import BadEventError, ResourceGoneError
from automations.security.findings import ASSUMED_ROLE, Actor, CloudTrailEvent
from automations.security.reactive import EVALUATE, Decision, Remediate, Skip, event_ref, rule_handler, rule_spec
from automations.security.resource_tags import TAGGERS

NAME = "creator-tags"
ACTION = "tag-creator"
#: AWS's tag value limit (EC2, S3, Lambda, RDS, DynamoDB, ELB: 256 Unicode characters)
TAG_VALUE_LIMIT = 256
#: Characters every tagging service accepts in a value; any other is written as `_`.
_NOT_TAG_SAFE = re.compile(r"[^\w .:/=+\-@]")

_EC2 = "arn:${AWS::Partition}:ec2:*:${AWS::AccountId}"
_EC2_PUBLIC = "arn:${AWS::Partition}:ec2:*:"  # snapshots and images: ARNs without an account


def _add_only() -> dict[str, dict[str, Any]]:
    """A tag call that may add only the two creator keys, never to a resource that has
    `caretaker:created-by` already or is protected."""
    condition = only_tag_keys(CREATED_BY_TAG, CREATED_AT_TAG)
    condition["Null"] = {**condition["Null"], f"aws:ResourceTag/{CREATED_BY_TAG}": "true"}
    condition["StringNotEqualsIgnoreCase"] = {f"aws:ResourceTag/{PROTECT_TAG}": "true"}
    return condition


SPEC = rule_spec(
    name=NAME,
    description="Tags new resources with caretaker:created-by and caretaker:created-at from the CloudTrail create "
                "call (never over an existing tag).",
    trigger=EventPattern(pattern()),
    default_mode="enforce",  # adds information only
    permissions=(
        Permission(("ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeSnapshots",
                    "ec2:DescribeSecurityGroups", "ec2:DescribeImages", "ec2:DescribeLaunchTemplates",
                    "ec2:DescribeAddresses", "ec2:DescribeNatGateways"),
                   why="the new resource's current tags; these Describe actions have no resource-level scoping"),
        Permission(("ec2:CreateTags",),
                   (f"{_EC2}:instance/*", f"{_EC2}:volume/*", f"{_EC2_PUBLIC}:snapshot/*",
                    f"{_EC2}:security-group/*", f"{_EC2_PUBLIC}:image/*", f"{_EC2}:launch-template/*",
                    f"{_EC2}:elastic-ip/*", f"{_EC2}:natgateway/*"),
                   condition=_add_only(),
                   why="add the creator tags only, never over an existing caretaker:created-by or to a "
                       "protected resource"),
        Permission(("s3:GetBucketTagging", "s3:PutBucketTagging"), ("arn:${AWS::Partition}:s3:::*",),
                   why="S3 replaces a bucket's whole tag set and has no tag-key or resource-tag condition for "
                       "it: the handler writes back every tag it read (docs/security-rules.md)"),
        Permission(("lambda:ListTags",), ("arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:*",),
                   why="the new function's current tags"),
        Permission(("lambda:TagResource",), ("arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:*",),
                   condition=_add_only(), why="add the creator tags only"),
        Permission(("rds:ListTagsForResource",), ("arn:${AWS::Partition}:rds:*:${AWS::AccountId}:db:*",),
                   why="the new DB instance's current tags"),
        Permission(("rds:AddTagsToResource",), ("arn:${AWS::Partition}:rds:*:${AWS::AccountId}:db:*",),
                   condition=_add_only(), why="add the creator tags only"),
        Permission(("dynamodb:ListTagsOfResource",),
                   ("arn:${AWS::Partition}:dynamodb:*:${AWS::AccountId}:table/*",),
                   why="the new table's current tags"),
        Permission(("dynamodb:TagResource",), ("arn:${AWS::Partition}:dynamodb:*:${AWS::AccountId}:table/*",),
                   condition=_add_only(), why="add the creator tags only"),
        Permission(("elasticloadbalancing:DescribeTags",), why="Describe* of Elastic Load Balancing takes only *"),
        Permission(("elasticloadbalancing:AddTags",),
                   ("arn:${AWS::Partition}:elasticloadbalancing:*:${AWS::AccountId}:loadbalancer/*",),
                   condition=_add_only(), why="add the creator tags only"),
    ),
)


# ---------------------------------------------------------------------- who and when


def tag_safe(value: str) -> str:
    """A value every tagging service accepts: unsupported characters as `_`, at most 256 characters."""
    return _NOT_TAG_SAFE.sub("_", value)[:TAG_VALUE_LIMIT]


def created_by(actor: Actor) -> str:
    """The principal's ARN; for a role session the role's ARN and the session name (the part of the
    assumed-role ARN after the role name); for an AWS service its name. `BadEventError` when the
    record names nobody."""
    if actor.type == ASSUMED_ROLE and actor.session_issuer_arn:
        _, slash, session = actor.arn.rpartition("/")
        return tag_safe(f"{actor.session_issuer_arn} session:{session}" if slash and session
                        else actor.session_issuer_arn)
    who = actor.arn or actor.invoked_by
    if not who:
        raise BadEventError("detail.userIdentity names no principal (no arn, no invokedBy)")
    return tag_safe(who)


def created_at(run: Run, event: CloudTrailEvent) -> str:
    return tag_safe(event.time or iso(run.clock()))


# ---------------------------------------------------------------------- the decision


def decide(run: Run, event: CloudTrailEvent) -> Decision:
    """Tag the resources the create call made with their creator, where they lack the tags."""
    call = create_call(event)
    if call is None:
        return Skip(event_ref(event.id), EVALUATE,
                    f"not a declared create call: {event.name} from {event.event_source or event.source}")
    ids = call.resource_ids(event)
    wanted = {CREATED_BY_TAG: created_by(event.actor), CREATED_AT_TAG: created_at(run, event)}
    tagger = TAGGERS[call.service]
    client = run.clients(tagger.client_name, event.region)
    current = tagger.current(client, call.kind, ids)
    sorted_out = sort_out(ids, current, wanted[CREATED_BY_TAG])
    todo = list(sorted_out.pop("todo"))
    details: dict[str, Any] = {"kind": call.kind, "call": call.name, "resources": ids, "created_by": wanted[
        CREATED_BY_TAG], "created_at": wanted[CREATED_AT_TAG]}
    others = {reason: found for reason, found in sorted_out.items() if found}
    if others:
        details["not_tagged"] = {reason: sorted(found) for reason, found in others.items()}
    if not todo:
        return _nothing_to_tag(run, call, others, details)
    for found in others.values():
        for resource, why in found.items():
            run.skip(resource, ACTION, why, details)
    missing = {resource: {k: v for k, v in wanted.items() if k not in current[resource]} for resource in todo}
    listed = ", ".join(todo)
    headline = f"new {call.kind} {listed} created by {wanted[CREATED_BY_TAG]}"
    if others.get("kept"):
        headline += f"; {', '.join(sorted(others['kept']))} already claims another creator"
    return Remediate(todo[0], ACTION, headline, f"tag {listed} with {CREATED_BY_TAG} and {CREATED_AT_TAG}",
                     lambda: _tag(tagger, client, call.kind, missing), details, also=tuple(todo[1:]),
                     notify=bool(others.get("kept")))


def sort_out(ids: Sequence[str], current: Mapping[str, Mapping[str, str]], creator: str) -> dict[str, dict[str, str]]:
    """Each resource under what happens to it, with why: `todo` (lacks a tag), `kept` (claims another creator),
    `protected`, `tagged` (carries this creator already), `gone`."""
    out: dict[str, dict[str, str]] = {"todo": {}, "kept": {}, "protected": {}, "tagged": {}, "gone": {}}
    for resource in ids:
        tags = current.get(resource)
        if tags is None:
            out["gone"][resource] = f"gone: {resource} no longer exists"
        elif is_protected(tags):
            out["protected"][resource] = f"protected: tagged {PROTECT_TAG}=true"
        elif CREATED_BY_TAG in tags and tags[CREATED_BY_TAG] != creator:
            out["kept"][resource] = (f"kept: already tagged {CREATED_BY_TAG}={tags[CREATED_BY_TAG]!r}, but CloudTrail "
                                     f"records {creator!r} as the creator; Caretaker never overwrites a tag")
        elif CREATED_BY_TAG in tags:
            out["tagged"][resource] = f"already tagged {CREATED_BY_TAG}={tags[CREATED_BY_TAG]!r}"
        else:
            out["todo"][resource] = ""
    return out


def _nothing_to_tag(run: Run, call: CreateCall, others: Mapping[str, Mapping[str, str]],
                    details: Mapping[str, Any]) -> Decision:
    """One decision for the first resource of the weightiest kind; the others are recorded skipped here."""
    order = ("kept", "protected", "tagged", "gone")
    first_kind = next(kind for kind in order if others.get(kind))
    first, why = next(iter(others[first_kind].items()))
    for kind in order:
        for resource, reason in others.get(kind, {}).items():
            if resource != first:
                run.skip(resource, ACTION, reason, details)
    if first_kind == "gone":
        raise ResourceGoneError(first, f"{call.kind} {first} no longer exists")
    headline = {"kept": f"{call.kind} {first} claims another creator than CloudTrail records",
                "protected": f"new {call.kind} {first} is protected"}.get(first_kind, "")
    return Skip(first, ACTION, why, details, notify=first_kind in ("kept", "protected"), headline=headline)


def _tag(tagger: Any, client: Any, kind: str, missing: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """One tag call per set of missing keys (usually one for all)."""
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for resource, tags in missing.items():
        groups.setdefault(tuple(sorted(tags.items())), []).append(resource)
    for tags_items, resources in groups.items():
        tagger.add(client, kind, resources, dict(tags_items))
    return {"tags": {k: v for tags in missing.values() for k, v in tags.items()}}


handler = rule_handler(SPEC, decide)
