"""Admin-equivalent grants that are not AWS's AdministratorAccess (docs/security-model.md, section 3).

Each attack is one a developer with ordinary IAM write rights can make, which the rules used to
miss; each runs in enforce mode and asserts what IAM holds afterwards, the state log and the
alert. The legitimate uses beside them must be left alone, without an alert.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from automations.security import iam_admin_grant, iam_policy_version, iam_trust_policy
from tests.automations.security.conftest import Harness, aws, load_event, outcomes

ACCOUNT, FOREIGN, PARTNER = "123456789012", "444455556666", "222233334444"
EC2_TRUST = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(**element: Any) -> dict[str, Any]:
    return {"Effect": "Allow", **element}


@pytest.fixture
def iam(harness: Harness) -> Iterator[Any]:
    harness.mode("enforce")
    yield aws("iam")


def role(iam: Any, name: str = "app-deployer") -> None:
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=document(EC2_TRUST))


def attach_event(kind: str, name: str, policy_arn: str) -> dict[str, Any]:
    event = load_event("attach_role_policy")
    event["detail"]["eventName"] = f"Attach{kind.capitalize()}Policy"
    event["detail"]["requestParameters"] = {f"{kind}Name": name, "policyArn": policy_arn}
    return event


def put_event(kind: str, name: str, policy: str, body: str) -> dict[str, Any]:
    event = load_event("put_user_policy")
    event["detail"]["eventName"] = f"Put{kind.capitalize()}Policy"
    event["detail"]["requestParameters"] = {f"{kind}Name": name, "policyName": policy, "policyDocument": body}
    return event


def removed(harness: Harness, summary: dict[str, Any], action: str) -> dict[str, Any]:
    """The run planned, then carried out, `action`, and alerted once; the outcome item."""
    items = harness.items(summary)
    assert outcomes(items) == [(action, "planned"), (action, "succeeded")]
    [note] = harness.notifications()
    assert note["body"]["caretaker"]["outcome"] == "succeeded"
    return items[-1]


def left_alone(harness: Harness, summary: dict[str, Any], action: str) -> dict[str, Any]:
    [item] = harness.items(summary)
    assert (item["action"], item["outcome"]) == (action, "skipped")
    assert harness.notifications() == []
    return item


def inline_names(iam: Any, kind: str, name: str) -> list[str]:
    names: list[str] = getattr(iam, f"list_{kind}_policies")(**{f"{kind.capitalize()}Name": name})["PolicyNames"]
    return names


def attached(iam: Any, kind: str, name: str) -> list[str]:
    response = getattr(iam, f"list_attached_{kind}_policies")(**{f"{kind.capitalize()}Name": name})
    return [p["PolicyArn"] for p in response["AttachedPolicies"]]


# ---------------------------------------------------------------------- attacks


def test_not_action_inline_policy_is_deleted(harness: Harness, iam: Any) -> None:
    body = document(allow(NotAction="iam:DeleteAccountPasswordPolicy", Resource="*"))
    iam.create_user(UserName="ci-runner")
    iam.put_user_policy(UserName="ci-runner", PolicyName="almost-nothing", PolicyDocument=body)

    summary = harness.invoke(iam_admin_grant.handler, put_event("user", "ci-runner", "almost-nothing", body))

    assert inline_names(iam, "user", "ci-runner") == []
    item = removed(harness, summary, "delete-user-policy")
    assert "NotAction" in item["details"]["verdict"]["reason"]


def detached_reason(harness: Harness, iam: Any, kind: str, name: str, policy: str, body: str) -> str:
    """The customer policy `policy` attached to a new `kind` (user, group) `name`: the rule detaches it; the
    reason of its verdict."""
    arn = iam.create_policy(PolicyName=policy, PolicyDocument=body)["Policy"]["Arn"]
    key = f"{kind.capitalize()}Name"
    getattr(iam, f"create_{kind}")(**{key: name})
    getattr(iam, f"attach_{kind}_policy")(**{key: name, "PolicyArn": arn})

    summary = harness.invoke(iam_admin_grant.handler, attach_event(kind, name, arn))

    assert attached(iam, kind, name) == []
    return str(removed(harness, summary, f"detach-{kind}-policy")["details"]["verdict"]["reason"])


def test_iam_star_customer_policy_attached_is_detached(harness: Harness, iam: Any) -> None:
    body = document(allow(Action="iam:*", Resource="*"))
    assert "iam:*" in detached_reason(harness, iam, "user", "ci-runner", "iam-helpers", body)


def test_not_resource_policy_attached_to_a_group_is_detached(harness: Harness, iam: Any) -> None:
    body = document(allow(Action="*", NotResource="arn:aws:s3:::audit-logs/*"))
    assert "NotResource" in detached_reason(harness, iam, "group", "contractors", "all-but-audit", body)


def test_any_arn_resource_pattern_inline_policy_is_deleted(harness: Harness, iam: Any) -> None:
    body = document(allow(Action="*", Resource="arn:aws:*:*:*:*"))
    role(iam)
    iam.put_role_policy(RoleName="app-deployer", PolicyName="scoped-honest", PolicyDocument=body)

    summary = harness.invoke(iam_admin_grant.handler, put_event("role", "app-deployer", "scoped-honest", body))

    assert inline_names(iam, "role", "app-deployer") == []
    removed(harness, summary, "delete-role-policy")


def test_customer_managed_copy_of_administrator_access_is_detached(harness: Harness, iam: Any) -> None:
    arn = iam.create_policy(PolicyName="ReadOnlyHelpers", PolicyDocument=document(allow(Action="*", Resource="*")))[
        "Policy"]["Arn"]
    role(iam)
    iam.attach_role_policy(RoleName="app-deployer", PolicyArn=arn)

    summary = harness.invoke(iam_admin_grant.handler, attach_event("role", "app-deployer", arn))

    assert attached(iam, "role", "app-deployer") == []
    assert removed(harness, summary, "detach-role-policy")["details"]["policy_arn"] == arn


def attached_scoped_policy(iam: Any) -> str:
    """app-deployer-policy v1 (scoped), attached to the role app-deployer."""
    scoped = document(allow(Action="s3:GetObject", Resource="arn:aws:s3:::app-artifacts/*"))
    arn: str = iam.create_policy(PolicyName="app-deployer-policy", PolicyDocument=scoped)["Policy"]["Arn"]
    role(iam)
    iam.attach_role_policy(RoleName="app-deployer", PolicyArn=arn)
    return arn


def default_version(iam: Any, arn: str) -> str:
    version: str = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return version


def test_create_policy_version_set_as_default_is_rolled_back(harness: Harness, iam: Any) -> None:
    arn = attached_scoped_policy(iam)
    event = load_event("create_policy_version")
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=event["detail"]["requestParameters"]["policyDocument"],
                              SetAsDefault=True)

    summary = harness.invoke(iam_policy_version.handler, event)

    assert default_version(iam, arn) == "v1"
    assert attached(iam, "role", "app-deployer") == [arn]  # the grant is undone, the attachment kept
    item = removed(harness, summary, "restore-policy-version")
    assert (item["details"]["version_id"], item["details"]["restore_version"]) == ("v2", "v1")


def test_set_default_policy_version_to_a_dormant_admin_version_is_rolled_back(harness: Harness, iam: Any) -> None:
    arn = attached_scoped_policy(iam)
    # planted earlier without setAsDefault (nothing to see then), switched on later
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=document(allow(Action="iam:PassRole", Resource="*")))
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")

    summary = harness.invoke(iam_policy_version.handler, load_event("set_default_policy_version"))

    assert default_version(iam, arn) == "v1"
    assert "iam:PassRole" in removed(harness, summary, "restore-policy-version")["details"]["verdict"]["reason"]


def test_add_user_to_an_admin_equivalent_group_is_undone(harness: Harness, iam: Any) -> None:
    escalate = iam.create_policy(PolicyName="group-helpers", PolicyDocument=document(
        allow(Action=["iam:AttachUserPolicy", "iam:ListUsers"], Resource="*")))["Policy"]["Arn"]
    iam.create_group(GroupName="platform-admins")
    iam.attach_group_policy(GroupName="platform-admins", PolicyArn=escalate)
    iam.create_user(UserName="mallory")
    iam.add_user_to_group(GroupName="platform-admins", UserName="mallory")

    summary = harness.invoke(iam_admin_grant.handler, load_event("add_user_to_group"))

    assert iam.list_groups_for_user(UserName="mallory")["Groups"] == []
    assert removed(harness, summary, "remove-user-from-group")["details"]["group_policy"] == escalate


def trust_event(trust: str) -> dict[str, Any]:
    event = load_event("update_assume_role_policy")
    event["detail"]["requestParameters"]["policyDocument"] = trust
    return event


def current_trust(iam: Any) -> dict[str, Any]:
    trust: dict[str, Any] = iam.get_role(RoleName="app-deployer")["Role"]["AssumeRolePolicyDocument"]
    return trust


def test_update_assume_role_policy_to_anyone_is_closed(harness: Harness, iam: Any) -> None:
    trust = document(EC2_TRUST, allow(Principal={"AWS": "*"}, Action="sts:AssumeRole"))
    role(iam)
    iam.update_assume_role_policy(RoleName="app-deployer", PolicyDocument=trust)

    summary = harness.invoke(iam_trust_policy.handler, trust_event(trust))

    assert current_trust(iam) == json.loads(document(EC2_TRUST))
    item = removed(harness, summary, "close-trust-policy")
    assert item["details"]["before"] == json.loads(trust)


def test_update_assume_role_policy_to_a_foreign_account_is_closed(harness: Harness, iam: Any) -> None:
    trust = document(allow(Principal={"AWS": [f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{FOREIGN}:root"]},
                           Action="sts:AssumeRole"))
    role(iam)
    iam.update_assume_role_policy(RoleName="app-deployer", PolicyDocument=trust)

    summary = harness.invoke(iam_trust_policy.handler, trust_event(trust))

    assert current_trust(iam) == json.loads(document(allow(Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                                           Action="sts:AssumeRole")))
    item = removed(harness, summary, "close-trust-policy")
    assert [o["principal"] for o in item["details"]["openings"]] == [f"arn:aws:iam::{FOREIGN}:root"]


def test_a_foreign_account_in_the_same_statement_as_an_org_condition_of_another_org_is_closed(
        harness: Harness, iam: Any) -> None:
    boto3.client("organizations", region_name="us-east-1").create_organization(FeatureSet="ALL")
    trust = document(allow(Principal={"AWS": FOREIGN}, Action="sts:AssumeRole",
                           Condition={"StringEquals": {"aws:PrincipalOrgID": "o-attackersorg"}}))
    role(iam)
    iam.update_assume_role_policy(RoleName="app-deployer", PolicyDocument=trust)

    summary = harness.invoke(iam_trust_policy.handler, trust_event(trust))

    assert current_trust(iam)["Statement"][0]["Effect"] == "Deny"
    removed(harness, summary, "close-trust-policy")


# ---------------------------------------------------------------------- legitimate uses


@pytest.fixture
def managed_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS's managed policies in moto (ReadOnlyAccess must exist to be attached)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    iam_backends[DEFAULT_ACCOUNT_ID]["global"].reset()
    monkeypatch.delenv("MOTO_IAM_LOAD_MANAGED_POLICIES")


def test_attaching_aws_read_only_access_is_left_alone(harness: Harness, iam: Any, managed_policies: None) -> None:
    arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    role(iam)
    iam.attach_role_policy(RoleName="app-deployer", PolicyArn=arn)

    summary = harness.invoke(iam_admin_grant.handler, attach_event("role", "app-deployer", arn))

    assert attached(iam, "role", "app-deployer") == [arn]
    assert left_alone(harness, summary, "detach-role-policy")["details"]["verdict"]["admin_equivalent"] is False


def test_a_scoped_customer_policy_is_left_alone(harness: Harness, iam: Any) -> None:
    body = document(allow(Action=["s3:GetObject", "s3:PutObject"], Resource="arn:aws:s3:::app-artifacts/*"),
                    allow(Action="iam:PassRole", Resource=f"arn:aws:iam::{ACCOUNT}:role/app-lambda"),
                    allow(Action="iam:CreateAccessKey", Resource=f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"))
    arn = iam.create_policy(PolicyName="app-deployer-scoped", PolicyDocument=body)["Policy"]["Arn"]
    role(iam)
    iam.attach_role_policy(RoleName="app-deployer", PolicyArn=arn)

    summary = harness.invoke(iam_admin_grant.handler, attach_event("role", "app-deployer", arn))

    assert attached(iam, "role", "app-deployer") == [arn]
    left_alone(harness, summary, "detach-role-policy")


def test_a_new_scoped_default_version_is_left_alone(harness: Harness, iam: Any) -> None:
    arn = attached_scoped_policy(iam)
    wider = document(allow(Action=["s3:GetObject", "s3:PutObject"], Resource="arn:aws:s3:::app-artifacts/*"))
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=wider, SetAsDefault=True)
    event = load_event("create_policy_version")
    event["detail"]["requestParameters"]["policyDocument"] = wider

    summary = harness.invoke(iam_policy_version.handler, event)

    assert default_version(iam, arn) == "v2"
    left_alone(harness, summary, "restore-policy-version")


def test_a_trust_policy_to_an_allowed_account_is_left_alone(harness: Harness, iam: Any) -> None:
    harness.setting("CARETAKER_TRUST_POLICY_ALLOWED_ACCOUNTS", PARTNER)
    trust = document(EC2_TRUST, allow(Principal={"AWS": f"arn:aws:iam::{PARTNER}:role/deploy"},
                                      Action="sts:AssumeRole"))
    role(iam)
    iam.update_assume_role_policy(RoleName="app-deployer", PolicyDocument=trust)

    summary = harness.invoke(iam_trust_policy.handler, trust_event(trust))

    assert current_trust(iam) == json.loads(trust)
    left_alone(harness, summary, "close-trust-policy")


def test_a_trust_policy_held_to_the_organization_is_left_alone(harness: Harness, iam: Any) -> None:
    org = boto3.client("organizations", region_name="us-east-1").create_organization(FeatureSet="ALL")
    trust = document(allow(Principal={"AWS": "*"}, Action="sts:AssumeRole",
                           Condition={"StringEquals": {"aws:PrincipalOrgID": org["Organization"]["Id"]}}))
    role(iam)
    iam.update_assume_role_policy(RoleName="app-deployer", PolicyDocument=trust)

    summary = harness.invoke(iam_trust_policy.handler, trust_event(trust))

    assert current_trust(iam) == json.loads(trust)
    left_alone(harness, summary, "close-trust-policy")
