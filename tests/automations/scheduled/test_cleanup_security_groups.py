"""Cleanup of unused security groups: network interfaces, rule references, launch templates, default groups."""

from __future__ import annotations

from automations.scheduled.cleanup_security_groups import handler
from tests.automations.scheduled.cleanup_harness import Harness, client, ec2, harness_fixture, tag_specs, tags_of
from tests.recording import RecordingClients

h = harness_fixture(handler)


def vpc() -> str:
    return str(ec2().describe_vpcs()["Vpcs"][0]["VpcId"])


def group(name: str, tags: dict[str, str] | None = None) -> str:
    return str(ec2().create_security_group(GroupName=name, Description=name, VpcId=vpc(),
                                           TagSpecifications=tag_specs("security-group", tags))["GroupId"])


def group_ids() -> set[str]:
    return {g["GroupId"] for g in ec2().describe_security_groups()["SecurityGroups"]}


def group_tags(group_id: str) -> dict[str, str]:
    return tags_of(ec2().describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0])


def allow_from(target: str, source: str) -> None:
    ec2().authorize_security_group_ingress(GroupId=target, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": source}]}])


def interface_with(group_id: str) -> str:
    subnet = ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc()]}])["Subnets"][0]["SubnetId"]
    return str(ec2().create_network_interface(SubnetId=subnet, Groups=[group_id])["NetworkInterface"][
        "NetworkInterfaceId"])


def test_two_phases_and_only_unused_groups(h: Harness) -> None:
    unused = group("unused")
    attached = group("attached")
    interface_with(attached)
    referenced = group("referenced")
    referrer = group("referrer-in-use")
    allow_from(referrer, referenced)
    interface_with(referrer)
    self_referencing = group("self-referencing")
    allow_from(self_referencing, self_referencing)
    in_template = group("in-template")
    ec2().create_launch_template(LaunchTemplateName="api-template",
                                 LaunchTemplateData={"SecurityGroupIds": [in_template]})
    in_config = group("in-config")
    client("autoscaling").create_launch_configuration(LaunchConfigurationName="legacy", ImageId="ami-12345678",
                                                      InstanceType="t3.micro", SecurityGroups=[in_config])
    defaults = {g["GroupId"] for g in ec2().describe_security_groups()["SecurityGroups"] if g["GroupName"] == "default"}

    first = h.invoke()
    assert set(h.pending()) == {unused, self_referencing}
    assert group_tags(unused)["caretaker:cleanup-after"]
    assert {p["id"] for p in h.notification(first["run_id"])["body"]["pending"]} == {unused, self_referencing}

    h.clock.advance(days=8)
    second = h.invoke()
    assert not {unused, self_referencing} & group_ids()
    assert {attached, referenced, in_template, in_config} | defaults <= group_ids()
    assert h.outcomes(second["run_id"]) >= {(unused, "delete-security-group", "succeeded")}


def test_group_referenced_during_the_grace_period_is_spared(h: Harness) -> None:
    target = group("target")
    _, result = h.rerun_after_grace(lambda: allow_from(group("new-referrer"), target))
    assert target in group_ids() and "caretaker:cleanup-after" not in group_tags(target)
    skipped = {i["resource_id"]: i["reason"] for i in h.skipped(result["run_id"])}
    assert skipped[target].startswith("spared: referenced by the rules of sg-")


def test_protected_excluded_and_dry_run(h: Harness) -> None:
    protected = group("protected", {"caretaker:protect": "true"})
    excluded = group("excluded", {"owner": "network-team"})
    plain = group("plain")
    result = h.invoke(mode="audit", grace_days="0", exclude_tags="owner=network-team")
    assert {protected, excluded, plain} <= group_ids()
    assert h.outcomes(result["run_id"]) == {(protected, "delete-security-group", "skipped"),
                                            (excluded, "delete-security-group", "skipped"),
                                            (plain, "delete-security-group", "planned")}
    assert all(i["dry_run"] for i in h.actions(result["run_id"]))


def test_dependency_violation_fails_one_group_only(h: Harness) -> None:
    good, bad = group("good"), group("bad")
    clients = RecordingClients()
    clients.fail("ec2", "DeleteSecurityGroup", code="DependencyViolation",
                 when=lambda body: body.get("GroupId") == bad)
    result = h.invoke(clients, grace_days="0")
    assert good not in group_ids() and bad in group_ids()
    assert result["status"] == "partial"
    [failed] = [i for i in h.actions(result["run_id"]) if i["outcome"] == "failed"]
    assert failed["reason"].startswith("DependencyViolation")
