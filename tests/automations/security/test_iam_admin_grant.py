"""iam-admin-grant: admin-equivalent rights granted outside the allow-list are reported, and removed in enforce.

The evaluator itself is tested in test_iam_policy.py; here, the three ways of granting on moto."""

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
    assert "admin_grant_allowed_principals" in harness.skipped_quietly(summary)


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


SCOPED = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::app-artifacts/*"}]})
NOT_ACTION = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "NotAction": "iam:DeleteAccountPasswordPolicy", "Resource": "*"}]})


def customer_policy(iam: Any, name: str, document: str) -> str:
    arn: str = iam.create_policy(PolicyName=name, PolicyDocument=document)["Policy"]["Arn"]
    return arn


def attach_event(policy_arn: str) -> dict[str, Any]:
    event = load_event("attach_role_policy")
    event["detail"]["requestParameters"]["policyArn"] = policy_arn
    return event


def plain_role(iam: Any, tags: list[dict[str, str]] | None = None) -> None:
    iam.create_role(RoleName="app-deployer", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}), Tags=tags or [])


def attached_to_the_role(harness: Harness, iam: Any, name: str, document: str) -> tuple[str, dict[str, Any]]:
    """In enforce mode, the customer policy `name` attached to the role app-deployer, and the rule's run on it."""
    harness.mode("enforce")
    plain_role(iam)
    arn = customer_policy(iam, name, document)
    iam.attach_role_policy(RoleName="app-deployer", PolicyArn=arn)
    return arn, harness.invoke(iam_admin_grant.handler, attach_event(arn))


def test_a_customer_managed_admin_equivalent_policy_is_detached_in_enforce(harness: Harness) -> None:
    iam = aws("iam")
    arn, summary = attached_to_the_role(harness, iam, "deployer-everything", NOT_ACTION)

    assert attached(iam) == []
    planned, done = harness.items(summary)
    assert (planned["outcome"], done["outcome"]) == ("planned", "succeeded")
    assert done["details"]["policy_arn"] == arn and done["details"]["policy_version"] == "v1"
    assert "NotAction" in done["details"]["verdict"]["reason"]
    [note] = harness.notifications()
    assert "admin-equivalent deployer-everything attached to role app-deployer" in note["subject"]


def test_a_scoped_customer_policy_attached_is_left_alone_without_a_notification(harness: Harness) -> None:
    iam = aws("iam")
    arn, summary = attached_to_the_role(harness, iam, "artifacts-rw", SCOPED)

    assert attached(iam) == [arn]
    [item] = harness.items(summary)
    assert (item["action"], item["outcome"]) == ("detach-role-policy", "skipped")
    assert "is not admin-equivalent" in item["reason"] and item["details"]["verdict"]["admin_equivalent"] is False
    assert harness.notifications() == []


def test_the_default_version_is_judged_not_the_first_one(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    plain_role(iam)
    arn = customer_policy(iam, "grows-later", SCOPED)
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=EVERYTHING, SetAsDefault=True)
    iam.attach_role_policy(RoleName="app-deployer", PolicyArn=arn)

    summary = harness.invoke(iam_admin_grant.handler, attach_event(arn))

    assert attached(iam) == []
    assert harness.items(summary)[-1]["details"]["policy_version"] == "v2"


def test_an_attached_policy_that_was_deleted_is_skipped_as_gone(harness: Harness) -> None:
    iam = aws("iam")
    plain_role(iam)

    summary = harness.invoke(iam_admin_grant.handler,
                             attach_event("arn:aws:iam::123456789012:policy/deleted-meanwhile"))

    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and item["reason"].startswith("gone: policy ")
    assert harness.notifications() == []


def test_a_url_encoded_inline_document_in_the_event_is_read(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    iam.create_user(UserName="ci-runner")
    iam.put_user_policy(UserName="ci-runner", PolicyName="break-glass", PolicyDocument=EVERYTHING)
    event = load_event("put_user_policy")
    event["detail"]["requestParameters"]["policyDocument"] = quote(EVERYTHING)

    summary = harness.invoke(iam_admin_grant.handler, event)

    assert iam.list_user_policies(UserName="ci-runner")["PolicyNames"] == []
    assert outcomes(harness.items(summary))[-1] == ("delete-user-policy", "succeeded")


def admin_group(iam: Any, member: str = "mallory", tags: list[dict[str, str]] | None = None) -> None:
    iam.create_group(GroupName="platform-admins")
    iam.put_group_policy(GroupName="platform-admins", PolicyName="everything", PolicyDocument=EVERYTHING)
    iam.create_user(UserName=member, Tags=tags or [])
    iam.add_user_to_group(GroupName="platform-admins", UserName=member)


def groups(iam: Any, user: str = "mallory") -> list[str]:
    return [g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]]


def test_a_user_added_to_an_admin_group_is_removed_in_enforce(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    admin_group(iam)

    summary = harness.invoke(iam_admin_grant.handler, load_event("add_user_to_group"))

    assert groups(iam) == []
    planned, done = harness.items(summary)
    assert planned["outcome"] == "planned"
    assert (done["action"], done["outcome"], done["resource_id"]) == ("remove-user-from-group", "succeeded",
                                                                      "user/mallory")
    assert done["details"]["group_policy"] == "inline:everything"
    [note] = harness.notifications()
    assert "user mallory added to admin-equivalent group platform-admins" in note["subject"]


def test_a_user_added_to_an_admin_group_stays_in_audit_and_is_reported(harness: Harness) -> None:
    iam = aws("iam")
    admin_group(iam)

    summary = harness.invoke(iam_admin_grant.handler, load_event("add_user_to_group"))

    assert groups(iam) == ["platform-admins"]
    [planned] = harness.items(summary)
    assert (planned["outcome"], planned["dry_run"]) == ("planned", True)
    assert len(harness.notifications()) == 1


def test_a_user_added_to_a_group_with_scoped_rights_is_left_alone(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    iam.create_group(GroupName="platform-admins")
    iam.attach_group_policy(GroupName="platform-admins", PolicyArn=customer_policy(iam, "artifacts-rw", SCOPED))
    iam.create_user(UserName="mallory")
    iam.add_user_to_group(GroupName="platform-admins", UserName="mallory")

    summary = harness.invoke(iam_admin_grant.handler, load_event("add_user_to_group"))

    assert groups(iam) == ["platform-admins"]
    assert outcomes(harness.items(summary)) == [("remove-user-from-group", "skipped")]
    assert harness.notifications() == []


def test_a_protected_user_stays_in_the_admin_group_but_it_is_reported(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    admin_group(iam, tags=[{"Key": "caretaker:protect", "Value": "true"}])

    summary = harness.invoke(iam_admin_grant.handler, load_event("add_user_to_group"))

    assert groups(iam) == ["platform-admins"]
    assert harness.skipped_reported(summary).startswith("protected")


def test_a_user_already_out_of_the_group_is_reported_not_acted_on(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    admin_group(iam)
    iam.remove_user_from_group(GroupName="platform-admins", UserName="mallory")

    summary = harness.invoke(iam_admin_grant.handler, load_event("add_user_to_group"))

    assert outcomes(harness.items(summary)) == [("remove-user-from-group", "skipped")]
    assert len(harness.notifications()) == 1


def test_a_group_that_no_longer_exists_is_skipped_as_gone(harness: Harness) -> None:
    reason = harness.only_reason(iam_admin_grant.handler, load_event("add_user_to_group"))
    assert reason == "gone: group platform-admins no longer exists"


def test_iam_refusing_a_read_fails_the_run_and_changes_nothing(harness: Harness) -> None:
    from botocore.exceptions import ClientError

    iam = aws("iam")
    harness.mode("enforce")
    admin_group(iam)
    harness.fail("iam", "ListGroupsForUser", "AccessDenied")

    with pytest.raises(ClientError):  # the run is recorded failed and Lambda retries
        harness.invoke(iam_admin_grant.handler, load_event("add_user_to_group"))

    assert groups(iam) == ["platform-admins"]
    runs = [i for i in harness.dynamodb.scan(TableName=harness.table)["Items"] if i.get("type", {}).get("S") == "run"]
    assert [r["status"]["S"] for r in runs] == ["failed"]
    assert not [i for i in harness.dynamodb.scan(TableName=harness.table)["Items"]
                if i.get("type", {}).get("S") == "action"]
