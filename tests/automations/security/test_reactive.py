"""What every security rule shares: bad input is skipped, own events are ignored, each event is handled once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from automations.core import registry, state_schema
from automations.core.runtime import Entrypoint, Run
from automations.core.spec import CloudTrail, FunctionSpec, Permission
from automations.security import event_kinds, findings, reactive
from automations.security.findings import CloudTrailEvent
from tests.automations.conftest import REGION
from tests.automations.security.conftest import Harness, aws, load_event
from tests.automations.security.test_patterns import RULE_EVENTS
from tests.declared_calls import Guard


def handler_of(rule: str) -> Entrypoint:
    spec = registry.get(rule)
    module = __import__(spec.module, fromlist=["handler"])
    entry: Entrypoint = module.handler
    return entry


#: (rule, fixture) for every rule that needs requestParameters to know what to look at (account-wide
#: settings are named by the event's account and region)
NEEDS_REQUEST = [(rule, name) for rule, names in RULE_EVENTS.items() for name in names
                 if rule not in ("root-activity", "ebs-encryption-disabled")
                 and name not in ("put_account_public_access_block", "delete_account_public_access_block")]


MALFORMED = [(rule, name, None) for rule, name in NEEDS_REQUEST] + [
    ("sg-open-world", "modify_security_group_rules", "unexpected text"),
    ("iam-admin-grant", "put_user_policy", ["a", "list"]),
    ("s3-public-bucket", "put_bucket_acl", {"unexpected": {"shape": True}}),
]


@pytest.mark.parametrize(("rule", "name", "request_parameters"), MALFORMED)
def test_missing_or_malformed_request_parameters_are_skipped_without_an_exception(
        harness: Harness, rule: str, name: str, request_parameters: Any) -> None:
    event = load_event(name)
    event["detail"]["requestParameters"] = request_parameters
    event["detail"]["responseElements"] = None

    summary = harness.invoke(handler_of(rule), event)

    assert summary["status"] == "ok"
    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and item["reason"].startswith("bad event: ")
    assert item["dry_run"] is (registry.get(rule).default_mode != "enforce")
    assert harness.notifications() == []


def test_every_security_rule_has_the_shared_settings() -> None:
    for spec in registry.discover():
        if registry.stack_of(spec) == "security" and spec.reads_own_roles:  # the event rules
            assert spec.setting("ignore_principal_arns") is reactive.IGNORE_PRINCIPALS, spec.name


@pytest.mark.parametrize("broken", ["no_id", "no_identity", "no_event_name", "no_region"])
def test_an_event_missing_what_every_rule_reads_is_skipped(harness: Harness, broken: str) -> None:
    event = load_event("stop_logging")
    if broken == "no_id":
        del event["id"]
    elif broken == "no_identity":
        del event["detail"]["userIdentity"]
    elif broken == "no_region":
        del event["detail"]["awsRegion"], event["region"]
    else:
        event["detail"]["eventName"] = ""

    summary = harness.invoke(handler_of("cloudtrail-tampering"), event)

    [item] = harness.items(summary)
    assert item["outcome"] == "skipped" and item["reason"].startswith("bad event: ")


def test_principals_in_the_ignore_setting_are_ignored_too(harness: Harness) -> None:
    harness.setting("CARETAKER_IGNORE_PRINCIPAL_ARNS", "arn:aws:iam::123456789012:role/Break*,"
                                                       "arn:aws:iam::123456789012:role/DeveloperAccess")

    summary = harness.invoke(handler_of("kms-key-deletion"), load_event("schedule_key_deletion"))

    [item] = harness.items(summary)
    assert item["reason"] == ("ignored: caused by arn:aws:iam::123456789012:role/DeveloperAccess, listed in "
                              "ignore_principal_arns")


def test_the_idempotency_record_lives_beside_the_runs_without_touching_them(harness: Harness) -> None:
    event = load_event("schedule_key_deletion")
    summary = harness.invoke(handler_of("kms-key-deletion"), event)

    client = aws("dynamodb", REGION)
    [record] = client.query(TableName=harness.table, KeyConditionExpression="pk = :pk",
                            ExpressionAttributeValues={":pk": {"S": "IDEMPOTENCY#kms-key-deletion"}})["Items"]
    assert record["sk"]["S"].startswith("kms-key-deletion#")
    assert record["status"]["S"] == "COMPLETED"
    assert int(record[state_schema.TTL_ATTRIBUTE]["N"]) > 0
    assert not {a for _, pk, sk in state_schema.INDEXES for a in (pk, sk)} & set(record)
    assert [i["type"] for i in harness.items(summary)] == ["action"]


def test_a_delivery_arriving_while_the_first_is_still_running_is_skipped(harness: Harness) -> None:
    """The handler re-delivers the event to itself mid-run: the inner run finds the record in progress."""
    spec = FunctionSpec(name="reentrant-rule", description="test", handler="automations.security.reentrant.handler",
                        trigger=CloudTrail("aws.kms", "kms.amazonaws.com", ("ScheduleKeyDeletion",)),
                        permissions=(Permission(("kms:DescribeKey",)),), default_mode="enforce",
                        settings=reactive.security_settings())
    inner: list[dict[str, Any]] = []

    def decide(run: Run, event: CloudTrailEvent) -> reactive.Decision:
        if not inner:
            inner.append(entry.invoke(raw, harness.context, clock=harness.clock))
        return reactive.Report(event.id, "reported once")

    def fn(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
        return reactive.respond(run, event, decide, event_kinds.CLOUDTRAIL)

    entry = Entrypoint(spec, fn)
    raw = load_event("schedule_key_deletion")

    outer = harness.invoke(entry, raw)

    assert [i["outcome"] for i in harness.items(inner[0])] == ["skipped"]
    assert "another invocation" in harness.items(inner[0])[0]["reason"]
    assert [i["outcome"] for i in harness.items(outer)] == ["planned", "succeeded"]
    assert len(harness.notifications()) == 1


OWN = "arn:aws:iam::123456789012:role/caretaker/caretaker-security-SgOpenWorldRole-1A2B3C4D5E6F"
OWN_ID = "AROAYHXTQ4F2KQZ3VN7MB"
OTHER_ID = "AROA5EXAMPLE2OTHER77Q"


def role_session(role_id: str = OWN_ID, issuer: str = OWN, account: str = "123456789012", *,
                 kind: str = "AssumedRole", with_issuer: bool = True) -> findings.Actor:
    """A role session's userIdentity as CloudTrail records it."""
    name = issuer.rsplit("/", 1)[-1]
    identity: dict[str, Any] = {"type": kind, "principalId": f"{role_id}:{name}", "accountId": account,
                                "arn": f"arn:aws:sts::{account}:assumed-role/{name}/{name}"}
    if with_issuer:
        identity["sessionContext"] = {"sessionIssuer": {"type": "Role", "principalId": role_id, "arn": issuer,
                                                        "accountId": account, "userName": name}}
    return findings.Actor.from_identity(identity)


@pytest.mark.parametrize(("actor", "own"), [
    (role_session(), True),
    (role_session(OTHER_ID), True),  # the exact ARN decides, whatever id the record carries
    (role_session(with_issuer=False), False),  # no session issuer: no role ARN to compare
    (role_session(issuer=OWN[:-1]), False),  # a prefix
    (role_session(issuer=OWN.lower()), False),  # case
    (role_session(OTHER_ID, "arn:aws:iam::123456789012:role/caretaker/totally-not-caretaker"), False),
    (role_session(OWN_ID, kind="IAMUser"), False),  # not a role session
])
def test_own_events_are_recognised_by_the_exact_role_arn_only(actor: findings.Actor, own: bool) -> None:
    own_arns = findings.parse_own_role_arns("arn:aws:iam::123456789012:role/caretaker/",
                                            f"{OWN.rsplit('/', 1)[1]},caretaker-security-Other")
    assert (findings.caretaker_cause(actor, own_arns, (), account="123456789012") is not None) is own


def test_the_reason_names_the_role_arn() -> None:
    assert findings.caretaker_cause(role_session(), {OWN}, (), account="123456789012") == (
        f"caused by Caretaker's own role {OWN} (its exact ARN)")


@pytest.mark.parametrize("event_account", ["210987654321", ""])
def test_an_own_role_arn_in_a_session_of_another_account_than_the_event_is_not_trusted(event_account: str) -> None:
    """The role must be of the event's account (from the issuer's ARN), and that account known."""
    elsewhere = OWN.replace(":123456789012:", ":210987654321:")
    assert findings.caretaker_cause(role_session(issuer=elsewhere, account="210987654321"), {OWN, elsewhere}, (),
                                    account="123456789012") is None
    assert findings.caretaker_cause(role_session(), {OWN}, (), account=event_account) is None


@pytest.mark.parametrize(("names", "parsed"), [
    ("", set()),
    (",,", set()),
    ("caretaker-security-SgOpenWorldRole-1A2B3C4D5E6F,", {OWN}),  # the trailing comma of an empty parameter
    (f"{OWN},/caretaker/*,*,{OWN_ID}*", set()),  # an ARN, patterns
])
def test_the_own_role_list_holds_role_names_only_and_no_arns_or_patterns(names: str, parsed: set[str]) -> None:
    assert findings.parse_own_role_arns("arn:aws:iam::123456789012:role/caretaker/", names) == parsed


def test_an_own_role_list_without_a_caretaker_arn_prefix_trusts_nothing() -> None:
    names = "caretaker-security-SgOpenWorldRole-1A2B3C4D5E6F"
    assert findings.parse_own_role_arns("arn:aws:iam::123456789012:role/", names) == set()
    assert findings.parse_own_role_arns("", names) == set()


def test_a_parsed_event_says_who_where_and_when() -> None:
    event = findings.parse_event(load_event("authorize_security_group_ingress"))

    summary = event.summary()

    assert summary["event"] == {
        "id": "6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b", "cloudtrail_event_id": "0b9f3c1e-7d2a-4c8b-a1e3-5f6d7c8b9a01",
        "name": "AuthorizeSecurityGroupIngress", "source": "ec2.amazonaws.com",
        "detail_type": "AWS API Call via CloudTrail", "time": "2026-11-27T10:15:29Z", "region": "us-east-1",
        "account": "123456789012"}
    assert summary["actor"]["type"] == "AssumedRole"
    assert summary["actor"]["access_key_id"] == "ASIAEXAMPLEKEY000001"
    assert summary["user_agent"].startswith("aws-cli/2.17.20")
    assert event.partition == "aws"


@pytest.mark.undeclared_calls
def test_the_harness_catches_a_call_the_declaration_does_not_grant(harness: Harness, declared_calls: Guard) -> None:
    spec = FunctionSpec(name="undeclared-call", description="test", handler="automations.security.undeclared.handler",
                        trigger=CloudTrail("aws.kms", "kms.amazonaws.com", ("ScheduleKeyDeletion",)),
                        permissions=(Permission(("kms:DescribeKey",)),), default_mode="enforce",
                        settings=reactive.security_settings())

    def fn(run: Run, event: Mapping[str, Any]) -> None:
        run.clients("kms").list_aliases()

    harness.invoke(Entrypoint(spec, fn), load_event("schedule_key_deletion"))

    assert declared_calls.undeclared() == {"undeclared-call": {"kms:ListAliases"}}
