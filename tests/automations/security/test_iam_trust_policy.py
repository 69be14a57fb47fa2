"""iam-trust-policy: a trust policy opened to anyone or to a foreign account is reported, and closed in enforce."""

from __future__ import annotations

import json
from typing import Any

import boto3

from automations.security import iam_trust_policy
from automations.security.trust_policy import DENY_EVERYONE
from tests.automations.security.conftest import Harness, aws, from_caretaker, load_event, outcomes

OWN, FOREIGN, PARTNER = "123456789012", "444455556666", "222233334444"
EC2 = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def aws_principal(principal: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    return statement | ({"Condition": condition} if condition else {})


def updated(iam: Any, trust: dict[str, Any], tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The role as UpdateAssumeRolePolicy left it, and the event recording that call."""
    iam.create_role(RoleName="app-deployer", AssumeRolePolicyDocument=json.dumps(document(EC2)), Tags=tags or [])
    iam.update_assume_role_policy(RoleName="app-deployer", PolicyDocument=json.dumps(trust))
    event = load_event("update_assume_role_policy")
    event["detail"]["requestParameters"]["policyDocument"] = json.dumps(trust)
    return event


def current(iam: Any) -> dict[str, Any]:
    trust: dict[str, Any] = iam.get_role(RoleName="app-deployer")["Role"]["AssumeRolePolicyDocument"]
    return trust


def test_audit_is_the_default_a_foreign_account_is_reported_and_kept(harness: Harness) -> None:
    iam = aws("iam")
    event = load_event("update_assume_role_policy")  # EC2, and the foreign account 444455556666
    trust = json.loads(event["detail"]["requestParameters"]["policyDocument"])
    updated(iam, trust)

    summary = harness.invoke(iam_trust_policy.handler, event)

    assert iam_trust_policy.SPEC.default_mode == "audit"
    assert current(iam) == trust
    [planned] = harness.items(summary)
    assert (planned["action"], planned["outcome"], planned["dry_run"]) == ("close-trust-policy", "planned", True)
    assert planned["details"]["openings"][0]["principal"] == f"arn:aws:iam::{FOREIGN}:root"
    assert planned["details"]["after"] == document(EC2)
    [note] = harness.notifications()
    assert "trust policy of role app-deployer opened to" in note["subject"]
    assert f"opened to arn:aws:iam::{FOREIGN}:root by arn:aws:iam::{OWN}:role/DeveloperAccess" in note["summary"]


def test_enforce_removes_the_foreign_account_and_keeps_the_rest(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    own = aws_principal(f"arn:aws:iam::{OWN}:role/admin")
    event = updated(iam, document(EC2, own, aws_principal([f"arn:aws:iam::{OWN}:root", FOREIGN])))

    summary = harness.invoke(iam_trust_policy.handler, event)

    assert current(iam) == document(EC2, own, aws_principal(f"arn:aws:iam::{OWN}:root"))
    done = harness.items(summary)[-1]
    assert (done["outcome"], done["details"]["before"]["Statement"][2]["Principal"]["AWS"][1]) == ("succeeded",
                                                                                                  FOREIGN)


def test_enforce_closes_a_role_open_to_everyone(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    event = updated(iam, document({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}))

    summary = harness.invoke(iam_trust_policy.handler, event)

    assert current(iam) == document(DENY_EVERYONE)
    assert outcomes(harness.items(summary))[-1] == ("close-trust-policy", "succeeded")


def test_an_allow_listed_account_is_left_alone(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    harness.setting("CARETAKER_TRUST_POLICY_ALLOWED_ACCOUNTS", f"{PARTNER},{FOREIGN}")
    event = updated(iam, document(aws_principal(f"arn:aws:iam::{FOREIGN}:root")))

    summary = harness.invoke(iam_trust_policy.handler, event)

    assert current(iam) == document(aws_principal(f"arn:aws:iam::{FOREIGN}:root"))
    assert "allow-listed" in harness.skipped_quietly(summary)


def test_anyone_held_to_the_organization_is_left_alone(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    org = boto3.client("organizations", region_name="us-east-1").create_organization(FeatureSet="ALL")
    org_id = org["Organization"]["Id"]
    trust = document(aws_principal("*", {"StringEquals": {"aws:PrincipalOrgID": org_id}}))
    event = updated(iam, trust)

    summary = harness.invoke(iam_trust_policy.handler, event)

    assert current(iam) == trust
    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and "held to the organization" in item["reason"]
    assert item["details"]["organization"] == org_id


def test_another_organizations_id_does_not_hold(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    boto3.client("organizations", region_name="us-east-1").create_organization(FeatureSet="ALL")
    event = updated(iam, document(EC2, aws_principal("*", {"StringEquals": {"aws:PrincipalOrgID": "o-zzzzzzzzzz"}})))

    harness.invoke(iam_trust_policy.handler, event)

    assert current(iam) == document(EC2)


def test_a_protected_role_keeps_its_trust_policy_but_it_is_reported(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    trust = document(aws_principal("*"))
    event = updated(iam, trust, tags=[{"Key": "caretaker:protect", "Value": "true"}])

    summary = harness.invoke(iam_trust_policy.handler, event)

    assert current(iam) == trust
    assert harness.skipped_reported(summary).startswith("protected")


def test_a_trust_policy_closed_meanwhile_is_reported_not_acted_on(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    event = updated(iam, document(aws_principal("*")))
    iam.update_assume_role_policy(RoleName="app-deployer", PolicyDocument=json.dumps(document(EC2)))

    summary = harness.invoke(iam_trust_policy.handler, event)

    assert current(iam) == document(EC2)
    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and "no longer" in item["reason"]
    assert len(harness.notifications()) == 1


def test_the_current_document_is_closed_not_the_event_one(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    event = updated(iam, document(aws_principal("*")))
    later = document(EC2, aws_principal(FOREIGN))
    iam.update_assume_role_policy(RoleName="app-deployer", PolicyDocument=json.dumps(later))

    harness.invoke(iam_trust_policy.handler, event)

    assert current(iam) == document(EC2)


def test_a_role_that_no_longer_exists_is_skipped_as_gone(harness: Harness) -> None:
    reason = harness.only_reason(iam_trust_policy.handler, load_event("update_assume_role_policy"))
    assert reason == "gone: role app-deployer no longer exists"


def test_an_event_caused_by_a_caretaker_role_does_nothing(harness: Harness) -> None:
    iam = aws("iam")
    harness.mode("enforce")
    trust = document(aws_principal("*"))
    event = updated(iam, trust)

    harness.invoke(iam_trust_policy.handler, from_caretaker(event))

    assert current(iam) == trust
    assert harness.notifications() == []


def test_a_malformed_policy_document_is_a_bad_event(harness: Harness) -> None:
    event = load_event("update_assume_role_policy")
    event["detail"]["requestParameters"]["policyDocument"] = "{not json"

    summary = harness.invoke(iam_trust_policy.handler, event)

    [item] = harness.items(summary)
    assert item["reason"].startswith("bad event: requestParameters.policyDocument")
