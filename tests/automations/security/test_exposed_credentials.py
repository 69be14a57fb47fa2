"""exposed-credentials: a key AWS Health or GuardDuty reports exposed is deactivated and its user quarantined."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from automations.core.spec import trigger_manifest
from automations.security import exposed_credentials
from tests.automations.security.conftest import Harness, aws, load_sample, matches, outcomes, redelivered

QUARANTINE = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"
#: the outer action (planned, then its outcome: items are ordered by action), then each step written ahead
STEPS = [("contain-exposed-key", "planned"), ("contain-exposed-key", "succeeded"),
         ("deactivate-access-key", "planned"), ("deactivate-access-key", "succeeded"),
         ("attach-quarantine-policy", "planned"), ("attach-quarantine-policy", "succeeded")]


@pytest.fixture(autouse=True)
def managed_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS managed policies (the quarantine policy) exist in moto only when it loads them."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")


@pytest.fixture
def iam() -> Any:
    return aws("iam")


def user_with_key(iam: Any, name: str = "ci-deployer", tags: list[dict[str, str]] | None = None) -> str:
    iam.create_user(UserName=name, Tags=tags or [])
    return str(iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"])


def health_event(key: str) -> dict[str, Any]:
    event = load_sample("health", "aws_risk_credentials_exposed")
    event["detail"]["affectedEntities"] = [{"entityValue": key}]
    return event


def guardduty_event(key: str, user: str = "ci-deployer", sample: str = "credentialaccess_iamuser_anomalousbehavior",
                    user_type: str = "IAMUser") -> dict[str, Any]:
    event = load_sample("guardduty", sample)
    details = event["detail"]["resource"]["accessKeyDetails"]
    details.update(accessKeyId=key, userName=user, userType=user_type)
    return event


def status(iam: Any, user: str, key: str) -> str:
    [meta] = [k for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"] if k["AccessKeyId"] == key]
    return str(meta["Status"])


def attached(iam: Any, user: str) -> list[str]:
    return [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]]


def test_an_exposed_key_reported_by_health_is_deactivated_and_its_user_quarantined(harness: Harness, iam: Any) -> None:
    key = user_with_key(iam)

    summary = harness.invoke(exposed_credentials.handler, health_event(key))

    assert status(iam, "ci-deployer", key) == "Inactive"
    assert attached(iam, "ci-deployer") == [QUARANTINE]
    items = harness.items(summary)
    assert sorted(outcomes(items)) == sorted(STEPS)
    assert {i["resource_id"] for i in items} == {"arn:aws:iam::123456789012:user/ci-deployer"}
    [outer] = [i for i in items if i["action"] == "contain-exposed-key" and i["outcome"] == "planned"]
    assert outer["details"]["access_key_id"] == key and outer["details"]["key_status"] == "Active"
    [note] = harness.notifications()
    assert f"access key {key} of IAM user ci-deployer is exposed" in note["subject"]
    assert "AWS Health reported AWS_RISK_CREDENTIALS_EXPOSED" in note["summary"]
    finding = note["body"]["finding"]
    assert finding["found"].startswith("Your AWS Access Key")  # where it was found
    assert finding["user_name"] == "ci-deployer"
    assert note["body"]["caretaker"]["outcome"] == "succeeded"


def test_the_key_user_comes_from_iam_not_from_the_event(harness: Harness, iam: Any) -> None:
    """The Health event names only the key; a GuardDuty finding's user name is not trusted either."""
    key = user_with_key(iam, "real-owner")
    iam.create_user(UserName="ci-deployer")

    summary = harness.invoke(exposed_credentials.handler, guardduty_event(key, user="ci-deployer"))

    assert status(iam, "real-owner", key) == "Inactive"
    assert attached(iam, "real-owner") == [QUARANTINE] and attached(iam, "ci-deployer") == []
    assert all(i["details"]["event_user_name"] == "ci-deployer" for i in harness.items(summary)
               if i["action"] == "contain-exposed-key")
    assert ("iam", "GetAccessKeyLastUsed") in {(s, o) for s, o, _ in harness.clients.calls}


def test_a_guardduty_credential_finding_on_a_user_key_is_contained(harness: Harness, iam: Any) -> None:
    key = user_with_key(iam)

    summary = harness.invoke(exposed_credentials.handler, guardduty_event(key))

    assert status(iam, "ci-deployer", key) == "Inactive"
    assert sorted(outcomes(harness.items(summary))) == sorted(STEPS)
    [note] = harness.notifications()
    assert "GuardDuty reported CredentialAccess:IAMUser/AnomalousBehavior" in note["summary"]
    assert note["body"]["finding"]["found"] == "CredentialAccess:IAMUser/AnomalousBehavior: used from 198.51.100.77"


def test_a_role_session_credential_finding_is_reported_not_acted_on(harness: Harness, iam: Any) -> None:
    event = load_sample("guardduty", "unauthorizedaccess_iamuser_instancecredentialexfiltration_outsideaws")
    start = len(harness.clients.calls)

    summary = harness.invoke(exposed_credentials.handler, event)

    items = harness.items(summary)
    assert sorted(outcomes(items)) == [("notify", "planned"), ("notify", "succeeded")]
    assert {i["resource_id"] for i in items} == {"access-key/ASIAIOSFODNN7EXAMPLE"}
    assert not {o for s, o, _ in harness.clients.calls[start:] if s == "iam"}
    [note] = harness.notifications()
    assert "AssumedRole web-instance-role (ASIAIOSFODNN7EXAMPLE) used from 198.51.100.77" in note["summary"]
    assert "revoke the role's active sessions" in note["body"]["finding"]["note"]


def test_audit_mode_changes_nothing_and_says_what_it_would_do(harness: Harness, iam: Any) -> None:
    harness.mode("audit")
    key = user_with_key(iam)

    summary = harness.invoke(exposed_credentials.handler, health_event(key))

    assert status(iam, "ci-deployer", key) == "Active" and attached(iam, "ci-deployer") == []
    assert "would deactivate access key" in harness.planned_only(summary, "contain-exposed-key")["summary"]


def test_a_redelivered_event_changes_nothing_again(harness: Harness, iam: Any) -> None:
    key = user_with_key(iam)
    event = health_event(key)
    harness.invoke(exposed_credentials.handler, event)
    harness.notifications()
    iam.update_access_key(UserName="ci-deployer", AccessKeyId=key, Status="Active")  # the owner turned it back on

    second = harness.invoke(exposed_credentials.handler, redelivered(event))

    assert status(iam, "ci-deployer", key) == "Active"
    [item] = harness.items(second)
    assert item["reason"].startswith("duplicate delivery of event ")
    assert harness.notifications() == []


def test_a_key_already_inactive_and_quarantined_is_recorded_not_changed(harness: Harness, iam: Any) -> None:
    key = user_with_key(iam)
    iam.update_access_key(UserName="ci-deployer", AccessKeyId=key, Status="Inactive")
    iam.attach_user_policy(UserName="ci-deployer", PolicyArn=QUARANTINE)
    start = len(harness.clients.calls)

    summary = harness.invoke(exposed_credentials.handler, health_event(key))

    [item] = harness.items(summary)
    assert (item["outcome"], item["reason"]) == (
        "skipped", "already contained: the key is inactive and the quarantine policy attached")
    assert not {o for _, o, _ in harness.clients.calls[start:]} & {"UpdateAccessKey", "AttachUserPolicy"}
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "skipped"


def test_an_inactive_key_still_gets_its_user_quarantined(harness: Harness, iam: Any) -> None:
    key = user_with_key(iam)
    iam.update_access_key(UserName="ci-deployer", AccessKeyId=key, Status="Inactive")

    summary = harness.invoke(exposed_credentials.handler, health_event(key))

    assert attached(iam, "ci-deployer") == [QUARANTINE]
    assert sorted(a for a, o in outcomes(harness.items(summary)) if o == "succeeded") == [
        "attach-quarantine-policy", "contain-exposed-key"]


def test_a_key_deleted_already_is_recorded_as_gone_not_an_error(harness: Harness, iam: Any) -> None:
    summary = harness.invoke(exposed_credentials.handler, health_event("AKIAIOSFODNN7EXAMPLE"))

    assert summary["status"] == "ok"
    [item] = harness.items(summary)
    assert item["outcome"] == "skipped"
    assert item["reason"] == "gone: access key AKIAIOSFODNN7EXAMPLE no longer exists (deleted already)"


def test_a_protected_user_keeps_its_key_and_it_is_reported(harness: Harness, iam: Any) -> None:
    key = user_with_key(iam, tags=[{"Key": "caretaker:protect", "Value": "true"}])

    summary = harness.invoke(exposed_credentials.handler, health_event(key))

    assert status(iam, "ci-deployer", key) == "Active" and attached(iam, "ci-deployer") == []
    [item] = harness.items(summary)
    assert item["reason"] == "protected: tagged caretaker:protect=true"
    [note] = harness.notifications()
    assert "Not changed: protected" in note["summary"]


def test_the_quarantine_policy_can_be_left_out(harness: Harness, iam: Any) -> None:
    harness.setting("CARETAKER_QUARANTINE_POLICY", "false")
    key = user_with_key(iam)

    harness.invoke(exposed_credentials.handler, health_event(key))

    assert status(iam, "ci-deployer", key) == "Inactive" and attached(iam, "ci-deployer") == []


def test_nothing_is_ever_deleted(harness: Harness, iam: Any) -> None:
    key = user_with_key(iam)
    start = len(harness.clients.calls)
    harness.invoke(exposed_credentials.handler, health_event(key))
    harness.invoke(exposed_credentials.handler, guardduty_event(key))

    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName="ci-deployer")["AccessKeyMetadata"]] == [key]
    assert not [o for s, o, _ in harness.clients.calls[start:] if s == "iam" and o.startswith("Delete")]
    assert not [a for p in exposed_credentials.SPEC.permissions for a in p.actions if ":Delete" in a]


@pytest.mark.parametrize(("change", "reason"), [
    (lambda e: e["detail"].update(affectedEntities=[{"entityValue": "arn:aws:iam::123456789012:user/x"}]),
     "bad event: the Health event names no access key id (affected entities: arn:aws:iam::123456789012:user/x)"),
    (lambda e: e["detail"].update(affectedEntities=[{"entityValue": "AKIAIOSFODNN7EXAMPL1"},
                                                    {"entityValue": "AKIAIOSFODNN7EXAMPL2"}]),
     "bad event: the Health event names 2 access keys; AWS sends one event per key"),
    (lambda e: e["detail"].pop("eventTypeCode"), "bad event: detail.eventTypeCode is missing"),
])
def test_a_malformed_event_is_skipped_with_the_reason(harness: Harness, change: Any, reason: str) -> None:
    event = load_sample("health", "aws_risk_credentials_exposed")
    change(event)

    summary = harness.invoke(exposed_credentials.handler, event)

    [item] = harness.items(summary)
    assert (item["outcome"], item["reason"]) == ("skipped", reason)
    assert harness.notifications() == []


def test_a_finding_without_an_access_key_is_a_bad_event(harness: Harness) -> None:
    event = load_sample("guardduty", "credentialaccess_iamuser_anomalousbehavior")
    del event["detail"]["resource"]["accessKeyDetails"]

    [item] = harness.items(harness.invoke(exposed_credentials.handler, event))
    assert item["reason"].startswith("bad event: the finding names no access key")


def test_a_refused_deactivation_is_recorded_failed_and_the_quarantine_still_attached(
        harness: Harness, iam: Any) -> None:
    key = user_with_key(iam)
    harness.fail("iam", "UpdateAccessKey", "AccessDenied")

    summary = harness.invoke(exposed_credentials.handler, health_event(key))

    assert status(iam, "ci-deployer", key) == "Active"
    assert attached(iam, "ci-deployer") == [QUARANTINE]
    items = harness.items(summary)
    [outer] = [i for i in items if (i["action"], i["outcome"]) == ("contain-exposed-key", "failed")]
    assert "deactivate-access-key (AccessDenied" in outer["reason"]
    assert "done: attach-quarantine-policy" in outer["reason"]
    assert {("deactivate-access-key", "failed"), ("attach-quarantine-policy", "succeeded")} <= set(outcomes(items))
    finding, alert = harness.notifications()  # the finding, then the alert of a run with failures
    assert finding["body"]["caretaker"]["outcome"] == "failed"
    assert "caretaker" not in alert["body"]


def test_a_refused_lookup_fails_the_run_so_lambda_retries(harness: Harness, iam: Any) -> None:
    key = user_with_key(iam)
    harness.fail("iam", "GetAccessKeyLastUsed", "AccessDenied")

    with pytest.raises(ClientError):
        harness.invoke(exposed_credentials.handler, health_event(key))

    assert status(iam, "ci-deployer", key) == "Active"


@pytest.mark.parametrize("finding_type", ["Discovery:IAMUser/AnomalousBehavior", "Policy:IAMUser/RootCredentialUsage",
                                          "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom"])
def test_other_access_key_findings_do_not_match(finding_type: str) -> None:
    event = load_sample("guardduty", "credentialaccess_iamuser_anomalousbehavior")
    event["detail"]["type"] = finding_type
    assert not matches(trigger_manifest(exposed_credentials.SPEC.trigger)["pattern"], event)


def test_other_health_events_do_not_match() -> None:
    event = load_sample("health", "aws_risk_credentials_exposed")
    event["detail"]["eventTypeCode"] = "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED"
    assert not matches(trigger_manifest(exposed_credentials.SPEC.trigger)["pattern"], event)
