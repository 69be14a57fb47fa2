"""Attacks on sg-open-world's idea of "the world": ranges that let everyone in without the text 0.0.0.0/0.

Each attack opens SSH to the world in a way string matching misses; sg-open-world must revoke exactly
that rule (as EC2 stores it) and record it. Beside each, the legitimate ranges that must stay open.
moto 5.2.5 stores a CIDR as written (EC2 stores its network); where that matters, the group is given
the network EC2 would store and the event keeps the text the caller sent.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from automations.security import sg_open_world
from tests.automations.security.conftest import Harness, load_event, outcomes
from tests.recording import RecordingClients

Permission = dict[str, Any]


def ssh(*cidrs: str, prefix_lists: tuple[str, ...] = ()) -> Permission:
    """TCP 22 from the given ranges and prefix lists (boto3 shape)."""
    v4 = [{"CidrIp": c} for c in cidrs if ":" not in c]
    v6 = [{"CidrIpv6": c} for c in cidrs if ":" in c]
    return {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": v4, "Ipv6Ranges": v6,
            "PrefixListIds": [{"PrefixListId": p} for p in prefix_lists]}


def recorded(permission: Permission) -> dict[str, Any]:
    """The same permission as CloudTrail records it in requestParameters.ipPermissions.items."""
    item: dict[str, Any] = {"ipProtocol": permission["IpProtocol"], "groups": {}}
    if "FromPort" in permission:
        item.update(fromPort=permission["FromPort"], toPort=permission["ToPort"])
    item["ipRanges"] = {"items": [{"cidrIp": r["CidrIp"]} for r in permission.get("IpRanges", [])]}
    item["ipv6Ranges"] = {"items": [{"cidrIpv6": r["CidrIpv6"]} for r in permission.get("Ipv6Ranges", [])]}
    item["prefixListIds"] = {"items": [{"prefixListId": p["PrefixListId"]}
                                       for p in permission.get("PrefixListIds", [])]}
    return item


def ingress(ec2: Any, group_id: str) -> dict[str, dict[str, Any]]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return {r["SecurityGroupRuleId"]: r for r in rules["SecurityGroupRules"] if not r["IsEgress"]}


def sources(ec2: Any, group_id: str) -> set[str]:
    rules = ingress(ec2, group_id).values()
    return {r.get("CidrIpv4") or r.get("CidrIpv6") or r.get("PrefixListId", "") for r in rules}


def authorize(ec2: Any, group_id: str, applied: list[Permission], requested: list[Permission] | None = None,
              *, rule_ids: bool = True) -> dict[str, Any]:
    """Authorize `applied` in moto; the event records `requested` (default: the same) and, with `rule_ids`,
    the rules the call created (as CloudTrail's securityGroupRuleSet does)."""
    before = set(ingress(ec2, group_id))
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=applied)
    created = {k: v for k, v in ingress(ec2, group_id).items() if k not in before}
    event = load_event("authorize_security_group_ingress")
    detail = event["detail"]
    detail["requestParameters"] = {"groupId": group_id,
                                   "ipPermissions": {"items": [recorded(p) for p in requested or applied]}}
    detail["responseElements"] = {"requestId": "5c0f5f2a-0d5e-4a5b-9f0e-2d8e1d8c7b6a", "_return": True}
    if rule_ids:
        detail["responseElements"]["securityGroupRuleSet"] = {"items": [
            {"groupId": group_id, "securityGroupRuleId": rule_id, "isEgress": False} for rule_id in created]}
    return event


def prefix_list(ec2: Any, *cidrs: str, family: str = "IPv4") -> str:
    created = ec2.create_managed_prefix_list(PrefixListName=f"list-{len(cidrs)}-{cidrs[0]}", AddressFamily=family,
                                             MaxEntries=10, Entries=[{"Cidr": c} for c in cidrs])
    return str(created["PrefixList"]["PrefixListId"])


def revoked(harness: Harness, summary: dict[str, Any]) -> dict[str, Any]:
    """The succeeded revocation record of the run (after its planned record)."""
    items = harness.items(summary)
    assert outcomes(items) == [("revoke-ingress", "planned"), ("revoke-ingress", "succeeded")]
    return items[-1]


# ---------------------------------------------------------------------- attacks


def test_the_two_halves_of_the_ipv4_space_are_revoked(harness: Harness, ec2: Any, group: str) -> None:
    event = authorize(ec2, group, [ssh("0.0.0.0/1", "128.0.0.0/1")])

    summary = harness.invoke(sg_open_world.handler, event)

    assert sources(ec2, group) == set()
    done = revoked(harness, summary)
    assert {r["rule"] for r in done["details"]["rules"]} == {"22/tcp from 0.0.0.0/1", "22/tcp from 128.0.0.0/1"}
    assert {r["open_because"] for r in done["details"]["rules"]} == {
        "0.0.0.0/1: public range broader than /8", "128.0.0.0/1: public range broader than /8"}
    [note] = harness.notifications()
    assert note["body"]["caretaker"]["outcome"] == "succeeded"


def test_the_two_halves_set_by_modify_security_group_rules_are_revoked(harness: Harness, ec2: Any,
                                                                        group: str) -> None:
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[ssh("10.0.0.0/8", "10.1.0.0/16")])
    ids = list(ingress(ec2, group))
    halves = ("0.0.0.0/1", "128.0.0.0/1")
    ec2.modify_security_group_rules(GroupId=group, SecurityGroupRules=[
        {"SecurityGroupRuleId": rule_id, "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                                              "CidrIpv4": half}}
        for rule_id, half in zip(ids, halves, strict=True)])
    event = load_event("modify_security_group_rules")
    modify = event["detail"]["requestParameters"]["ModifySecurityGroupRulesRequest"]
    template = modify["SecurityGroupRule"]
    modify["GroupId"] = group
    modify["SecurityGroupRule"] = [
        {**copy.deepcopy(template), "SecurityGroupRuleId": rule_id,
         "SecurityGroupRule": {**template["SecurityGroupRule"], "FromPort": 22, "ToPort": 22, "CidrIpv4": half}}
        for rule_id, half in zip(ids, halves, strict=True)]

    summary = harness.invoke(sg_open_world.handler, event)

    assert sources(ec2, group) == set()
    assert sorted(revoked(harness, summary)["details"]["revoked"]) == sorted(ids)


def test_a_prefix_list_holding_the_world_gets_its_rule_revoked_and_the_list_kept(harness: Harness, ec2: Any,
                                                                                  group: str) -> None:
    world = prefix_list(ec2, "10.0.0.0/8", "0.0.0.0/0")
    event = authorize(ec2, group, [ssh(prefix_lists=(world,))])

    summary = harness.invoke(sg_open_world.handler, event)

    assert sources(ec2, group) == set()
    entries = ec2.get_managed_prefix_list_entries(PrefixListId=world)["Entries"]
    assert {e["Cidr"] for e in entries} == {"10.0.0.0/8", "0.0.0.0/0"}  # the list itself is not Caretaker's
    [rule] = revoked(harness, summary)["details"]["rules"]
    assert rule["rule"] == f"22/tcp from prefix list {world}"
    assert rule["open_because"] == f"prefix list {world} holds 0.0.0.0/0: prefix length 0: every address"


def test_a_prefix_list_found_by_permission_when_the_record_has_no_rule_ids(harness: Harness, ec2: Any,
                                                                           group: str) -> None:
    world = prefix_list(ec2, "128.0.0.0/1")
    event = authorize(ec2, group, [ssh(prefix_lists=(world,))], rule_ids=False)

    summary = harness.invoke(sg_open_world.handler, event)

    assert sources(ec2, group) == set()
    assert revoked(harness, summary)["details"]["rules"][0]["rule"] == f"22/tcp from prefix list {world}"


def test_host_bits_in_the_request_are_matched_to_the_network_ec2_stored(harness: Harness, ec2: Any,
                                                                         group: str) -> None:
    # the caller sent 1.2.3.4/1 and 0.0.0.1/0; EC2 stored 0.0.0.0/1 and 0.0.0.0/0; the record has no rule ids
    event = authorize(ec2, group, applied=[ssh("0.0.0.0/1", "0.0.0.0/0")],
                      requested=[ssh("1.2.3.4/1", "0.0.0.1/0")], rule_ids=False)

    summary = harness.invoke(sg_open_world.handler, event)

    assert sources(ec2, group) == set()
    assert {r["rule"] for r in revoked(harness, summary)["details"]["rules"]} == {
        "22/tcp from 0.0.0.0/1", "22/tcp from 0.0.0.0/0"}


def test_a_stored_cidr_with_host_bits_is_judged_by_its_network(harness: Harness, ec2: Any, group: str) -> None:
    # moto keeps the text as sent: the stored rule itself reads 0.0.0.1/0 and 1.2.3.4/1
    event = authorize(ec2, group, [ssh("0.0.0.1/0", "1.2.3.4/1")])

    summary = harness.invoke(sg_open_world.handler, event)

    assert sources(ec2, group) == set()
    assert {r["open_because"] for r in revoked(harness, summary)["details"]["rules"]} == {
        "0.0.0.1/0 (0.0.0.0/0): prefix length 0: every address",
        "1.2.3.4/1 (0.0.0.0/1): public range broader than /8"}


def test_the_flat_parameter_form_with_host_bits_is_found(harness: Harness, ec2: Any, group: str) -> None:
    event = authorize(ec2, group, [ssh("0.0.0.0/1")], rule_ids=False)
    event["detail"]["requestParameters"] = {"groupId": group, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                                            "cidrIp": "77.7.7.7/1"}

    summary = harness.invoke(sg_open_world.handler, event)

    assert sources(ec2, group) == set()
    assert revoked(harness, summary)["details"]["rules"][0]["rule"] == "22/tcp from 0.0.0.0/1"


@pytest.mark.parametrize("wide", ["2000::/3", "::/1", "8000::/1", "2001::/15"])
def test_a_wide_ipv6_range_is_revoked(harness: Harness, ec2: Any, group: str, wide: str) -> None:
    event = authorize(ec2, group, [ssh(wide)])

    summary = harness.invoke(sg_open_world.handler, event)

    assert sources(ec2, group) == set()
    assert revoked(harness, summary)["details"]["rules"][0]["rule"] == f"22/tcp from {wide}"


def test_a_prefix_list_that_cannot_be_read_is_reported_not_ignored(harness: Harness, ec2: Any, group: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    hidden = prefix_list(ec2, "0.0.0.0/0")
    event = authorize(ec2, group, [ssh(prefix_lists=(hidden,))])
    clients = RecordingClients()
    clients.fail("ec2", "GetManagedPrefixListEntries", code="UnauthorizedOperation")
    monkeypatch.setattr(harness, "clients", clients)

    summary = harness.invoke(sg_open_world.handler, event)

    assert sources(ec2, group) == {hidden}  # not known to be open: not revoked
    items = harness.items(summary)
    assert outcomes(items) == [("notify", "planned"), ("notify", "succeeded")]
    [unresolved] = items[-1]["details"]["unresolved"]
    assert unresolved["rule"] == f"22/tcp from prefix list {hidden}"
    assert unresolved["error"].startswith("UnauthorizedOperation")
    [note] = harness.notifications()
    assert "could not be read" in note["subject"]
    assert note["body"]["caretaker"]["outcome"] == "reported"


def test_an_unreadable_prefix_list_does_not_shield_a_world_open_range_beside_it(
        harness: Harness, ec2: Any, group: str, monkeypatch: pytest.MonkeyPatch) -> None:
    hidden = prefix_list(ec2, "10.0.0.0/8")
    event = authorize(ec2, group, [ssh("128.0.0.0/1", prefix_lists=(hidden,))])
    clients = RecordingClients()
    clients.fail("ec2", "GetManagedPrefixListEntries", code="UnauthorizedOperation")
    monkeypatch.setattr(harness, "clients", clients)

    summary = harness.invoke(sg_open_world.handler, event)

    assert sources(ec2, group) == {hidden}
    done = revoked(harness, summary)
    assert [r["rule"] for r in done["details"]["rules"]] == ["22/tcp from 128.0.0.0/1"]
    assert [u["rule"] for u in done["details"]["unresolved"]] == [f"22/tcp from prefix list {hidden}"]


# ---------------------------------------------------------------------- legitimate uses


@pytest.mark.parametrize("kept", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                  "203.0.113.0/24", "11.0.0.0/8", "fc00::/7", "fe80::/10", "2001:db8:42::/48"])
def test_private_and_narrow_public_ranges_stay_open(harness: Harness, ec2: Any, group: str, kept: str) -> None:
    event = authorize(ec2, group, [ssh(kept)])

    summary = harness.invoke(sg_open_world.handler, event)

    assert sources(ec2, group) == {kept}
    assert outcomes(harness.items(summary)) == [("revoke-ingress", "skipped")]
    assert harness.notifications() == []


def test_a_prefix_list_of_private_and_office_ranges_stays(harness: Harness, ec2: Any, group: str) -> None:
    office = prefix_list(ec2, "10.0.0.0/8", "203.0.113.0/24", "198.51.100.0/24")
    event = authorize(ec2, group, [ssh(prefix_lists=(office,))])

    summary = harness.invoke(sg_open_world.handler, event)

    assert sources(ec2, group) == {office}
    assert outcomes(harness.items(summary)) == [("revoke-ingress", "skipped")]
    assert harness.notifications() == []


def test_the_halves_on_an_allowed_port_stay_open(harness: Harness, ec2: Any, group: str) -> None:
    web = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
           "IpRanges": [{"CidrIp": "0.0.0.0/1"}, {"CidrIp": "128.0.0.0/1"}]}
    event = authorize(ec2, group, [web])

    harness.invoke(sg_open_world.handler, event)

    assert sources(ec2, group) == {"0.0.0.0/1", "128.0.0.0/1"}


def test_the_thresholds_are_settings(harness: Harness, ec2: Any, group: str) -> None:
    harness.setting("CARETAKER_MIN_PUBLIC_PREFIX_IPV4", "16")
    harness.setting("CARETAKER_MIN_PUBLIC_PREFIX_IPV6", "8")
    event = authorize(ec2, group, [ssh("11.0.0.0/8", "198.51.100.0/24", "2001:db8::/16")])

    summary = harness.invoke(sg_open_world.handler, event)

    assert sources(ec2, group) == {"198.51.100.0/24", "2001:db8::/16"}
    assert revoked(harness, summary)["details"]["thresholds"] == {"ipv4": 16, "ipv6": 8}
