"""The trust-policy evaluator: who a trust policy lets in from outside, and the document without them."""

from __future__ import annotations

from typing import Any

import pytest

from automations.security.trust_policy import DENY_EVERYONE, Boundary, account_of, closed, openings

OWN, ALLOWED, FOREIGN, MANAGEMENT = "123456789012", "222233334444", "444455556666", "999988887777"
ORG = "o-a1b2c3d4e5"
BOUNDARY = Boundary(OWN, ORG, MANAGEMENT, frozenset({ALLOWED}))


def trust(principal: Any = None, condition: dict[str, Any] | None = None, effect: str = "Allow",
          key: str = "Principal") -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": effect, key: principal, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


SERVICE = {"Service": "lambda.amazonaws.com"}

#: (case id, document, the principals reported as openings)
CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("principal-star", trust("*"), ["*"]),
    ("aws-star", trust({"AWS": "*"}), ["*"]),
    ("aws-star-in-a-list", trust({"AWS": [f"arn:aws:iam::{OWN}:root", "*"]}), ["*"]),
    ("not-principal", trust({"AWS": f"arn:aws:iam::{OWN}:root"}, key="NotPrincipal"), ["NotPrincipal"]),
    ("foreign-root", trust({"AWS": f"arn:aws:iam::{FOREIGN}:root"}), [f"arn:aws:iam::{FOREIGN}:root"]),
    ("foreign-account-id", trust({"AWS": FOREIGN}), [FOREIGN]),
    ("foreign-role", trust({"AWS": f"arn:aws:iam::{FOREIGN}:role/ci"}), [f"arn:aws:iam::{FOREIGN}:role/ci"]),
    ("foreign-session", trust({"AWS": f"arn:aws:sts::{FOREIGN}:assumed-role/ci/x"}),
     [f"arn:aws:sts::{FOREIGN}:assumed-role/ci/x"]),
    ("foreign-beside-own", trust({"AWS": [f"arn:aws:iam::{OWN}:root", FOREIGN], **SERVICE}), [FOREIGN]),
    ("no-account", trust({"AWS": "AROAEXAMPLEDELETEDROLE"}), ["AROAEXAMPLEDELETEDROLE"]),
    ("star-with-another-org", trust("*", {"StringEquals": {"aws:PrincipalOrgID": "o-zzzzzzzzzz"}}), ["*"]),
    ("star-with-org-or-another", trust("*", {"StringEquals": {"aws:PrincipalOrgID": [ORG, "o-zzzzzzzzzz"]}}), ["*"]),
    ("star-with-if-exists", trust("*", {"StringEqualsIfExists": {"aws:PrincipalOrgID": ORG}}), ["*"]),
    ("star-with-for-all-values", trust("*", {"ForAllValues:StringEquals": {"aws:PrincipalOrgID": ORG}}), ["*"]),
    ("star-with-org-wildcard", trust("*", {"StringLike": {"aws:PrincipalOrgID": "o-*"}}), ["*"]),
    ("star-with-foreign-account-condition", trust("*", {"StringEquals": {"aws:PrincipalAccount": FOREIGN}}), ["*"]),
    ("star-with-unrelated-condition", trust("*", {"Bool": {"aws:MultiFactorAuthPresent": "true"}}), ["*"]),
    # inside the boundary: nothing reported
    ("own-root", trust({"AWS": f"arn:aws:iam::{OWN}:root"}), []),
    ("own-role", trust({"AWS": f"arn:aws:iam::{OWN}:role/admin"}), []),
    ("allowed-account", trust({"AWS": ALLOWED}), []),
    ("management-account", trust({"AWS": f"arn:aws:iam::{MANAGEMENT}:root"}), []),
    ("service", trust(SERVICE), []),
    ("federated", trust({"Federated": f"arn:aws:iam::{OWN}:oidc-provider/token.actions.githubusercontent.com"}), []),
    ("star-held-to-the-org", trust("*", {"StringEquals": {"aws:PrincipalOrgID": ORG}}), []),
    ("star-held-to-the-org-lower-case-key", trust({"AWS": "*"}, {"StringEquals": {"aws:principalorgid": ORG}}), []),
    ("foreign-held-to-the-org", trust({"AWS": FOREIGN}, {"ForAnyValue:StringLike": {"aws:PrincipalOrgID": [ORG]}}),
     []),
    ("star-held-to-own-accounts", trust("*", {"StringEquals": {"aws:PrincipalAccount": [OWN, ALLOWED]}}), []),
    ("deny-star", trust("*", effect="Deny"), []),
]


@pytest.mark.parametrize(("document", "expected"), [(d, e) for _, d, e in CASES], ids=[c for c, _, _ in CASES])
def test_openings_are_the_principals_outside_the_boundary(document: dict[str, Any], expected: list[str]) -> None:
    assert [o.principal for o in openings(document, BOUNDARY)] == expected


def test_without_an_organization_the_org_condition_holds_nothing() -> None:
    document = trust("*", {"StringEquals": {"aws:PrincipalOrgID": ORG}})
    assert [o.principal for o in openings(document, Boundary(OWN))] == ["*"]


@pytest.mark.parametrize(("principal", "account"), [
    (OWN, OWN), (f"arn:aws:iam::{OWN}:root", OWN), (f"arn:aws-cn:iam::{OWN}:user/a/b", OWN),
    (f"arn:aws:sts::{OWN}:assumed-role/r/s", OWN), ("*", ""), ("AROAEXAMPLE", ""), ("12345", ""),
])
def test_account_of_a_principal(principal: str, account: str) -> None:
    assert account_of(principal) == account


def test_closing_removes_only_the_outside_principals() -> None:
    document: dict[str, Any] = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Ec2", "Effect": "Allow", "Principal": SERVICE, "Action": "sts:AssumeRole"},
        {"Sid": "Mixed", "Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"AWS": [f"arn:aws:iam::{OWN}:root", FOREIGN, f"arn:aws:iam::{ALLOWED}:role/ci"]}},
        {"Sid": "Anyone", "Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
    ]}

    result = closed(document, openings(document, BOUNDARY))

    assert result == {"Version": "2012-10-17", "Statement": [
        document["Statement"][0],
        {"Sid": "Mixed", "Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"AWS": [f"arn:aws:iam::{OWN}:root", f"arn:aws:iam::{ALLOWED}:role/ci"]}},
    ]}
    assert openings(result, BOUNDARY) == []
    assert document["Statement"][1]["Principal"]["AWS"][1] == FOREIGN  # the input is not changed


def test_closing_keeps_other_principal_kinds_of_a_statement() -> None:
    document = trust({"AWS": "*", **SERVICE})
    assert closed(document, openings(document, BOUNDARY))["Statement"] == [
        {"Effect": "Allow", "Principal": SERVICE, "Action": "sts:AssumeRole"}]


@pytest.mark.parametrize("document", [trust("*"), trust({"AWS": FOREIGN}), trust({"AWS": OWN}, key="NotPrincipal")],
                         ids=["star", "foreign", "not-principal"])
def test_closing_everything_leaves_a_statement_that_denies_everyone(document: dict[str, Any]) -> None:
    result = closed(document, openings(document, BOUNDARY))
    assert result == {"Version": "2012-10-17", "Statement": [DENY_EVERYONE]}
    assert openings(result, BOUNDARY) == []
