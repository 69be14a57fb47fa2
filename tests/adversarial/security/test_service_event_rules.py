"""Attacks on the rules that act on AWS service events (exposed-credentials, instance-isolation): a developer
forging a finding, steering the isolation into a group of their own, or pointing the quarantine at another
team's user; and the legitimate use beside each (docs/security-rules.md, *Event kinds*)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from automations.core.spec import trigger_manifest
from automations.security import exposed_credentials, instance_isolation
from tests.automations.security.conftest import Harness, aws, load_sample, matches, outcomes
from tests.automations.security.isolation_fixtures import Web, web_account

QUARANTINE = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"


@pytest.fixture(autouse=True)
def managed_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS managed policies (the quarantine policy) exist in moto only when it loads them."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")


@pytest.fixture
def web() -> Web:
    return web_account()


@pytest.mark.parametrize("source", ["custom.guardduty", "guardduty", "aws.guardduty.custom", "aws.guardduty ",
                                    "AWS.GUARDDUTY"])
def test_a_finding_put_on_the_bus_by_a_developer_never_matches(source: str) -> None:
    """PutEvents refuses an `aws.` source, so a developer's forgery carries another one: the patterns require the
    exact source."""
    for rule, sample in ((instance_isolation, "cryptocurrency_ec2_bitcointool_b_dns"),
                         (exposed_credentials, "credentialaccess_iamuser_anomalousbehavior")):
        pattern = trigger_manifest(rule.SPEC.trigger)["pattern"]
        event = load_sample("guardduty", sample)
        assert matches(pattern, event)  # the real one does
        forged = copy.deepcopy(event)
        forged["source"] = source
        assert not matches(pattern, forged), (rule.NAME, source)


def test_a_forged_health_event_naming_a_custom_source_never_matches() -> None:
    pattern = trigger_manifest(exposed_credentials.SPEC.trigger)["pattern"]
    event = load_sample("health", "aws_risk_credentials_exposed")
    event["source"] = "custom.health"
    assert not matches(pattern, event)


def test_a_developer_tagging_their_instance_protect_is_reported_not_silenced(harness: Harness, web: Web) -> None:
    """Decided: protect wins (DESIGN.md), but never silently: the finding is notified as not isolated, and the
    SCP on caretaker:* tags (docs/security-model.md) keeps developers from setting it."""
    harness.mode("enforce")
    evading = web.launch(tags={"caretaker:protect": "true"})
    before = web.interfaces(evading)

    summary = harness.invoke(instance_isolation.handler, web.finding(evading))

    assert web.interfaces(evading) == before
    [item] = harness.items(summary)
    assert (item["outcome"], item["reason"]) == ("skipped", "protected: tagged caretaker:protect=true")
    assert item["details"]["finding_type"] == "CryptoCurrency:EC2/BitcoinTool.B!DNS"
    [note] = harness.notifications()
    assert "CryptoCurrency:EC2/BitcoinTool.B!DNS" in note["subject"] and "Not changed: protected" in note["summary"]
    # beside it, the same finding on an instance without the tag is isolated
    harness.invoke(instance_isolation.handler, web.finding())
    assert len(web.quarantine_groups()) == 1


def test_a_lookalike_quarantine_group_that_lets_traffic_through_is_never_used(harness: Harness, web: Web) -> None:
    harness.mode("enforce")
    ec2 = aws("ec2")
    lookalike = ec2.create_security_group(
        GroupName="not-really-quarantine", Description="mine", VpcId=web.vpc, TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [{"Key": "caretaker:quarantine-group", "Value": web.vpc}]}])[
        "GroupId"]
    ec2.authorize_security_group_ingress(GroupId=lookalike, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "203.0.113.9/32"}]}])

    summary = harness.invoke(instance_isolation.handler, web.finding())

    items = harness.items(summary)
    [planned] = [i for i in items if (i["action"], i["outcome"]) == ("isolate-instance", "planned")]
    assert planned["details"]["refused_quarantine_groups"] == [lookalike]
    [created] = [g for g in web.quarantine_groups() if g["GroupId"] != lookalike]
    assert created["IpPermissions"] == [] and created["IpPermissionsEgress"] == []
    modified = [body["Groups"] for s, o, body in harness.clients.calls
                if (s, o) == ("ec2", "ModifyNetworkInterfaceAttribute")]
    assert modified[-1] == [created["GroupId"]]
    # its own rules are left as they were: Caretaker does not change a group it did not make
    [still] = ec2.describe_security_groups(GroupIds=[lookalike])["SecurityGroups"]
    assert still["IpPermissions"][0]["FromPort"] == 22


def test_a_finding_cannot_point_the_quarantine_at_another_teams_user(harness: Harness) -> None:
    """The finding's user name is the event's word; the key's owner is IAM's. Whoever forges the name gets only
    the owner of the key they name contained."""
    iam = aws("iam")
    iam.create_user(UserName="other-team-deployer")
    iam.create_user(UserName="dev")
    key = iam.create_access_key(UserName="dev")["AccessKey"]["AccessKeyId"]
    event: dict[str, Any] = load_sample("guardduty", "credentialaccess_iamuser_anomalousbehavior")
    event["detail"]["resource"]["accessKeyDetails"].update(accessKeyId=key, userName="other-team-deployer")

    summary = harness.invoke(exposed_credentials.handler, event)

    assert iam.list_attached_user_policies(UserName="other-team-deployer")["AttachedPolicies"] == []
    assert [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName="dev")["AttachedPolicies"]] == [
        QUARANTINE]
    assert {i["resource_id"] for i in harness.items(summary)} == {"arn:aws:iam::123456789012:user/dev"}
    assert ("contain-exposed-key", "succeeded") in outcomes(harness.items(summary))
