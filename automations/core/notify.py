"""Notifications: one versioned JSON document per message, SNS message attributes to route it, owner routing.

Every message is the document `caretaker.notification/1` (docs/operations.md, *Notifications*): the
envelope (`ENVELOPE`: schema, summary, subject, automation, run_id, mode, account, region, severity,
outcome, owner, at) and the automation's own fields beside it. It is published with
`MessageStructure="json"`: `default`, `sqs`, `lambda` and `https` carry the document, `email` a
readable text (`notify_render.email_text`). The attributes `ATTRIBUTES` let subscribers filter
(SNS filter policies); `owner` is set only on a message about resources tagged `caretaker:owner`.
A second topic, the chat topic (`chat_topic_arn`: named after the alert topic, on when
`CARETAKER_CHAT_NOTIFICATIONS=on`), gets the same notification in AWS Chatbot's custom notification
format, for Slack and Microsoft Teams channels.

Publishing never breaks a run: failures are logged and counted. A message larger than SNS accepts
(256 KB, the whole structure) is published with its largest fields cut (each ending in
`...[truncated N bytes]`, listed in `truncated`), not lost. An owner value SNS refuses is dropped
from the attributes and the message sent without it, so a tag value can never silence a notification.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core.errors import error_code
from automations.core.notify_render import chatbot_document, email_text
from automations.core.truncate import clip, fit

if TYPE_CHECKING:
    from types_boto3_sns.client import SNSClient

SCHEMA = "caretaker.notification/1"
#: The tag that names the team that owns a resource; its value becomes the message's `owner`.
OWNER_TAG = "caretaker:owner"
#: From least to most urgent (docs/operations.md says which event gets which).
SEVERITIES = ("info", "low", "medium", "high", "critical")
#: What Caretaker did: all of it, some of it, none of it (failed), only planned it (audit mode, grace
#: period), or had nothing to change (a report).
OUTCOMES = ("succeeded", "partial", "failed", "planned", "nothing-to-do")
#: The SNS message attributes every message carries (`owner` only when it has one).
ATTRIBUTES = ("automation", "severity", "outcome", "account", "region", "owner")
#: The document's own fields, in this order; the automation's fields follow (an automation field of the
#: same name is overridden by the envelope's).
ENVELOPE = ("schema", "summary", "subject", "automation", "run_id", "mode", "account", "region", "severity",
            "outcome", "owner", "at")
#: The chat topic is named after the alert topic: `<alert topic name>` + this (templates/core_stack.py).
CHAT_TOPIC_SUFFIX = "-chat"
#: `on`: also publish every notification to the chat topic (the templates set it; tests and local runs may not).
CHAT_NOTIFICATIONS_ENV = "CARETAKER_CHAT_NOTIFICATIONS"
#: The protocols whose subscribers get the JSON document (every other one gets `default`, also the document).
JSON_PROTOCOLS = ("default", "sqs", "lambda", "https")

SUBJECT_LIMIT = 100  # SNS subject limit (ASCII, no newlines)
#: Entries a notification lists per list (a message holds 256 KB); counts cover all, the state log has every record.
LIST_LIMIT = 100
#: SNS's limit on a message is 262,144 bytes (structure and attributes); messages are cut below it.
MESSAGE_LIMIT_BYTES = 250_000
#: Room kept for the `truncated` list the cut adds.
CUT_ROOM_BYTES = 4_000
#: The human summary of a message, at most.
SUMMARY_LIMIT_BYTES = 4_000
#: An owner value longer than this is cut (EC2 and IAM tag values are at most 256 characters).
OWNER_LIMIT = 256
#: At most this many owners get a message of their own per notification; the resources of any further
#: owners go into the message without an owner (a run over many owners must not send thousands of messages).
MAX_OWNER_MESSAGES = 20

log = logging.getLogger(__name__)

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


def owner_of(tags: Mapping[str, str]) -> str | None:
    """The `caretaker:owner` tag's value, cleaned for an SNS attribute (printable, at most `OWNER_LIMIT`
    characters), or None when it is missing or blank."""
    value = _UNPRINTABLE.sub(" ", str(tags.get(OWNER_TAG, ""))).strip()
    return value[:OWNER_LIMIT] or None


def routed_owners(owners: Iterable[str | None], keep: Sequence[str] = ()) -> list[str]:
    """The owners that get a message of their own: `keep` first (those an earlier invocation of the run
    already routed), then the others sorted, at most `MAX_OWNER_MESSAGES`."""
    chosen = [o for o in dict.fromkeys(keep) if o]
    chosen += sorted({o for o in owners if o} - set(chosen))
    return chosen[:MAX_OWNER_MESSAGES]


def outcome_of(*, succeeded: int = 0, failed: int = 0, planned: int = 0) -> str:
    """The outcome from counts of what was done, failed and only planned."""
    if failed:
        return "partial" if succeeded else "failed"
    if succeeded:
        return "succeeded"
    return "planned" if planned else "nothing-to-do"


#: The severity of a notification that says nothing more specific about itself.
DEFAULT_SEVERITY = {"succeeded": "low", "partial": "medium", "failed": "high", "planned": "low",
                    "nothing-to-do": "info"}


@dataclass(frozen=True)
class Origin:
    """Where the function runs: the message's `account` and `region`."""

    account: str = ""
    region: str = ""

    @classmethod
    def of(cls, context: Any, environ: Mapping[str, str], topic_arn: str = "") -> Origin:
        """From the Lambda context's function ARN, else the region variables and the topic's account."""
        arn = str(getattr(context, "invoked_function_arn", "") or "").split(":")
        if len(arn) > 4 and arn[0] == "arn" and arn[4]:
            return cls(account=arn[4], region=arn[3])
        topic = topic_arn.split(":")
        return cls(account=topic[4] if len(topic) > 4 else "",
                   region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "")


def document(summary: str, body: Mapping[str, Any], *, subject: str, severity: str, outcome: str,
             owner: str | None, origin: Origin, at: datetime | None = None) -> dict[str, Any]:
    """The `caretaker.notification/1` document: the envelope, then the automation's fields."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    envelope: dict[str, Any] = {
        "schema": SCHEMA, "summary": clip(summary, SUMMARY_LIMIT_BYTES), "subject": _subject(subject),
        "automation": str(body.get("automation", "")), "run_id": str(body.get("run_id", "")),
        "mode": str(body.get("mode", "")), "account": origin.account, "region": origin.region,
        "severity": severity, "outcome": outcome, "owner": owner,
        "at": (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return {**envelope, **{k: v for k, v in body.items() if k not in envelope}}


def attributes(doc: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The SNS message attributes of a document (String values; empty ones left out: SNS refuses them)."""
    out: dict[str, dict[str, str]] = {}
    for name in ATTRIBUTES:
        value = doc.get(name)
        if value:
            out[name] = {"DataType": "String", "StringValue": str(value)}
    return out


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=False, ensure_ascii=False, default=str, separators=(",", ":"))


def structured_message(doc: Mapping[str, Any]) -> str:
    """The `MessageStructure="json"` message: the document for the JSON protocols, text for email."""
    text = _dumps(doc)
    return _dumps({**{protocol: text for protocol in JSON_PROTOCOLS}, "email": email_text(doc)})


def _size(doc: Mapping[str, Any]) -> int:
    return len(structured_message(doc).encode()) + len(_dumps(attributes(doc)).encode())


def fit_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """`doc` itself when its whole message (every protocol's copy and the attributes) fits SNS's limit,
    else a copy with the largest fields outside the envelope cut (listed in `truncated`)."""
    if _size(doc) <= MESSAGE_LIMIT_BYTES:
        return dict(doc)
    fitted = fit(doc, _size, MESSAGE_LIMIT_BYTES - CUT_ROOM_BYTES, keep=ENVELOPE)
    log.warning("notification cut to fit SNS's message limit: %s", ", ".join(fitted.truncated))
    return {**fitted.value, "truncated": fitted.truncated}


def fit_message(summary: str, body: Mapping[str, Any], *, subject: str = "Caretaker", severity: str = "info",
                outcome: str = "nothing-to-do", owner: str | None = None, origin: Origin | None = None) -> str:
    """The published message (`structured_message`) of a notification, cut to fit SNS's limit."""
    doc = document(summary, body, subject=subject, severity=severity, outcome=outcome, owner=owner,
                   origin=origin or Origin())
    return structured_message(fit_document(doc))


def chat_topic_arn(alert_topic_arn: str, environ: Mapping[str, str]) -> str:
    """The chat topic's ARN (the alert topic's, plus `CHAT_TOPIC_SUFFIX`) when chat notifications are on."""
    if not alert_topic_arn or environ.get(CHAT_NOTIFICATIONS_ENV, "").strip().lower() != "on":
        return ""
    return alert_topic_arn + CHAT_TOPIC_SUFFIX


def _subject(text: str) -> str:
    clean = "".join(ch if 32 <= ord(ch) < 127 else " " for ch in text).strip()
    return clean[:SUBJECT_LIMIT] or "Caretaker"


class Notifier:
    """Publishes notifications to the alert topic, and in Chatbot's format to the chat topic when set."""

    def __init__(self, topic_arn: str, client: SNSClient, *, chat_topic_arn: str = "",
                 origin: Origin | None = None) -> None:
        self.topic_arn = topic_arn
        self.chat_topic_arn = chat_topic_arn
        self.client = client
        self.origin = origin or Origin()
        self.sent = 0
        self.failures = 0

    def publish(self, subject: str, summary: str, body: Mapping[str, Any], *, severity: str | None = None,
                outcome: str = "nothing-to-do", owner: str | None = None,
                resources: Sequence[str] = ()) -> bool:
        """Publish one notification; True when the alert topic took it (the chat topic is a copy)."""
        if not self.topic_arn:
            log.warning("CARETAKER_ALERT_TOPIC_ARN is not set; notification not sent: %s", subject)
            self.failures += 1
            return False
        owner = owner_of({OWNER_TAG: owner}) if owner else None  # whatever the caller read, an attribute value
        doc = fit_document(document(summary, body, subject=subject, severity=severity or DEFAULT_SEVERITY[outcome],
                                    outcome=outcome, owner=owner, origin=self.origin))
        sent = self._send(self.topic_arn, doc, structured_message(doc), structured=True)
        if self.chat_topic_arn:
            self._send(self.chat_topic_arn, doc, _dumps(chatbot_document(doc, resources)), structured=False,
                       optional=True)
        return sent

    def _send(self, topic_arn: str, doc: Mapping[str, Any], message: str, *, structured: bool,
              optional: bool = False) -> bool:
        """Publish one message; False when it could not be (counted in `failures`). `optional`: a topic that
        does not exist is not a failure (the chat topic with `ChatNotifications=disabled`)."""
        request: dict[str, Any] = {"TopicArn": topic_arn, "Message": message,
                                   "MessageAttributes": attributes(doc)}
        if structured:
            request.update(Subject=doc["subject"], MessageStructure="json")
        try:
            try:
                self.client.publish(**request)
            except ClientError as exc:
                if "owner" not in request["MessageAttributes"] or not _invalid_parameter(exc):
                    raise
                # a tag value SNS will not take as an attribute must not silence the notification
                log.warning("owner attribute refused (%s); sent without it", exc)
                request["MessageAttributes"] = {k: v for k, v in request["MessageAttributes"].items()
                                                if k != "owner"}
                self.client.publish(**request)
        except (ClientError, BotoCoreError) as exc:
            if optional and isinstance(exc, ClientError) and _not_found(exc):
                log.info("no chat topic %s (ChatNotifications disabled): chat copy not sent", topic_arn)
                return False
            log.warning("notification %r could not be published to %s: %s", doc.get("subject"), topic_arn, exc)
            self.failures += 1
            return False
        self.sent += 1 if structured else 0  # messages on the alert topic; the chat copies are not counted
        return True


def _not_found(exc: ClientError) -> bool:
    return error_code(exc) in ("NotFound", "NotFoundException")


def _invalid_parameter(exc: ClientError) -> bool:
    return error_code(exc).startswith("InvalidParameter")
