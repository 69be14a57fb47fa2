"""Notifications on the alert topic. Publishing never breaks a run: failures are logged and counted."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

SUBJECT_LIMIT = 100  # SNS subject limit (ASCII, no newlines)
#: Entries a notification lists per list (a message holds 256 KB); counts cover all, the state log has every record.
LIST_LIMIT = 100

log = logging.getLogger(__name__)


def _subject(text: str) -> str:
    clean = "".join(ch if 32 <= ord(ch) < 127 else " " for ch in text).strip()
    return clean[:SUBJECT_LIMIT] or "Caretaker"


def render_message(summary: str, body: Mapping[str, Any]) -> str:
    """A human first line, then the structured body as JSON (parsable by subscribers)."""
    return summary + "\n\n" + json.dumps(body, indent=2, sort_keys=True, default=str)


class Notifier:
    def __init__(self, topic_arn: str, client: Any) -> None:
        self.topic_arn = topic_arn
        self.client = client
        self.sent = 0
        self.failures = 0

    def publish(self, subject: str, summary: str, body: Mapping[str, Any]) -> bool:
        if not self.topic_arn:
            log.warning("CARETAKER_ALERT_TOPIC_ARN is not set; notification not sent: %s", subject)
            self.failures += 1
            return False
        try:
            self.client.publish(TopicArn=self.topic_arn, Subject=_subject(subject),
                                Message=render_message(summary, body))
        except (ClientError, BotoCoreError) as exc:
            log.warning("notification %r could not be published: %s", subject, exc)
            self.failures += 1
            return False
        self.sent += 1
        return True
