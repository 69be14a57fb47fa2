"""Notifications on the alert topic. Publishing never breaks a run: failures are logged and counted.

A message larger than SNS accepts (256 KB) is published with its largest fields cut (each ending in
`...[truncated N bytes]`, listed in the body's `truncated`), not lost: a caller-chosen field as large as
that must not silence the notification.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core.truncate import clip, fit

SUBJECT_LIMIT = 100  # SNS subject limit (ASCII, no newlines)
#: Entries a notification lists per list (a message holds 256 KB); counts cover all, the state log has every record.
LIST_LIMIT = 100
#: SNS's limit on a message is 262,144 bytes; messages are cut below it (room for the `truncated` list).
MESSAGE_LIMIT_BYTES = 250_000
#: The human first line of a message, at most.
SUMMARY_LIMIT_BYTES = 4_000
#: Never cut from a body.
UNCUT_FIELDS = ("automation", "run_id", "mode", "status")

log = logging.getLogger(__name__)


def _subject(text: str) -> str:
    clean = "".join(ch if 32 <= ord(ch) < 127 else " " for ch in text).strip()
    return clean[:SUBJECT_LIMIT] or "Caretaker"


def render_message(summary: str, body: Mapping[str, Any]) -> str:
    """A human first line, then the structured body as JSON (parsable by subscribers)."""
    return summary + "\n\n" + json.dumps(body, indent=2, sort_keys=True, default=str)


def fit_message(summary: str, body: Mapping[str, Any]) -> str:
    """`render_message`, cut to fit SNS's limit when it would not: the summary line to
    `SUMMARY_LIMIT_BYTES`, the body's largest fields as `truncate.fit` cuts them (listed in `truncated`)."""
    summary = clip(summary, SUMMARY_LIMIT_BYTES)
    text = render_message(summary, body)
    if len(text.encode()) <= MESSAGE_LIMIT_BYTES:
        return text
    fitted = fit(body, lambda b: len(render_message(summary, b).encode()), MESSAGE_LIMIT_BYTES - 4_000,
                 keep=UNCUT_FIELDS)
    log.warning("notification cut to fit SNS's message limit: %s", ", ".join(fitted.truncated))
    return render_message(summary, {**fitted.value, "truncated": fitted.truncated})


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
                                Message=fit_message(summary, body))
        except (ClientError, BotoCoreError) as exc:
            log.warning("notification %r could not be published: %s", subject, exc)
            self.failures += 1
            return False
        self.sent += 1
        return True
