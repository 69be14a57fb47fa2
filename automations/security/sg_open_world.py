"""Security group ingress open to the world on a port outside the allow-list: revoke exactly those rules.

The decision is made on the group's current rules (DescribeSecurityGroupRules), not on
the event: the event may be stale, or already undone. Only the rules the event added or
changed are considered (by rule id; by protocol, ports and range when the record has no id).

"Open to the world" is decided on networks (`ip_ranges`), not on the text `0.0.0.0/0`: prefix
length 0, or a public range broader than `min_public_prefix_ipv4` / `min_public_prefix_ipv6`
that is not wholly private; a rule whose source is a managed prefix list is open when one
entry of the list is (`prefix_lists`). A list that cannot be read is reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from automations.core.errors import error_code
from automations.core.runtime import Run
from automations.core.selection import NOT_PROTECTED, tag_map
from automations.core.spec import CloudTrail, Permission, Setting
from automations.security.errors import BadEventError, ResourceGoneError, gone_when_missing
from automations.security.findings import CloudTrailEvent
from automations.security.ip_ranges import (
    DEFAULT_MIN_PREFIX_IPV4,
    DEFAULT_MIN_PREFIX_IPV6,
    Thresholds,
    Verdict,
    classify,
    normalized,
)
from automations.security.prefix_lists import PrefixLists
from automations.security.reactive import Decision, Remediate, Report, Skip, protected, rule_handler, rule_spec

NAME = "sg-open-world"
ACTION = "revoke-ingress"
_PORT = r"([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_EC2 = "arn:${AWS::Partition}:ec2:*:${AWS::AccountId}"
_GONE = ("InvalidGroup.NotFound", "InvalidGroupId.NotFound")
_RULE_GONE = ("InvalidPermission.NotFound", "InvalidSecurityGroupRuleId.NotFound")
_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}

SPEC = rule_spec(
    name=NAME,
    description="Revokes security group ingress open to the world (directly or through a prefix list) on ports "
                "outside an allow-list.",
    trigger=CloudTrail("aws.ec2", "ec2.amazonaws.com", ("AuthorizeSecurityGroupIngress", "ModifySecurityGroupRules")),
    default_mode="enforce",  # revoking world-open ingress only restores protection
    permissions=(
        Permission(("ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules"),
                   why="the group's current state; Describe* has no resource-level scoping"),
        Permission(("ec2:GetManagedPrefixListEntries",), ("arn:${AWS::Partition}:ec2:*:*:prefix-list/*",),
                   why="the entries of a prefix list a rule lets in; any owner, as a rule may reference an "
                       "AWS-managed list (owner aws) or one shared from another account"),
        Permission(("ec2:RevokeSecurityGroupIngress",),
                   (f"{_EC2}:security-group/*", f"{_EC2}:security-group-rule/*"),
                   condition=NOT_PROTECTED,
                   why="revoke the offending rules; never on a group tagged caretaker:protect=true"),
    ),
    settings=(
        Setting("allowed_ports", "list", ("80", "443"),
                "TCP/UDP ports (or ranges like 8000-8080) that may stay open to the world.",
                pattern=f"{_PORT}(-{_PORT})?"),
        Setting("min_public_prefix_ipv4", "int", DEFAULT_MIN_PREFIX_IPV4,
                "A public IPv4 source range with a prefix length shorter than this is open to the world "
                "(/0 always is; private ranges never are).", minimum=1, maximum=32),
        Setting("min_public_prefix_ipv6", "int", DEFAULT_MIN_PREFIX_IPV6,
                "A public IPv6 source range with a prefix length shorter than this is open to the world "
                "(::/0 always is; ULA, link-local and loopback never are).", minimum=1, maximum=128),
    ),
)


def decide(run: Run, event: CloudTrailEvent) -> Decision:
    """Revoke world-open ingress rules the event added or changed, if they are still there."""
    ec2 = run.clients("ec2", event.region)
    group = describe_group(ec2, event)
    group_id = group["GroupId"]
    rules = current_ingress(ec2, group_id)
    touched = touched_rule_ids(event)
    if touched:
        candidates = [r for r in rules if r["SecurityGroupRuleId"] in touched]
    else:
        requested = requested_permissions(event)
        candidates = [r for r in rules if rule_key(r) in requested]
    thresholds = Thresholds(int(run.settings["min_public_prefix_ipv4"]), int(run.settings["min_public_prefix_ipv6"]))
    lists = PrefixLists(ec2)
    offending, unresolved = judge(candidates, parse_allowed(run.settings["allowed_ports"]), thresholds, lists)
    details: dict[str, Any] = {
        "group_id": group_id, "group_name": group.get("GroupName", ""), "vpc_id": group.get("VpcId", ""),
        "allowed_ports": list(run.settings["allowed_ports"]),
        "thresholds": {"ipv4": thresholds.ipv4, "ipv6": thresholds.ipv6},
        "rules": [describe_rule(r, v) for r, v in offending]}
    if unresolved:
        details["unresolved"] = unresolved
    if not offending and unresolved:
        unread = sorted(lists.errors)
        return Report(group_id, f"{group_id}: prefix list {', '.join(unread)} could not be read, so it is not known "
                      f"whether {', '.join(u['rule'] for u in unresolved)} is open to the world", details)
    if not offending:
        return Skip(group_id, ACTION, "no rule from this event is open to the world on a port outside the "
                    "allow-list in the group's current state",
                    {**details, "rules_checked": [describe_rule(r) for r in candidates]})
    headline = f"{group_id} allows {', '.join(label(r) for r, _ in offending)}"
    guarded = protected(group_id, ACTION, tag_map(group.get("Tags")), headline, details)
    if guarded:
        return guarded
    ids = [r["SecurityGroupRuleId"] for r, _ in offending]
    return Remediate(group_id, ACTION, headline, f"revoke ingress rule(s) {', '.join(ids)}",
                     lambda: revoke(ec2, group_id, ids), details, result_details=lambda r: r)


handler = rule_handler(SPEC, decide)


# ---------------------------------------------------------------------- the event


def group_reference(event: CloudTrailEvent) -> tuple[str, str]:
    """(group id, group name) from either event shape; at least one is set."""
    request = event.request
    modify = request.get("ModifySecurityGroupRulesRequest")
    if isinstance(modify, Mapping):
        group_id = modify.get("GroupId")
        if not isinstance(group_id, str) or not group_id:
            raise BadEventError("requestParameters.ModifySecurityGroupRulesRequest.GroupId is missing")
        return group_id, ""
    group_id = request.get("groupId")
    if isinstance(group_id, str) and group_id:
        return group_id, ""
    for item in _items(event.response.get("securityGroupRuleSet")):
        if isinstance(item.get("groupId"), str):
            return item["groupId"], ""
    group_name = request.get("groupName")
    if isinstance(group_name, str) and group_name:
        return "", group_name
    raise BadEventError("requestParameters has neither groupId nor groupName")


def touched_rule_ids(event: CloudTrailEvent) -> set[str]:
    """Rule ids the event names: the rules Authorize created, or the rules Modify changed."""
    modify = event.request.get("ModifySecurityGroupRulesRequest")
    if isinstance(modify, Mapping):
        entries = modify.get("SecurityGroupRule")
        entries = entries if isinstance(entries, list) else [entries]
        ids = {e["SecurityGroupRuleId"] for e in entries
               if isinstance(e, Mapping) and isinstance(e.get("SecurityGroupRuleId"), str)}
        if not ids:
            raise BadEventError("requestParameters.ModifySecurityGroupRulesRequest.SecurityGroupRule "
                                "names no SecurityGroupRuleId")
        return ids
    return {item["securityGroupRuleId"] for item in _items(event.response.get("securityGroupRuleSet"))
            if isinstance(item.get("securityGroupRuleId"), str) and not item.get("isEgress")}


#: (protocol, from port, to port, source): the source is a CIDR's network as EC2 stores it, or a prefix list id
RuleKey = tuple[str, int, int, str]


def requested_permissions(event: CloudTrailEvent) -> set[RuleKey]:
    """(protocol, from, to, source) of every range and prefix list AuthorizeSecurityGroupIngress asked for.

    CIDRs are normalised: EC2 stores `0.0.0.0/1` for a requested `1.2.3.4/1`."""
    request = event.request
    permissions = _items(request.get("ipPermissions"))
    if not permissions and "ipProtocol" in request:  # the single-rule form of the call
        permissions = [{**request, "ipRanges": {"items": [{"cidrIp": request.get("cidrIp")}]}}]
    if not permissions:
        raise BadEventError("requestParameters.ipPermissions.items is missing")
    keys: set[RuleKey] = set()
    for permission in permissions:
        protocol = protocol_name(permission.get("ipProtocol"))
        low, high = _port(permission.get("fromPort")), _port(permission.get("toPort"))
        cidrs = [r.get("cidrIp") for r in _items(permission.get("ipRanges"))]
        cidrs += [r.get("cidrIpv6") for r in _items(permission.get("ipv6Ranges"))]
        keys.update((protocol, low, high, normalized(cidr)) for cidr in cidrs if isinstance(cidr, str))
        lists = [r.get("prefixListId") for r in _items(permission.get("prefixListIds"))]
        keys.update((protocol, low, high, pl) for pl in lists if isinstance(pl, str))
    return keys


def _items(value: Any) -> list[Mapping[str, Any]]:
    """CloudTrail's EC2 lists: `{"items": [...]}` (or a bare list); anything else is empty."""
    if isinstance(value, Mapping):
        value = value.get("items")
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _port(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def protocol_name(value: Any) -> str:
    text = str(value if value is not None else "-1").lower()
    return _PROTOCOLS.get(text, text)


# ---------------------------------------------------------------------- current state


def describe_group(ec2: Any, event: CloudTrailEvent) -> Mapping[str, Any]:
    group_id, group_name = group_reference(event)
    with gone_when_missing(group_id or group_name, f"security group {group_id or group_name}", _GONE):
        if group_id:
            groups = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
        else:
            groups = ec2.describe_security_groups(GroupNames=[group_name])["SecurityGroups"]
    if not groups:
        raise ResourceGoneError(group_id or group_name, f"security group {group_id or group_name} no longer exists")
    group: Mapping[str, Any] = groups[0]
    return group


def current_ingress(ec2: Any, group_id: str) -> list[Mapping[str, Any]]:
    pages = ec2.get_paginator("describe_security_group_rules").paginate(
        Filters=[{"Name": "group-id", "Values": [group_id]}])
    return [r for page in pages for r in page.get("SecurityGroupRules", []) if not r.get("IsEgress")]


def rule_key(rule: Mapping[str, Any]) -> RuleKey:
    cidr = rule.get("CidrIpv4") or rule.get("CidrIpv6")
    source = normalized(str(cidr)) if cidr else str(rule.get("PrefixListId") or "")
    return (protocol_name(rule.get("IpProtocol")), _port(rule.get("FromPort")), _port(rule.get("ToPort")), source)


def judge(candidates: Sequence[Mapping[str, Any]], allowed: Sequence[tuple[int, int]], thresholds: Thresholds,
          lists: PrefixLists) -> tuple[list[tuple[Mapping[str, Any], Verdict]], list[dict[str, Any]]]:
    """(offending rules with why, rules whose prefix list could not be read); allowed ports are left out."""
    offending: list[tuple[Mapping[str, Any], Verdict]] = []
    unresolved: list[dict[str, Any]] = []
    for rule in candidates:
        if is_allowed(rule, allowed):
            continue
        verdict = world_source(rule, thresholds, lists)
        if verdict is not None:
            offending.append((rule, verdict))
        elif rule.get("PrefixListId") in lists.errors:
            unresolved.append({**describe_rule(rule), "error": lists.errors[str(rule["PrefixListId"])]})
    return offending, unresolved


def world_source(rule: Mapping[str, Any], thresholds: Thresholds, lists: PrefixLists) -> Verdict | None:
    """Why the rule's source is open to the world (for a prefix list: its first open entry), or None."""
    cidr = rule.get("CidrIpv4") or rule.get("CidrIpv6")
    if isinstance(cidr, str):
        try:
            verdict = classify(cidr, thresholds)
        except ValueError:
            return None
        return verdict if verdict.world_open else None
    prefix_list = rule.get("PrefixListId")
    if isinstance(prefix_list, str) and prefix_list:
        return lists.first_open(prefix_list, thresholds)
    return None  # another security group as the source


def parse_allowed(values: Iterable[str]) -> list[tuple[int, int]]:
    """"80", "8000-8080" -> [(80, 80), (8000, 8080)]."""
    ranges: list[tuple[int, int]] = []
    for value in values:
        low, _, high = value.partition("-")
        ranges.append((int(low), int(high or low)))
    return ranges


def is_allowed(rule: Mapping[str, Any], allowed: Sequence[tuple[int, int]]) -> bool:
    """Only TCP/UDP rules whose whole port range lies inside one allowed range; all-traffic never."""
    if protocol_name(rule.get("IpProtocol")) not in ("tcp", "udp"):
        return False
    low, high = _port(rule.get("FromPort")), _port(rule.get("ToPort"))
    return low >= 0 and any(a <= low and high <= b for a, b in allowed)


def label(rule: Mapping[str, Any]) -> str:
    protocol = protocol_name(rule.get("IpProtocol"))
    low, high = _port(rule.get("FromPort")), _port(rule.get("ToPort"))
    source = source_of(rule)
    if protocol == "-1":
        return f"all traffic from {source}"
    if protocol in ("tcp", "udp"):
        ports = str(low) if low == high else f"{low}-{high}"
        return f"{ports}/{protocol} from {source}"
    return f"{protocol} from {source}"


def source_of(rule: Mapping[str, Any]) -> str:
    """The rule's source as EC2 reports it: a CIDR, a prefix list, or another group."""
    cidr = rule.get("CidrIpv4") or rule.get("CidrIpv6")
    if cidr:
        return str(cidr)
    if rule.get("PrefixListId"):
        return f"prefix list {rule['PrefixListId']}"
    group = rule.get("ReferencedGroupInfo")
    return f"group {group.get('GroupId')}" if isinstance(group, Mapping) else "unknown source"


def describe_rule(rule: Mapping[str, Any], verdict: Verdict | None = None) -> dict[str, Any]:
    described: dict[str, Any] = {"rule_id": rule.get("SecurityGroupRuleId"), "rule": label(rule),
                                 "description": rule.get("Description") or None}
    if verdict is not None:
        shown = verdict.cidr if verdict.cidr == verdict.network else f"{verdict.cidr} ({verdict.network})"
        held = f"prefix list {rule['PrefixListId']} holds " if rule.get("PrefixListId") else ""
        described["open_because"] = f"{held}{shown}: {verdict.why}"
    return described


# ---------------------------------------------------------------------- the remedy


def revoke(ec2: Any, group_id: str, rule_ids: list[str]) -> dict[str, Any]:
    """Revoke by rule id. A rule removed meanwhile is not an error: the others are revoked."""
    try:
        ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=rule_ids)
        return {"revoked": rule_ids}
    except ClientError as exc:
        if error_code(exc) not in _RULE_GONE:
            raise
    remaining = [r["SecurityGroupRuleId"] for r in current_ingress(ec2, group_id)
                 if r["SecurityGroupRuleId"] in rule_ids]
    if remaining:
        ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=remaining)
    return {"revoked": remaining, "already_gone": sorted(set(rule_ids) - set(remaining))}
