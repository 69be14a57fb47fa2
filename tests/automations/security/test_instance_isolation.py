"""instance-isolation: a severe GuardDuty finding on an instance isolates it, keeps the evidence, and can be undone.

moto 5.2.5 appends the groups of `ModifyNetworkInterfaceAttribute(Groups=...)` to the interface instead of
replacing them (real EC2 replaces): the tests assert the call's exact `Groups` and that the quarantine group
is on the interface, never that the old groups are gone.
"""

from __future__ import annotations

from typing import Any

import pytest

from automations.cli.restore_isolation import restore_isolation
from automations.core.spec import trigger_manifest
from automations.security import instance_isolation
from tests.automations.security.conftest import Harness, aws, load_sample, matches, outcomes, redelivered
from tests.automations.security.isolation_fixtures import SSH, Web, web_account

FINDING = "70b1ec3a4d9f1c2e8a7b6c5d4e3f2a10"


@pytest.fixture
def web() -> Web:
    return web_account()


def modify_calls(harness: Harness, start: int) -> list[dict[str, Any]]:
    return [body for service, operation, body in harness.clients.calls[start:]
            if (service, operation) == ("ec2", "ModifyNetworkInterfaceAttribute")]


def test_a_severe_finding_isolates_the_instance_and_keeps_the_evidence(harness: Harness, web: Web) -> None:
    harness.mode("enforce")
    before = web.interfaces()
    start = len(harness.clients.calls)

    summary = harness.invoke(instance_isolation.handler, web.finding())

    [group] = web.quarantine_groups()
    assert group["IpPermissions"] == [] and group["IpPermissionsEgress"] == []
    assert {t["Key"]: t["Value"] for t in group["Tags"]}["caretaker:quarantine-group"] == web.vpc
    [eni] = before
    assert modify_calls(harness, start) == [{"NetworkInterfaceId": eni, "Groups": [group["GroupId"]]}]
    assert group["GroupId"] in web.interfaces()[eni]
    [snapshot] = web.forensic_snapshots()
    tags = {t["Key"]: t["Value"] for t in snapshot["Tags"]}
    assert tags["caretaker:forensic-finding"] == FINDING and tags["caretaker:protect"] == "true"
    assert tags["caretaker:forensic-instance"] == web.instance
    assert web.tags()["caretaker:isolated-by-finding"] == FINDING
    items = harness.items(summary)
    assert {a for a, o in outcomes(items) if o == "succeeded"} == {
        "isolate-instance", "create-quarantine-group", "replace-security-groups", "snapshot-volumes", "tag-instance"}
    assert not [i for i in items if i["outcome"] == "failed"]
    [planned] = [i for i in items if (i["action"], i["outcome"]) == ("isolate-instance", "planned")]
    assert planned["details"]["before"]["interfaces"] == before  # written before anything changed
    assert planned["details"]["finding_id"] == FINDING and planned["details"]["severity"] == 8
    [note] = harness.notifications()
    assert "GuardDuty reported CryptoCurrency:EC2/BitcoinTool.B!DNS (severity 8)" in note["summary"]
    assert note["body"]["caretaker"]["outcome"] == "succeeded"


def test_by_default_it_only_plans_and_notifies(harness: Harness, web: Web) -> None:
    before = web.interfaces()

    summary = harness.invoke(instance_isolation.handler, web.finding())

    assert web.interfaces() == before and web.quarantine_groups() == [] and web.forensic_snapshots() == []
    assert "would isolate" in harness.planned_only(summary, "isolate-instance")["summary"]


def test_the_quarantine_group_is_created_once_per_vpc_and_reused(harness: Harness, web: Web) -> None:
    harness.mode("enforce")
    other = web.launch()
    harness.invoke(instance_isolation.handler, web.finding())

    summary = harness.invoke(instance_isolation.handler, web.finding(other))

    [group] = web.quarantine_groups()
    assert group["GroupId"] in next(iter(web.interfaces(other).values()))
    assert "create-quarantine-group" not in {a for a, _ in outcomes(harness.items(summary))}


def test_an_instance_already_in_the_quarantine_group_is_left_as_it_is(harness: Harness, web: Web) -> None:
    harness.mode("enforce")
    harness.invoke(instance_isolation.handler, web.finding())
    [group] = web.quarantine_groups()
    isolated = web.launch(groups=[group["GroupId"]])
    start = len(harness.clients.calls)

    summary = harness.invoke(instance_isolation.handler, web.finding(isolated))

    [item] = harness.items(summary)
    assert (item["outcome"], item["reason"]) == ("skipped", f"already isolated in {group['GroupId']}")
    assert modify_calls(harness, start) == []


def test_a_finding_below_the_severity_is_recorded_and_left_alone(harness: Harness, web: Web) -> None:
    harness.mode("enforce")

    summary = harness.invoke(instance_isolation.handler, web.finding(sample=SSH))

    [item] = harness.items(summary)
    assert (item["outcome"], item["reason"]) == ("skipped", "severity 2 is below min_severity 7")
    assert web.quarantine_groups() == [] and harness.notifications() == []


def test_a_lower_severity_setting_isolates_it(harness: Harness, web: Web) -> None:
    harness.mode("enforce")
    harness.setting("CARETAKER_MIN_SEVERITY", "2")

    harness.invoke(instance_isolation.handler, web.finding(sample=SSH))

    assert len(web.quarantine_groups()) == 1


@pytest.mark.parametrize(("env", "value", "reason"), [
    ("CARETAKER_IGNORE_FINDING_TYPES", "CryptoCurrency:EC2/*",
     "finding type CryptoCurrency:EC2/BitcoinTool.B!DNS is in ignore_finding_types (CryptoCurrency:EC2/*)"),
    ("CARETAKER_FINDING_TYPES", "Backdoor:EC2/*,Trojan:EC2/*",
     "finding type CryptoCurrency:EC2/BitcoinTool.B!DNS is not in finding_types"),
])
def test_the_allow_and_deny_lists_of_finding_types_are_honoured(harness: Harness, web: Web, env: str, value: str,
                                                                reason: str) -> None:
    harness.mode("enforce")
    harness.setting(env, value)

    [item] = harness.items(harness.invoke(instance_isolation.handler, web.finding()))

    assert (item["outcome"], item["reason"]) == ("skipped", reason)
    assert web.quarantine_groups() == []


def test_a_deny_list_entry_wins_over_the_allow_list(harness: Harness, web: Web) -> None:
    harness.mode("enforce")
    harness.setting("CARETAKER_FINDING_TYPES", "CryptoCurrency:EC2/*")
    harness.setting("CARETAKER_IGNORE_FINDING_TYPES", "CryptoCurrency:EC2/BitcoinTool.B!DNS")

    [item] = harness.items(harness.invoke(instance_isolation.handler, web.finding()))

    assert item["reason"].endswith("is in ignore_finding_types (CryptoCurrency:EC2/BitcoinTool.B!DNS)")


def test_a_protected_instance_is_not_isolated_but_reported(harness: Harness, web: Web) -> None:
    harness.mode("enforce")
    protected = web.launch(tags={"caretaker:protect": "true"})
    before = web.interfaces(protected)

    summary = harness.invoke(instance_isolation.handler, web.finding(protected))

    assert web.interfaces(protected) == before and web.quarantine_groups() == []
    [item] = harness.items(summary)
    assert item["reason"] == "protected: tagged caretaker:protect=true"
    [note] = harness.notifications()
    assert "Not changed: protected" in note["summary"]


def test_a_redelivered_finding_changes_nothing_the_second_time(harness: Harness, web: Web) -> None:
    harness.mode("enforce")
    event = web.finding()
    harness.invoke(instance_isolation.handler, event)
    harness.notifications()
    start = len(harness.clients.calls)

    second = harness.invoke(instance_isolation.handler, redelivered(event))

    [item] = harness.items(second)
    assert item["reason"].startswith("duplicate delivery of event ")
    assert modify_calls(harness, start) == [] and len(web.forensic_snapshots()) == 1


def test_a_terminated_instance_is_recorded_as_gone(harness: Harness, web: Web) -> None:
    harness.mode("enforce")
    web.ec2.terminate_instances(InstanceIds=[web.instance])

    summary = harness.invoke(instance_isolation.handler, web.finding())

    assert summary["status"] == "ok"
    [item] = harness.items(summary)
    assert item["reason"] == f"gone: instance {web.instance} is terminated or terminating"


def test_a_finding_naming_no_instance_is_a_bad_event(harness: Harness, web: Web) -> None:
    event = web.finding()
    del event["detail"]["resource"]["instanceDetails"]["instanceId"]

    [item] = harness.items(harness.invoke(instance_isolation.handler, event))

    assert item["reason"] == "bad event: the finding names no instance (detail.resource.instanceDetails.instanceId)"


def test_a_refused_group_change_fails_the_isolation_but_the_evidence_is_still_taken(
        harness: Harness, web: Web) -> None:
    harness.mode("enforce")
    harness.fail("ec2", "ModifyNetworkInterfaceAttribute", "UnauthorizedOperation")

    summary = harness.invoke(instance_isolation.handler, web.finding())

    items = harness.items(summary)
    [outer] = [i for i in items if (i["action"], i["outcome"]) == ("isolate-instance", "failed")]
    assert "replace-security-groups (UnauthorizedOperation" in outer["reason"]
    assert len(web.forensic_snapshots()) == 1 and web.tags()["caretaker:isolated-by-finding"] == FINDING
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "failed"


def test_an_auto_scaling_instance_is_detached_so_it_is_not_replaced_and_terminated(harness: Harness, web: Web) -> None:
    harness.mode("enforce")
    autoscaling = aws("autoscaling")
    aws("ec2").create_launch_template(LaunchTemplateName="web", LaunchTemplateData={
        "ImageId": web.image, "SecurityGroupIds": [web.web_group]})
    autoscaling.create_auto_scaling_group(AutoScalingGroupName="web", MinSize=1, MaxSize=2, DesiredCapacity=1,
                                          LaunchTemplate={"LaunchTemplateName": "web"}, VPCZoneIdentifier=web.subnet)
    [member] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0][
        "Instances"]

    summary = harness.invoke(instance_isolation.handler, web.finding(member["InstanceId"]))

    assert autoscaling.describe_auto_scaling_instances(InstanceIds=[member["InstanceId"]])[
        "AutoScalingInstances"] == []
    assert web.described(member["InstanceId"])["State"]["Name"] == "running"
    assert ("detach-from-auto-scaling-group", "succeeded") in outcomes(harness.items(summary))
    [planned] = [i for i in harness.items(summary) if (i["action"], i["outcome"]) == ("isolate-instance", "planned")]
    assert planned["details"]["before"]["auto_scaling_group"] == "web"


def test_restore_isolation_puts_the_recorded_groups_back(harness: Harness, web: Web) -> None:
    harness.mode("enforce")
    before = web.interfaces()
    harness.invoke(instance_isolation.handler, web.finding())
    [eni] = before
    start = len(harness.clients.calls)

    dry = restore_isolation(harness.clients("ec2"), harness.dynamodb, harness.table, web.instance, dry_run=True)

    assert modify_calls(harness, start) == [] and "caretaker:isolated-by-finding" in web.tags()
    assert dry[0].startswith(f"{eni}: would restore {', '.join(before[eni])}")

    done = restore_isolation(harness.clients("ec2"), harness.dynamodb, harness.table, web.instance, dry_run=False)

    assert modify_calls(harness, start) == [{"NetworkInterfaceId": eni, "Groups": before[eni]}]
    assert "caretaker:isolated-by-finding" not in web.tags()
    assert any("forensic snapshots" in line and "are kept" in line for line in done)
    assert len(web.forensic_snapshots()) == 1


def test_restore_isolation_refuses_an_instance_never_isolated(harness: Harness, web: Web) -> None:
    harness.invoke(instance_isolation.handler, web.finding())  # audit mode: a dry run records no change

    with pytest.raises(Exception, match="records no isolation"):
        restore_isolation(harness.clients("ec2"), harness.dynamodb, harness.table, web.instance, dry_run=False)


def test_the_pattern_takes_instance_findings_only() -> None:
    pattern = trigger_manifest(instance_isolation.SPEC.trigger)["pattern"]
    assert matches(pattern, load_sample("guardduty", "cryptocurrency_ec2_bitcointool_b_dns"))
    assert not matches(pattern, load_sample("guardduty", "credentialaccess_iamuser_anomalousbehavior"))
    assert not matches(pattern, load_sample("ec2", "instance_state_change_running"))
