"""How tests read a Caretaker notification: one place, so the message format changes here only.

A message is one JSON document, `caretaker.notification/1` (docs/operations.md): `parse_message(text)`
returns `(summary, body)`, the document's human `summary` and the whole document (a dict: the envelope,
`schema`, `severity`, `outcome`, `owner`, ..., and the automation's own fields). `text` is what an SQS
(or Lambda, HTTPS) subscriber gets: the `Message` of the SNS envelope.

`published(topic_arn)` reads what was published to a topic in moto as it was sent (the `Message`
structure with every protocol's copy, the subject and the message attributes), for the tests of the
email text and the attributes.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA = "caretaker.notification/1"


def parse_message(text: str) -> tuple[str, dict[str, Any]]:
    """The summary and the JSON document of an SNS message Caretaker published."""
    doc = json.loads(text)
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} document: {text[:200]!r}")
    return str(doc["summary"]), doc


def message_body(text: str) -> dict[str, Any]:
    """The JSON document of an SNS message Caretaker published."""
    return parse_message(text)[1]


def published(topic_arn: str) -> list[dict[str, Any]]:
    """Every message published to `topic_arn` (in-process moto), oldest first: `message` (the raw `Message`:
    for the alert topic the per-protocol structure, parsed), `subject` and `attributes` (name -> value)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    region = topic_arn.split(":")[3]
    account = topic_arn.split(":")[4] or DEFAULT_ACCOUNT_ID
    topic = sns_backends[account][region].topics[topic_arn]
    out = []
    for _message_id, message, subject, attributes, _group in topic.sent_notifications:
        out.append({"message": json.loads(message), "subject": subject,
                    "attributes": {k: v.get("Value") for k, v in (attributes or {}).items()}})
    return out
