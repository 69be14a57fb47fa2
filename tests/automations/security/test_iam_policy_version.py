"""iam-policy-version: a default version that makes an attached policy admin-equivalent is undone in enforce."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automations.security import iam_policy_version
from tests.automations.security.conftest import Harness, aws, from_caretaker, load_event, outcomes

ARN = "arn:aws:iam::123456789012:policy/app-deployer-policy"


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


SCOPED = document({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::app-artifacts/*"})
WIDER = document({"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                  "Resource": "arn:aws:s3:::app-artifacts/*"})
ADMIN = document({"Effect": "Allow", "NotAction": "iam:DeleteAccountPasswordPolicy", "Resource": "*"})


def attached_policy(iam: Any, *versions: str, attach: bool = True, tags: list[dict[str, str]] | None = None) -> None:
    """The policy with `versions` (the first is v1; each later one becomes the default), attached to a role."""
    iam.create_policy(PolicyName="app-deployer-policy", PolicyDocument=versions[0], Tags=tags or [])
    for version in versions[1:]:
        iam.create_policy_version(PolicyArn=ARN, PolicyDocument=version, SetAsDefault=True)
    if attach:
        iam.create_role(RoleName="app-deployer", AssumeRolePolicyDocument=document(
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))
        iam.attach_role_policy(RoleName="app-deployer", PolicyArn=ARN)


def default_version(iam: Any) -> str:
    version: str = iam.get_policy(PolicyArn=ARN)["Policy"]["DefaultVersionId"]
    return version


def set_default_event(version: str) -> dict[str, Any]:
    event = load_event("set_default_policy_version")
    event["detail"]["requestParameters"]["versionId"] = version
    return event


def new_version_in_enforce(harness: Harness, *versions: str, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """In enforce mode, the policy with `versions` (`attached_policy`), and the rule's run on its newest version."""
    iam = aws("iam")
    harness.mode("enforce")
    attached_policy(iam, *versions, **kwargs)
    return iam, harness.invoke(iam_policy_version.handler, load_event("create_policy_version"))


def test_audit_is_the_default_the_admin_version_is_reported_and_kept(harness: Harness) -> None:
    iam = aws("iam")
    attached_policy(iam, SCOPED, ADMIN)

    summary = harness.invoke(iam_policy_version.handler, load_event("create_policy_version"))

    assert iam_policy_version.SPEC.default_mode == "audit"
    assert default_version(iam) == "v2"
    [planned] = harness.items(summary)
    assert (planned["action"], planned["outcome"], planned["dry_run"]) == ("restore-policy-version", "planned", True)
    assert planned["details"]["restore_version"] == "v1"
    [note] = harness.notifications()
    assert "version v2 makes policy app-deployer-policy admin-equivalent" in note["subject"]
    assert "made default by arn:aws:iam::123456789012:user/mallory" in note["summary"]


def test_enforce_sets_the_previous_version_back_and_keeps_the_admin_one(harness: Harness) -> None:
    iam, summary = new_version_in_enforce(harness, SCOPED, ADMIN)

    assert default_version(iam) == "v1"
    assert {v["VersionId"] for v in iam.list_policy_versions(PolicyArn=ARN)["Versions"]} == {"v1", "v2"}
    assert outcomes(harness.items(summary)) == [("restore-policy-version", "planned"),
                                                ("restore-policy-version", "succeeded")]


def test_the_newest_non_admin_version_is_restored(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    attached_policy(iam, SCOPED, WIDER, ADMIN)
    event = load_event("create_policy_version")
    event["detail"]["responseElements"]["policyVersion"]["versionId"] = "v3"

    harness.invoke(iam_policy_version.handler, event)

    assert default_version(iam) == "v2"


def test_set_default_to_an_old_admin_version_is_undone(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    attached_policy(iam, ADMIN, SCOPED)  # v1 was admin; v2, the scoped one, was the default
    iam.set_default_policy_version(PolicyArn=ARN, VersionId="v1")

    summary = harness.invoke(iam_policy_version.handler, set_default_event("v1"))

    assert default_version(iam) == "v2"
    assert outcomes(harness.items(summary))[-1] == ("restore-policy-version", "succeeded")


def test_without_a_non_admin_version_it_is_reported_and_nothing_changes(harness: Harness) -> None:
    iam, summary = new_version_in_enforce(harness, ADMIN, ADMIN)

    assert default_version(iam) == "v2"
    assert outcomes(harness.items(summary)) == [("notify", "planned"), ("notify", "succeeded")]
    [note] = harness.notifications()
    assert "nothing to restore" in note["subject"] + note["summary"]


def test_a_policy_attached_to_nobody_is_skipped(harness: Harness) -> None:
    iam, summary = new_version_in_enforce(harness, SCOPED, ADMIN, attach=False)

    assert default_version(iam) == "v2"
    assert "attached to no principal" in harness.skipped_quietly(summary)


def test_a_new_default_that_is_not_admin_equivalent_is_left_alone(harness: Harness) -> None:
    iam, summary = new_version_in_enforce(harness, SCOPED, WIDER)

    assert default_version(iam) == "v2"
    assert outcomes(harness.items(summary)) == [("restore-policy-version", "skipped")]
    assert harness.notifications() == []


def test_a_version_no_longer_the_default_is_reported_not_acted_on(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    attached_policy(iam, SCOPED, ADMIN)
    iam.set_default_policy_version(PolicyArn=ARN, VersionId="v1")

    summary = harness.invoke(iam_policy_version.handler, load_event("create_policy_version"))

    assert default_version(iam) == "v1"
    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and "no longer the default" in item["reason"]
    assert len(harness.notifications()) == 1


def test_a_protected_policy_keeps_its_version_but_it_is_reported(harness: Harness) -> None:
    iam, summary = new_version_in_enforce(harness, SCOPED, ADMIN, tags=[{"Key": "caretaker:protect", "Value": "true"}])

    assert default_version(iam) == "v2"
    assert harness.skipped_reported(summary).startswith("protected")


def test_a_change_by_an_allowed_principal_is_left_alone(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    harness.setting("CARETAKER_ADMIN_GRANT_ALLOWED_PRINCIPALS", "arn:aws:iam::123456789012:user/mallory")
    attached_policy(iam, SCOPED, ADMIN)

    summary = harness.invoke(iam_policy_version.handler, load_event("create_policy_version"))

    assert default_version(iam) == "v2"
    [item] = harness.items(summary)
    assert "admin_grant_allowed_principals" in item["reason"]
    assert harness.notifications() == []


def test_an_event_caused_by_a_caretaker_role_does_nothing(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    attached_policy(iam, SCOPED, ADMIN)

    harness.invoke(iam_policy_version.handler, from_caretaker(load_event("create_policy_version")))

    assert default_version(iam) == "v2"
    assert harness.notifications() == []


def test_a_policy_that_no_longer_exists_is_skipped_as_gone(harness: Harness) -> None:
    summary = harness.invoke(iam_policy_version.handler, load_event("create_policy_version"))

    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and item["reason"].startswith("gone: policy ")


@pytest.mark.parametrize(("change", "reason"), [
    (lambda e: e["detail"].update(responseElements=None), "responseElements.policyVersion.versionId is missing"),
    (lambda e: e["detail"]["requestParameters"].update(setAsDefault=False), "setAsDefault is not true"),
])
def test_a_create_event_without_a_new_default_is_a_bad_event(harness: Harness, change: Any, reason: str) -> None:
    event = load_event("create_policy_version")
    change(event)

    summary = harness.invoke(iam_policy_version.handler, event)

    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and item["reason"].startswith("bad event: ") and reason in item["reason"]
