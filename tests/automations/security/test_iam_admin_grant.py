"""iam-admin-grant: administrator rights granted outside the allow-list are reported, and removed in enforce."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from automations.security import iam_admin_grant
from tests.automations.security.conftest import Harness, aws, from_caretaker, load_event, outcomes, redelivered

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
EVERYTHING = json.dumps({"Version": "2012-10-17",
                         "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@pytest.fixture
def iam(monkeypatch: pytest.MonkeyPatch) -> Any:
    """IAM with AWS's managed policies: AdministratorAccess must exist to be attached."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    iam_backends[DEFAULT_ACCOUNT_ID]["global"].reset()  # moto reads the variable when a backend starts
    monkeypatch.delenv("MOTO_IAM_LOAD_MANAGED_POLICIES")  # so that the reset at teardown stays cheap
    return aws("iam")


def role_with_admin(iam: Any, tags: list[dict[str, str]] | None = None) -> None:
    iam.create_role(RoleName="app-deployer", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}), Tags=tags or [])
    iam.attach_role_policy(RoleName="app-deployer", PolicyArn=ADMIN)


def attached(iam: Any) -> list[str]:
    return [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="app-deployer")["AttachedPolicies"]]


def test_audit_is_the_default_the_grant_is_reported_and_kept(harness: Harness, iam: Any) -> None:
    role_with_admin(iam)

    summary = harness.invoke(iam_admin_grant.handler, load_event("attach_role_policy"))

    assert iam_admin_grant.SPEC.default_mode == "audit"
    assert attached(iam) == [ADMIN]
    [planned] = harness.items(summary)
    assert (planned["action"], planned["outcome"], planned["dry_run"]) == ("detach-role-policy", "planned", True)
    assert planned["resource_id"] == "role/app-deployer"
    [note] = harness.notifications()
    assert "AdministratorAccess attached to role app-deployer" in note["subject"]
    assert note["body"]["finding"]["actor"]["session_issuer_arn"].endswith(":role/DeveloperAccess")


def test_enforce_detaches_the_managed_policy(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    role_with_admin(iam)

    summary = harness.invoke(iam_admin_grant.handler, load_event("attach_role_policy"))

    assert attached(iam) == []
    assert outcomes(harness.items(summary))[-1] == ("detach-role-policy", "succeeded")


def test_enforce_detaches_from_a_group(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    iam.create_group(GroupName="contractors")
    iam.attach_group_policy(GroupName="contractors", PolicyArn=ADMIN)

    harness.invoke(iam_admin_grant.handler, load_event("attach_group_policy"))

    assert iam.list_attached_group_policies(GroupName="contractors")["AttachedPolicies"] == []


def test_enforce_deletes_an_inline_policy_allowing_everything(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    iam.create_user(UserName="ci-runner")
    iam.put_user_policy(UserName="ci-runner", PolicyName="break-glass", PolicyDocument=EVERYTHING)

    summary = harness.invoke(iam_admin_grant.handler, load_event("put_user_policy"))

    assert iam.list_user_policies(UserName="ci-runner")["PolicyNames"] == []
    assert outcomes(harness.items(summary))[-1] == ("delete-user-policy", "succeeded")


def test_an_inline_policy_that_does_not_allow_everything_is_not_a_finding(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    iam.create_user(UserName="ci-runner")
    narrow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="ci-runner", PolicyName="break-glass", PolicyDocument=json.dumps(narrow))
    event = load_event("put_user_policy")
    event["detail"]["requestParameters"]["policyDocument"] = json.dumps(narrow)

    summary = harness.invoke(iam_admin_grant.handler, event)

    assert iam.list_user_policies(UserName="ci-runner")["PolicyNames"] == ["break-glass"]
    assert outcomes(harness.items(summary)) == [("delete-user-policy", "skipped")]
    assert harness.notifications() == []


def test_a_grant_by_an_allowed_principal_is_left_alone(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    harness.setting("CARETAKER_ADMIN_GRANT_ALLOWED_PRINCIPALS",
                    "arn:aws:iam::123456789012:role/Platform*,arn:aws:iam::123456789012:role/DeveloperAccess")
    role_with_admin(iam)

    summary = harness.invoke(iam_admin_grant.handler, load_event("attach_role_policy"))

    assert attached(iam) == [ADMIN]
    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and "admin_grant_allowed_principals" in item["reason"]
    assert harness.notifications() == []


def test_a_protected_role_keeps_the_grant_but_it_is_reported(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    role_with_admin(iam, [{"Key": "caretaker:protect", "Value": "true"}])

    harness.invoke(iam_admin_grant.handler, load_event("attach_role_policy"))

    assert attached(iam) == [ADMIN]
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "skipped"


def test_a_grant_removed_meanwhile_is_reported_not_acted_on(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    role_with_admin(iam)
    iam.detach_role_policy(RoleName="app-deployer", PolicyArn=ADMIN)

    summary = harness.invoke(iam_admin_grant.handler, load_event("attach_role_policy"))

    assert outcomes(harness.items(summary)) == [("detach-role-policy", "skipped")]
    assert len(harness.notifications()) == 1


def test_a_second_delivery_of_the_same_event_does_nothing(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    role_with_admin(iam)
    event = load_event("attach_role_policy")
    harness.invoke(iam_admin_grant.handler, event)
    iam.attach_role_policy(RoleName="app-deployer", PolicyArn=ADMIN)

    second = harness.invoke(iam_admin_grant.handler, redelivered(event))

    assert attached(iam) == [ADMIN]
    assert outcomes(harness.items(second)) == [("evaluate-event", "skipped")]


def test_an_event_caused_by_a_caretaker_role_does_nothing(harness: Harness, iam: Any) -> None:
    harness.mode("enforce")
    role_with_admin(iam)

    harness.invoke(iam_admin_grant.handler, from_caretaker(load_event("attach_role_policy")))

    assert attached(iam) == [ADMIN]
    assert harness.notifications() == []


def test_a_principal_that_no_longer_exists_is_skipped(harness: Harness, iam: Any) -> None:
    summary = harness.invoke(iam_admin_grant.handler, load_event("attach_role_policy"))

    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and item["reason"] == "gone: role app-deployer no longer exists"


@pytest.mark.parametrize(("document", "admin"), [
    ({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, True),
    ({"Statement": {"Effect": "Allow", "Action": ["s3:*", "*:*"], "Resource": ["*"]}}, True),
    ({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}, False),
    ({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/*"}]}, False),
    ({"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}, False),
])
def test_only_documents_allowing_everything_on_everything_count(document: dict[str, Any], admin: bool) -> None:
    assert iam_admin_grant.grants_admin(document) is admin


def test_a_url_encoded_document_is_read() -> None:
    encoded = quote(EVERYTHING)
    assert encoded.startswith("%7B")
    assert iam_admin_grant.grants_admin(iam_admin_grant.parse_document(encoded))
