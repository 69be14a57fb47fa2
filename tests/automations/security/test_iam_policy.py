"""The admin-equivalence evaluator: which policy documents count, and why (table-driven, no AWS)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest

from automations.security.iam_policy import (
    ESCALATION_ACTIONS,
    PolicyDocumentError,
    Verdict,
    evaluate,
    grants_admin,
    parse_document,
)

ACCOUNT = "123456789012"


def allow(**element: Any) -> dict[str, Any]:
    """A document with one Allow statement made of the given elements."""
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **element}]}


#: (case id, document, reason fragment): admin-equivalent documents and the reason the verdict gives
ADMIN: list[tuple[str, dict[str, Any], str]] = [
    ("star", allow(Action="*", Resource="*"), "every action"),
    ("star-colon-star", allow(Action="*:*", Resource="*"), "every action"),
    ("star-in-a-list", allow(Action=["s3:GetObject", "*"], Resource=["arn:aws:s3:::b", "*"]), "every action"),
    ("statement-as-object", {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}, "every action"),
    ("with-a-condition", allow(Action="*", Resource="*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
     "every action"),
    ("resource-any-arn", allow(Action="*", Resource="arn:aws:*:*:*:*"), "every action"),
    ("resource-arn-star", allow(Action="*", Resource="arn:*"), "every action"),
    ("resource-any-partition", allow(Action="*", Resource="arn:*:*:*:*:*"), "every action"),
    ("resource-question-marks", allow(Action="*", Resource="a?n:*"), "every action"),
    ("not-action-iam", allow(NotAction="iam:*", Resource="*"), "NotAction"),
    ("not-action-list", allow(NotAction=["iam:*", "organizations:*", "account:*"], Resource="*"), "NotAction"),
    ("not-action-on-any-arn", allow(NotAction="s3:DeleteBucket", Resource="arn:aws:*:*:*:*"), "NotAction"),
    ("not-resource-one-bucket", allow(Action="*", NotResource="arn:aws:s3:::audit-logs/*"), "every action"),
    ("iam-star", allow(Action="iam:*", Resource="*"), "every IAM action"),
    ("iam-star-upper-case", allow(Action="IAM:*", Resource="*"), "every IAM action"),
    ("iam-star-on-iam-arns", allow(Action="iam:*", Resource=f"arn:aws:iam::{ACCOUNT}:*"), "every IAM action"),
    ("star-on-iam-arns", allow(Action="*", Resource=f"arn:aws:iam::{ACCOUNT}:*"), "AttachUserPolicy"),
    ("star-except-s3", allow(Action="*", NotResource="arn:aws:s3:::*"), "AttachUserPolicy"),
    ("not-action-not-resource", allow(NotAction="s3:*", NotResource="arn:aws:s3:::*"), "NotAction"),
    ("attach-wildcard", allow(Action="iam:Attach*", Resource="*"), "iam:AttachUserPolicy"),
    ("put-role-policy", allow(Action="iam:PutRolePolicy", Resource=f"arn:aws:iam::{ACCOUNT}:role/*"),
     "iam:PutRolePolicy"),
    ("put-group-policy-lower-case", allow(Action="iam:putgrouppolicy", Resource="*"), "iam:PutGroupPolicy"),
    ("policy-versions", allow(Action=["iam:CreatePolicyVersion"], Resource="arn:aws:iam::*:policy/*"),
     "iam:CreatePolicyVersion"),
    ("set-default-version", allow(Action="iam:SetDefaultPolicyVersion", Resource="*"), "iam:SetDefaultPolicyVersion"),
    ("pass-role", allow(Action="iam:PassRole", Resource="*"), "iam:PassRole"),
    ("pass-role-question-mark", allow(Action="iam:Pass?ole", Resource="*"), "iam:PassRole"),
    ("update-trust", allow(Action="iam:UpdateAssumeRolePolicy", Resource="*"), "iam:UpdateAssumeRolePolicy"),
    ("keys-for-others", allow(Action="iam:CreateAccessKey", Resource=f"arn:aws:iam::{ACCOUNT}:user/*"),
     "iam:CreateAccessKey"),
    ("login-profiles", allow(Action=["iam:CreateLoginProfile"], Resource="*"), "iam:CreateLoginProfile"),
    ("add-to-any-group", allow(Action="iam:AddUserToGroup", Resource="*"), "iam:AddUserToGroup"),
    ("escalation-beside-narrow", {"Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
        {"Sid": "Oops", "Effect": "Allow", "Action": "iam:PutUserPolicy", "Resource": "*"}]}, "iam:PutUserPolicy"),
    ("effect-lower-case", {"Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]}, "every action"),
]

#: (case id, document): documents that do not grant admin-equivalent access
NOT_ADMIN: list[tuple[str, dict[str, Any]]] = [
    ("deny-everything", {"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}),
    ("star-on-one-bucket", allow(Action="*", Resource="arn:aws:s3:::b/*")),
    ("s3-star", allow(Action="s3:*", Resource="*")),
    ("read-only", allow(Action=["ec2:Describe*", "s3:Get*", "s3:List*", "iam:Get*", "iam:List*"], Resource="*")),
    ("not-action-on-one-bucket", allow(NotAction="s3:DeleteObject", Resource="arn:aws:s3:::b/*")),
    ("iam-star-on-one-role", allow(Action="iam:*", Resource=f"arn:aws:iam::{ACCOUNT}:role/app-lambda")),
    ("pass-one-role", allow(Action="iam:PassRole", Resource=f"arn:aws:iam::{ACCOUNT}:role/app-lambda")),
    ("pass-roles-under-a-prefix", allow(Action="iam:PassRole", Resource=f"arn:aws:iam::{ACCOUNT}:role/app-*")),
    ("own-access-keys", allow(Action=["iam:CreateAccessKey", "iam:UpdateLoginProfile"],
                              Resource=f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}")),
    ("keys-in-another-account", allow(Action="iam:CreateAccessKey", Resource="arn:aws:iam::999999999999:user/*")),
    ("attach-on-one-group", allow(Action="iam:AttachGroupPolicy", Resource=f"arn:aws:iam::{ACCOUNT}:group/readers")),
    ("star-only-for-s3-arns", allow(Action="*", Resource="arn:aws:s3:::*")),
    ("neither-resource-nor-not-resource", allow(Action="*")),
    ("neither-action-nor-not-action", allow(Resource="*")),
    ("no-statement", {"Version": "2012-10-17"}),
    ("statement-not-an-object", {"Statement": ["Allow * on *"]}),
    ("action-not-a-string", allow(Action={"*": True}, Resource="*")),
    ("resource-in-another-partition", allow(Action="*", Resource="arn:aws-cn:*")),
    ("character-class-is-literal", allow(Action="[i]am:*", Resource="*")),
]


@pytest.mark.parametrize(("document", "reason"), [(d, r) for _, d, r in ADMIN], ids=[c for c, _, _ in ADMIN])
def test_admin_equivalent_documents_are_recognised_with_their_reason(document: dict[str, Any], reason: str) -> None:
    verdict = evaluate(document, partition="aws", account=ACCOUNT)

    assert verdict.admin is True
    assert reason in verdict.reason
    assert verdict.statement is not None


@pytest.mark.parametrize("document", [d for _, d in NOT_ADMIN], ids=[c for c, _ in NOT_ADMIN])
def test_documents_that_are_not_admin_equivalent_are_not(document: dict[str, Any]) -> None:
    verdict = evaluate(document, partition="aws", account=ACCOUNT)

    assert verdict == Verdict(False, verdict.reason)
    assert verdict.reason.startswith("no Allow statement")


@pytest.mark.parametrize("action", sorted(ESCALATION_ACTIONS))
def test_each_escalation_action_on_star_is_admin_equivalent_and_on_one_resource_is_not(action: str) -> None:
    kind = ESCALATION_ACTIONS[action]
    assert evaluate(allow(Action=action, Resource="*")).admin
    one = f"arn:aws:iam::{ACCOUNT}:{kind}/exactly-this-one"
    assert not evaluate(allow(Action=action, Resource=one), account=ACCOUNT).admin


def test_the_verdict_names_the_first_offending_statement_by_index_and_sid() -> None:
    document = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                              {"Sid": "Breakglass", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}

    verdict = evaluate(document)

    assert (verdict.statement, verdict.sid) == (1, "Breakglass")
    assert verdict.as_details() == {"admin_equivalent": True, "reason": verdict.reason, "statement": 1,
                                    "sid": "Breakglass"}


def test_account_scoped_wildcards_count_only_in_that_account() -> None:
    scoped = allow(Action="iam:AttachRolePolicy", Resource=f"arn:aws:iam::{ACCOUNT}:role/*")
    assert evaluate(scoped, account=ACCOUNT).admin
    assert not evaluate(scoped, account="999999999999").admin


def test_partition_comes_from_the_caller() -> None:
    china = allow(Action="*", Resource="arn:aws-cn:*")
    assert evaluate(china, partition="aws-cn").admin
    assert not evaluate(china, partition="aws").admin


def test_grants_admin_is_the_verdicts_flag() -> None:
    assert grants_admin(allow(Action="*", Resource="*")) is True
    assert grants_admin(allow(Action="s3:*", Resource="*")) is False


EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@pytest.mark.parametrize("value", [
    EVERYTHING,
    json.dumps(EVERYTHING),
    json.dumps(EVERYTHING, indent=4),
    quote(json.dumps(EVERYTHING)),  # as IAM returns documents: URL-encoded (RFC 3986)
    re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(json.dumps(EVERYTHING))),
    "  " + quote(json.dumps(EVERYTHING, indent=2)),
], ids=["object", "json", "indented-json", "url-encoded", "url-encoded-lower-case-escapes", "url-encoded-padded"])
def test_documents_are_read_in_every_form_iam_and_cloudtrail_use(value: Any) -> None:
    document = parse_document(value)

    assert document["Statement"][0]["Action"] == "*"
    assert grants_admin(document)


def test_a_literal_percent_in_plain_json_is_left_alone() -> None:
    document = parse_document(json.dumps(allow(Action="s3:GetObject", Resource="arn:aws:s3:::b/100%25")))
    assert document["Statement"][0]["Resource"] == "arn:aws:s3:::b/100%25"


@pytest.mark.parametrize("value", [None, 42, ["a", "list"], "not json", "%7Bnot json", "[1, 2]"])
def test_what_is_not_a_policy_document_is_refused(value: Any) -> None:
    with pytest.raises(PolicyDocumentError):
        parse_document(value)
