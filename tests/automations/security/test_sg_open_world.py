"""sg-open-world: world-open ingress outside the allow-list is revoked, exactly, on current state."""

from __future__ import annotations

from typing import Any

import pytest

from automations.security import sg_open_world
from tests.automations.conftest import REGION
from tests.automations.security.conftest import Harness, from_caretaker, load_event, outcomes, redelivered

Key = tuple[str, int, int, str]


def _key(rule: dict[str, Any]) -> Key:
    return (rule["IpProtocol"], rule.get("FromPort", -1), rule.get("ToPort", -1),
            rule.get("CidrIpv4") or rule.get("CidrIpv6", ""))


def ingress(ec2: Any, group_id: str) -> set[Key]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return {_key(r) for r in rules["SecurityGroupRules"] if not r["IsEgress"]}


def rule_ids(ec2: Any, group_id: str) -> dict[Key, str]:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    return {_key(r): r["SecurityGroupRuleId"] for r in rules["SecurityGroupRules"] if not r["IsEgress"]}


def authorize_as_recorded(ec2: Any, group_id: str, event: dict[str, Any]) -> dict[str, Any]:
    """Make the call the event records in moto, and point the event at the group and rules it created."""
    request = event["detail"]["requestParameters"]
    permissions = []
    for item in request["ipPermissions"]["items"]:
        permission: dict[str, Any] = {"IpProtocol": item["ipProtocol"]}
        if "fromPort" in item:
            permission.update(FromPort=item["fromPort"], ToPort=item["toPort"])
        permission["IpRanges"] = [{"CidrIp": r["cidrIp"]} for r in item.get("ipRanges", {}).get("items", [])]
        permission["Ipv6Ranges"] = [{"CidrIpv6": r["cidrIpv6"]} for r in item.get("ipv6Ranges", {}).get("items", [])]
        permissions.append(permission)
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)
    request["groupId"] = group_id
    ids = rule_ids(ec2, group_id)
    for item in event["detail"]["responseElements"].get("securityGroupRuleSet", {}).get("items", []):
        item["groupId"] = group_id
        item["securityGroupRuleId"] = ids[(item["ipProtocol"], item["fromPort"], item["toPort"],
                                           item.get("cidrIpv4") or item.get("cidrIpv6"))]
    return event


def test_revokes_exactly_the_world_open_rules_outside_the_allow_list(harness: Harness, ec2: Any,
                                                                      group: str) -> None:
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[  # older, not named by the event
        {"IpProtocol": "tcp", "FromPort": 25, "ToPort": 25, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    event = authorize_as_recorded(ec2, group, load_event("authorize_security_group_ingress"))

    summary = harness.invoke(sg_open_world.handler, event)

    assert summary["status"] == "ok"
    assert ingress(ec2, group) == {("tcp", 22, 22, "10.0.0.0/8"), ("tcp", 443, 443, "0.0.0.0/0"),
                                   ("tcp", 25, 25, "0.0.0.0/0")}
    items = harness.items(summary)
    assert outcomes(items) == [("revoke-ingress", "planned"), ("revoke-ingress", "succeeded")]
    done = items[-1]
    assert done["resource_id"] == group and done["dry_run"] is False
    assert {r["rule"] for r in done["details"]["rules"]} == {
        "22/tcp from 0.0.0.0/0", "22/tcp from ::/0", "8000-8100/tcp from 0.0.0.0/0"}
    assert len(done["details"]["revoked"]) == 3
    assert done["details"]["actor"]["session_issuer_arn"] == "arn:aws:iam::123456789012:role/DeveloperAccess"
    assert done["details"]["source_ip"] == "203.0.113.24"
    assert done["details"]["event"]["time"] == "2026-11-27T10:15:29Z"
    [note] = harness.notifications()
    assert group in note["subject"]
    assert note["body"]["caretaker"]["outcome"] == "succeeded"
    assert note["body"]["finding"]["actor"]["arn"].endswith("assumed-role/DeveloperAccess/alice@example.com")
    assert note["body"]["finding"]["event"]["region"] == REGION


def test_all_traffic_from_ipv6_is_found_by_its_permission_when_the_record_has_no_rule_ids(
        harness: Harness, ec2: Any, group: str) -> None:
    event = authorize_as_recorded(ec2, group, load_event("authorize_security_group_ingress_all_traffic_ipv6"))
    assert "securityGroupRuleSet" not in event["detail"]["responseElements"]

    summary = harness.invoke(sg_open_world.handler, event)

    assert ("-1", -1, -1, "::/0") not in ingress(ec2, group)
    assert harness.items(summary)[-1]["details"]["rules"][0]["rule"] == "all traffic from ::/0"


def test_a_rule_modified_to_world_open_rdp_is_revoked(harness: Harness, ec2: Any, group: str) -> None:
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    rule_id = rule_ids(ec2, group)[("tcp", 22, 22, "10.0.0.0/8")]
    ec2.modify_security_group_rules(GroupId=group, SecurityGroupRules=[{"SecurityGroupRuleId": rule_id,
        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "CidrIpv4": "0.0.0.0/0"}}])
    event = load_event("modify_security_group_rules")
    modify = event["detail"]["requestParameters"]["ModifySecurityGroupRulesRequest"]
    modify["GroupId"], modify["SecurityGroupRule"]["SecurityGroupRuleId"] = group, rule_id

    summary = harness.invoke(sg_open_world.handler, event)

    assert ingress(ec2, group) == set()
    assert harness.items(summary)[-1]["details"]["revoked"] == [rule_id]


def test_decides_on_the_current_state_not_on_a_stale_event(harness: Harness, ec2: Any, group: str) -> None:
    event = authorize_as_recorded(ec2, group, load_event("authorize_security_group_ingress"))
    ids = [i["securityGroupRuleId"] for i in event["detail"]["responseElements"]["securityGroupRuleSet"]["items"]]
    ec2.revoke_security_group_ingress(GroupId=group, SecurityGroupRuleIds=ids)  # someone undid it already

    summary = harness.invoke(sg_open_world.handler, event)

    assert outcomes(harness.items(summary)) == [("revoke-ingress", "skipped")]
    assert "current state" in harness.items(summary)[0]["reason"]
    assert harness.notifications() == []


def test_ports_in_the_allow_list_setting_stay_open(harness: Harness, ec2: Any, group: str) -> None:
    harness.setting("CARETAKER_ALLOWED_PORTS", "443,22")
    event = authorize_as_recorded(ec2, group, load_event("authorize_security_group_ingress"))

    harness.invoke(sg_open_world.handler, event)

    assert ingress(ec2, group) == {("tcp", 22, 22, "0.0.0.0/0"), ("tcp", 22, 22, "::/0"),
                                   ("tcp", 22, 22, "10.0.0.0/8"), ("tcp", 443, 443, "0.0.0.0/0")}


def test_audit_mode_changes_nothing_but_records_the_plan_and_notifies(harness: Harness, ec2: Any,
                                                                      group: str) -> None:
    harness.mode("audit")
    event = authorize_as_recorded(ec2, group, load_event("authorize_security_group_ingress"))
    before = ingress(ec2, group)

    summary = harness.invoke(sg_open_world.handler, event)

    assert ingress(ec2, group) == before
    [planned] = harness.items(summary)
    assert (planned["outcome"], planned["dry_run"]) == ("planned", True)
    [note] = harness.notifications()
    assert note["body"]["caretaker"]["outcome"] == "planned"
    assert "would revoke" in note["summary"]


def test_a_protected_group_is_reported_and_left_open(harness: Harness, ec2: Any, group: str) -> None:
    ec2.create_tags(Resources=[group], Tags=[{"Key": "caretaker:protect", "Value": "true"}])
    event = authorize_as_recorded(ec2, group, load_event("authorize_security_group_ingress"))
    before = ingress(ec2, group)

    summary = harness.invoke(sg_open_world.handler, event)

    assert ingress(ec2, group) == before
    assert outcomes(harness.items(summary)) == [("revoke-ingress", "skipped")]
    [note] = harness.notifications()
    assert note["body"]["caretaker"]["outcome"] == "skipped"


def test_a_second_delivery_of_the_same_event_does_nothing(harness: Harness, ec2: Any, group: str) -> None:
    event = authorize_as_recorded(ec2, group, load_event("authorize_security_group_ingress"))
    first = harness.invoke(sg_open_world.handler, event)
    harness.notifications()
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[  # opened again since
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])

    second = harness.invoke(sg_open_world.handler, redelivered(event))

    assert ("tcp", 22, 22, "0.0.0.0/0") in ingress(ec2, group)
    assert outcomes(harness.items(second)) == [("evaluate-event", "skipped")]
    assert "duplicate delivery" in harness.items(second)[0]["reason"]
    assert first["run_id"] in harness.items(second)[0]["reason"]
    assert second["finding"]["duplicate"] is True
    assert (harness.run_summary(second)["status"], harness.run_summary(second)["skipped"]) == ("ok", 1)
    assert harness.notifications() == []


def test_an_event_caused_by_a_caretaker_role_does_nothing(harness: Harness, ec2: Any, group: str) -> None:
    event = from_caretaker(authorize_as_recorded(ec2, group, load_event("authorize_security_group_ingress")))
    before = ingress(ec2, group)

    summary = harness.invoke(sg_open_world.handler, event)

    assert ingress(ec2, group) == before
    assert "Caretaker's own role" in harness.skipped_quietly(summary)


def test_a_group_that_no_longer_exists_is_skipped(harness: Harness) -> None:
    event = load_event("authorize_security_group_ingress")  # sg-0a1b2c3d4e5f67890 was never created

    summary = harness.invoke(sg_open_world.handler, event)

    assert summary["status"] == "ok"
    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and item["resource_id"] == "sg-0a1b2c3d4e5f67890"
    assert "no longer exists" in item["reason"]


def test_an_event_without_request_or_response_is_skipped(harness: Harness) -> None:
    event = load_event("authorize_security_group_ingress")
    event["detail"]["requestParameters"] = None
    event["detail"]["responseElements"] = None

    summary = harness.invoke(sg_open_world.handler, event)

    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and item["reason"].startswith("bad event:")
    assert harness.notifications() == []


@pytest.mark.parametrize(("rule", "allowed"), [
    ({"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443}, True),
    ({"IpProtocol": "tcp", "FromPort": 80, "ToPort": 443}, False),
    ({"IpProtocol": "udp", "FromPort": 8000, "ToPort": 8080}, True),
    ({"IpProtocol": "-1", "FromPort": -1, "ToPort": -1}, False),
    ({"IpProtocol": "icmp", "FromPort": 8, "ToPort": 0}, False),
])
def test_a_rule_is_allowed_only_when_its_whole_port_range_is(rule: dict[str, Any], allowed: bool) -> None:
    assert sg_open_world.is_allowed(rule, sg_open_world.parse_allowed(["443", "8000-8080"])) is allowed
