"""What every security rule shares: bad input is skipped, own events are ignored, each event is handled once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from automations.core import registry, state_schema
from automations.core.runtime import Entrypoint, Run
from automations.core.spec import CloudTrail, FunctionSpec, Permission
from automations.security import findings, reactive
from automations.security.findings import CloudTrailEvent
from tests.automations.conftest import REGION
from tests.automations.security.conftest import Harness, aws, load_event
from tests.automations.security.test_patterns import RULE_EVENTS


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
        if registry.stack_of(spec) == "security":
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
        return reactive.respond(run, event, decide)

    entry = Entrypoint(spec, fn)
    raw = load_event("schedule_key_deletion")

    outer = harness.invoke(entry, raw)

    assert [i["outcome"] for i in harness.items(inner[0])] == ["skipped"]
    assert "another invocation" in harness.items(inner[0])[0]["reason"]
    assert [i["outcome"] for i in harness.items(outer)] == ["planned", "succeeded"]
    assert len(harness.notifications()) == 1


OWN = "arn:aws:iam::123456789012:role/caretaker/caretaker-security-SgOpenWorldRole-1A2B3C4D5E6F"


@pytest.mark.parametrize(("issuer", "own"), [
    (OWN, True),
    ("arn:aws:iam::123456789012:role/caretaker/caretaker-security-SgOpenWorldRole-1A2B3C4D5E6", False),  # a prefix
    ("arn:aws:iam::123456789012:role/caretaker/totally-not-caretaker", False),  # the path alone proves nothing
    ("arn:aws:iam::123456789012:role/caretaker-security-SgOpenWorldRole-1A2B3C4D5E6F", False),  # nor the name
    ("arn:aws:iam::123456789012:role/Caretaker/caretaker-security-SgOpenWorldRole-1A2B3C4D5E6F", False),  # case
    ("arn:aws:iam::210987654321:role/caretaker/caretaker-security-SgOpenWorldRole-1A2B3C4D5E6F", False),
    ("arn:aws-us-gov:iam::123456789012:role/caretaker/caretaker-security-SgOpenWorldRole-1A2B3C4D5E6F", False),
    ("", False),
])
def test_own_events_are_recognised_by_the_exact_role_arn_only(issuer: str, own: bool) -> None:
    actor = findings.Actor(type="AssumedRole", arn="arn:aws:sts::123456789012:assumed-role/x/y", principal_id="",
                           account_id="", access_key_id="", session_issuer_arn=issuer, user_name="", invoked_by="")
    own_roles = findings.parse_own_role_arns(f"{OWN},arn:aws:iam::123456789012:role/caretaker/other-1")
    assert (findings.caretaker_cause(actor, own_roles, (), account="123456789012") is not None) is own


def test_an_own_role_arn_in_another_account_than_the_event_is_not_trusted() -> None:
    """A CaretakerRoleArns entry naming another account's role (a mistake, or a hub role) trusts nothing here."""
    other = "arn:aws:iam::210987654321:role/caretaker/caretaker-security-SgOpenWorldRole-1A2B3C4D5E6F"
    actor = findings.Actor(type="AssumedRole", arn="", principal_id="", account_id="210987654321",
                           access_key_id="", session_issuer_arn=other, user_name="", invoked_by="")
    assert findings.caretaker_cause(actor, {other}, (), account="123456789012") is None
    assert findings.caretaker_cause(actor, {other}, (), account="210987654321") is not None


@pytest.mark.parametrize(("value", "parsed"), [
    ("", set()),
    (",,", set()),
    (f"{OWN},", {OWN}),  # the template's trailing comma when CaretakerRoleArns is empty
    (f" {OWN} ,arn:aws:iam::123456789012:role/a", {OWN, "arn:aws:iam::123456789012:role/a"}),
    ("arn:aws:iam::123456789012:role/caretaker/*,arn:aws:iam::123456789012:user/caretaker/x,*", set()),
])
def test_the_own_role_list_holds_role_arns_only_and_no_patterns(value: str, parsed: set[str]) -> None:
    assert findings.parse_own_role_arns(value) == parsed


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


def test_the_harness_catches_a_call_the_declaration_does_not_grant(harness: Harness) -> None:
    spec = FunctionSpec(name="undeclared-call", description="test", handler="automations.security.undeclared.handler",
                        trigger=CloudTrail("aws.kms", "kms.amazonaws.com", ("ScheduleKeyDeletion",)),
                        permissions=(Permission(("kms:DescribeKey",)),), default_mode="enforce",
                        settings=reactive.security_settings())

    def fn(run: Run, event: Mapping[str, Any]) -> None:
        run.clients("kms").list_aliases()

    harness.invoke(Entrypoint(spec, fn), load_event("schedule_key_deletion"))

    assert harness.undeclared() == {"undeclared-call": {"kms:ListAliases"}}
    harness.calls.clear()
