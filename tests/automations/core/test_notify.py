"""Notifications: the `caretaker.notification/1` document, its SNS message attributes and filter policies, the
email text, the Chatbot rendering on the chat topic, and cutting a huge message to SNS's limit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest

from automations.core import notify
from automations.core.notify import MESSAGE_LIMIT_BYTES, Notifier, Origin, chat_topic_arn, owner_of
from automations.core.notify_render import chatbot_document, email_text
from automations.core.runtime import Run, entrypoint
from automations.core.spec import FunctionSpec, Permission, Rate
from tests.automations.conftest import REGION, Alerts, LambdaContext, scheduled_event
from tests.notifications import SCHEMA, message_body, parse_message, published
from tests.recording import RecordingClients

CHATBOT_SCHEMA = json.loads((Path(__file__).parent / "chatbot_schema.json").read_text())
ACCOUNT = "123456789012"
ENVELOPE = {"schema", "summary", "subject", "automation", "run_id", "mode", "account", "region", "severity",
            "outcome", "owner", "at"}


def notifier(alerts: Alerts, chat: str = "") -> Notifier:
    return Notifier(alerts.topic_arn, boto3.client("sns", region_name=REGION), chat_topic_arn=chat,
                    origin=Origin(ACCOUNT, REGION))


def body(**fields: Any) -> dict[str, Any]:
    return {"automation": "cleanup-ebs-volumes", "run_id": "r-1", "mode": "enforce", **fields}


def queue(name: str, topic_arn: str, policy: dict[str, Any] | None = None) -> str:
    """An SQS queue subscribed to the topic, with a filter policy on the message attributes."""
    sqs, sns = boto3.client("sqs", region_name=REGION), boto3.client("sns", region_name=REGION)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"FilterPolicy": json.dumps(policy)} if policy else {}
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return str(url)


def received(url: str) -> list[dict[str, Any]]:
    """The documents an SQS subscriber got (through tests/notifications.py)."""
    sqs = boto3.client("sqs", region_name=REGION)
    out = []
    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        out.append(message_body(json.loads(message["Body"])["Message"]))
    return out


# ---------------------------------------------------------------------- the document


def test_a_message_is_one_versioned_document_with_the_envelope_and_the_automations_fields(alerts: Alerts) -> None:
    sent = notifier(alerts).publish("Caretaker cleanup-ebs-volumes: 2 deleted", "Deleted 2 volumes.",
                                    body(counts={"acted": 2}, acted=["vol-1", "vol-2"]),
                                    outcome="succeeded", owner="team-a")

    assert sent
    [message] = alerts.messages()
    summary, doc = parse_message(message["Message"])
    assert summary == "Deleted 2 volumes."
    assert set(doc) >= ENVELOPE
    assert (doc["schema"], doc["automation"], doc["run_id"], doc["mode"]) == (SCHEMA, "cleanup-ebs-volumes", "r-1",
                                                                              "enforce")
    assert (doc["account"], doc["region"], doc["owner"]) == (ACCOUNT, REGION, "team-a")
    assert (doc["outcome"], doc["severity"]) == ("succeeded", "low")  # severity defaults from the outcome
    assert doc["subject"] == message["Subject"] == "Caretaker cleanup-ebs-volumes: 2 deleted"
    assert doc["counts"] == {"acted": 2} and doc["acted"] == ["vol-1", "vol-2"]
    assert doc["at"].endswith("Z")


def test_the_envelope_wins_over_an_automation_field_of_the_same_name(alerts: Alerts) -> None:
    notifier(alerts).publish("s", "summary", body(severity="none", outcome="whatever", schema="x"),
                             outcome="failed")

    doc = message_body(alerts.messages()[0]["Message"])
    assert (doc["schema"], doc["severity"], doc["outcome"]) == (SCHEMA, "high", "failed")


def test_unknown_severity_or_outcome_values_are_refused() -> None:
    with pytest.raises(ValueError, match="severity"):
        notify.document("s", body(), subject="s", severity="urgent", outcome="failed", owner=None, origin=Origin())
    with pytest.raises(ValueError, match="outcome"):
        notify.document("s", body(), subject="s", severity="high", outcome="ok", owner=None, origin=Origin())


def test_the_outcome_follows_what_was_done() -> None:
    assert notify.outcome_of(succeeded=3) == "succeeded"
    assert notify.outcome_of(succeeded=3, failed=1) == "partial"
    assert notify.outcome_of(failed=1, planned=4) == "failed"
    assert notify.outcome_of(planned=4) == "planned"
    assert notify.outcome_of() == "nothing-to-do"


def test_account_and_region_come_from_the_function_arn_else_the_environment() -> None:
    assert Origin.of(LambdaContext(), {}) == Origin(ACCOUNT, REGION)
    topic = f"arn:aws:sns:eu-west-1:{ACCOUNT}:alerts"
    assert Origin.of(None, {"AWS_REGION": "eu-west-1"}, topic) == Origin(ACCOUNT, "eu-west-1")


# ---------------------------------------------------------------------- attributes and filter policies


def test_messages_carry_the_routing_attributes_and_owner_only_when_there_is_one(alerts: Alerts) -> None:
    sender = notifier(alerts)
    sender.publish("s", "team a", body(), outcome="planned", owner="team-a")
    sender.publish("s", "nobody", body(), outcome="failed")

    first, second = published(alerts.topic_arn)
    assert first["attributes"] == {"automation": "cleanup-ebs-volumes", "severity": "low", "outcome": "planned",
                                   "account": ACCOUNT, "region": REGION, "owner": "team-a"}
    assert "owner" not in second["attributes"] and second["attributes"]["severity"] == "high"


def test_a_team_subscribed_with_a_filter_policy_receives_only_its_messages(alerts: Alerts) -> None:
    team_a = queue("team-a", alerts.topic_arn, {"owner": ["team-a"]})
    urgent = queue("on-call", alerts.topic_arn, {"severity": ["high", "critical"]})
    central = queue("central", alerts.topic_arn)
    sender = notifier(alerts)

    sender.publish("s", "a's volumes", body(acted=["vol-a"]), outcome="succeeded", owner="team-a")
    sender.publish("s", "b's volumes", body(acted=["vol-b"]), outcome="succeeded", owner="team-b")
    sender.publish("s", "unowned failure", body(failed={"vol-c": "AccessDenied"}), outcome="failed")

    assert [d["summary"] for d in received(team_a)] == ["a's volumes"]
    assert [d["summary"] for d in received(urgent)] == ["unowned failure"]
    assert sorted(d["summary"] for d in received(central)) == ["a's volumes", "b's volumes", "unowned failure"]


# ---------------------------------------------------------------------- email


def test_email_subscribers_get_readable_text_with_the_key_facts_and_lists(alerts: Alerts) -> None:
    notifier(alerts).publish("Caretaker cleanup-ebs-volumes: 1 failed", "cleanup-ebs-volumes: 1 failed.",
                             body(counts={"acted": 1, "failed": 1}, acted=["vol-1"],
                                  failed={"vol-2": "AccessDenied: no"},
                                  pending=[{"id": "vol-3", "due": "2026-12-09", "new": True}]),
                             outcome="partial", owner="team-a")

    [sent] = published(alerts.topic_arn)
    structure = sent["message"]
    assert set(structure) == {"default", "sqs", "lambda", "https", "email"}
    assert all(json.loads(structure[p])["schema"] == SCHEMA for p in ("default", "sqs", "lambda", "https"))
    text = structure["email"]
    assert text.startswith("cleanup-ebs-volumes: 1 failed.\n\n")
    for line in ("Automation: cleanup-ebs-volumes", "Run: r-1", "Severity: medium", "Outcome: partial",
                 "Owner: team-a", "Account: 123456789012", "  - vol-1", "  vol-2: AccessDenied: no",
                 "  - id vol-3, due 2026-12-09, new yes", "python -m automations report --run r-1"):
        assert line in text, line
    assert "{" not in text and '"' not in text  # no JSON


# ---------------------------------------------------------------------- Chatbot


def test_the_chat_topic_gets_a_chatbot_custom_notification_valid_against_the_documented_schema(
        alerts: Alerts) -> None:
    sns = boto3.client("sns", region_name=REGION)
    chat = sns.create_topic(Name="caretaker-alerts" + notify.CHAT_TOPIC_SUFFIX)["TopicArn"]
    assert chat_topic_arn(alerts.topic_arn, {notify.CHAT_NOTIFICATIONS_ENV: "on"}) == chat
    sender = notifier(alerts, chat)

    sender.publish("Caretaker sg-open-world: sg-1 allows 22/tcp from 0.0.0.0/0", "sg-1 was open; revoked.",
                   body(finding={"resource": "sg-1"}), outcome="succeeded", severity="medium", owner="team-web",
                   resources=["sg-1"])

    [message] = published(chat)
    document = message["message"]
    jsonschema.validate(document, CHATBOT_SCHEMA)
    assert document["content"]["title"].startswith(":warning: Caretaker sg-open-world")
    assert "sg-1 was open; revoked." in document["content"]["description"]
    assert document["metadata"]["relatedResources"] == ["sg-1"]
    assert document["metadata"]["additionalContext"]["owner"] == "team-web"
    assert message["attributes"]["owner"] == "team-web"  # a team channel's subscription can filter too
    assert sender.failures == 0 and len(published(alerts.topic_arn)) == 1


@pytest.mark.parametrize("fields", [
    {},
    {"run_id": "", "mode": ""},
    {"huge": "x" * 100_000, "items": list(range(500))},
])
def test_every_chatbot_rendering_is_valid_and_short(fields: dict[str, Any]) -> None:
    doc = notify.document("S" * 10_000, body(**fields), subject="s" * 300, severity="critical", outcome="failed",
                          owner=None, origin=Origin(ACCOUNT, REGION))
    document = chatbot_document(doc, [f"r-{i}" for i in range(100)])
    jsonschema.validate(document, CHATBOT_SCHEMA)
    assert len(json.dumps(document)) < 8_000
    assert len(document["metadata"]["relatedResources"]) <= 20


def test_chat_notifications_are_off_unless_the_template_turns_them_on() -> None:
    assert chat_topic_arn("arn:aws:sns:us-east-1:1:alerts", {}) == ""
    assert chat_topic_arn("", {notify.CHAT_NOTIFICATIONS_ENV: "on"}) == ""


def test_without_a_chat_topic_the_alert_goes_out_and_nothing_counts_as_lost(alerts: Alerts) -> None:
    """`ChatNotifications=disabled`: the core stack has no chat topic."""
    sender = notifier(alerts, alerts.topic_arn + notify.CHAT_TOPIC_SUFFIX)

    assert sender.publish("s", "summary", body(), outcome="succeeded")

    assert len(alerts.messages()) == 1 and sender.failures == 0


def test_a_chat_topic_that_refuses_the_publish_is_a_counted_failure_but_the_alert_still_goes_out(
        alerts: Alerts) -> None:
    clients = RecordingClients()
    chat = clients("sns").create_topic(Name="caretaker-alerts" + notify.CHAT_TOPIC_SUFFIX)["TopicArn"]
    clients.fail("sns", "Publish", "AuthorizationError", when=lambda request: request["TopicArn"] == chat)
    sender = Notifier(alerts.topic_arn, clients("sns"), chat_topic_arn=chat, origin=Origin(ACCOUNT, REGION))

    assert sender.publish("s", "summary", body(), outcome="succeeded")

    assert len(alerts.messages()) == 1 and sender.failures == 1 and published(chat) == []


# ---------------------------------------------------------------------- size


def test_a_huge_message_is_cut_so_that_every_protocols_copy_fits_and_says_what_was_cut(alerts: Alerts) -> None:
    huge = body(finding={"user_agent": "u" * 400_000, "name": "PutBucketAcl"},
                acted=[f"vol-{i:05d}" for i in range(5_000)])

    assert notifier(alerts).publish("s", "A headline " + "h" * 10_000, huge, outcome="succeeded")

    [sent] = published(alerts.topic_arn)
    raw = json.dumps(sent["message"])
    assert len(raw.encode()) <= MESSAGE_LIMIT_BYTES
    summary, doc = parse_message(sent["message"]["sqs"])
    assert len(summary.encode()) <= 4_000 and summary.startswith("A headline hhh")
    assert set(doc["truncated"]) == {"finding.user_agent", "acted"}
    assert doc["finding"]["name"] == "PutBucketAcl" and doc["run_id"] == "r-1" and doc["owner"] is None
    assert "...[truncated " in doc["finding"]["user_agent"] and doc["acted"][0] == "vol-00000"
    assert "...[truncated " in sent["message"]["email"]
    [delivered] = alerts.messages()
    assert message_body(delivered["Message"])["truncated"] == doc["truncated"]


def test_an_ordinary_message_is_not_cut(alerts: Alerts) -> None:
    notifier(alerts).publish("s", "summary", body(acted=["vol-1"]), outcome="succeeded")
    assert "truncated" not in message_body(alerts.messages()[0]["Message"])


# ---------------------------------------------------------------------- the run's own alert


SPEC = FunctionSpec(name="notify-probe", description="raises", handler="x.handler", trigger=Rate(1, "day"),
                    permissions=(Permission(("ec2:DescribeVolumes",)),), default_mode="enforce")


def test_a_failed_run_alert_is_high_severity_with_the_functions_account_and_region(
        alerts: Alerts, state_table: str) -> None:
    @entrypoint(SPEC)
    def handler(run: Run, event: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        handler.invoke(scheduled_event(), LambdaContext())

    [message] = alerts.messages()
    doc = message_body(message["Message"])
    assert (doc["status"], doc["outcome"], doc["severity"]) == ("failed", "failed", "high")
    assert (doc["account"], doc["region"], doc["automation"]) == (ACCOUNT, REGION, "notify-probe")
    assert "RuntimeError: boom" in doc["error"]
    assert message["MessageAttributes"]["severity"]["Value"] == "high"


def test_owner_tag_values_are_cleaned_for_an_attribute() -> None:
    assert owner_of({"caretaker:owner": " team-a "}) == "team-a"
    assert owner_of({"caretaker:owner": "   "}) is None and owner_of({}) is None
    assert owner_of({"caretaker:owner": "a\nb\x00c"}) == "a b c"
    assert len(owner_of({"caretaker:owner": "o" * 1_000}) or "") == notify.OWNER_LIMIT


def test_the_email_text_of_a_document_without_a_run_has_no_report_line() -> None:
    doc = notify.document("hello", {}, subject="s", severity="info", outcome="nothing-to-do", owner=None,
                          origin=Origin())
    assert "report --run" not in email_text(doc) and email_text(doc).startswith("hello")
