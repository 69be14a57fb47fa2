"""How tests read a Caretaker notification: one place, so the message format changes here only.

`parse_message(text)` returns `(summary, body)`: the human summary and the structured body (a dict).
"""

from __future__ import annotations

import json
from typing import Any


def parse_message(text: str) -> tuple[str, dict[str, Any]]:
    """The summary line and the JSON body of an SNS message Caretaker published."""
    summary, _, body = text.partition("\n\n")
    return summary, dict(json.loads(body))


def message_body(text: str) -> dict[str, Any]:
    """The structured body of an SNS message Caretaker published."""
    return parse_message(text)[1]
