"""The two renderings of a notification document besides the JSON itself: email text and AWS Chatbot's
custom notification.

`email_text(doc)`: the summary, then the key facts (automation, run, mode, where, severity, outcome,
owner), then the automation's fields as indented lines and lists: no JSON, for people.

`chatbot_document(doc, resources)`: AWS Chatbot's (Amazon Q Developer in chat applications) custom
notification, `{"version": "1.0", "source": "custom", "content": {...}, "metadata": {...}}`, which
Chatbot renders in Slack and Microsoft Teams; `tests/automations/core/chatbot_schema.json` is its schema
as AWS documents it. Its texts are short (a chat message, not a report): the run id finds the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from automations.core.truncate import clip

#: The fields shown as the key facts, in this order (the rest of the envelope is not repeated).
FACTS = (("automation", "Automation"), ("run_id", "Run"), ("mode", "Mode"), ("account", "Account"),
         ("region", "Region"), ("severity", "Severity"), ("outcome", "Outcome"), ("owner", "Owner"))
#: Envelope fields that are not shown among the details.
_ENVELOPE = {"schema", "summary", "subject", "at", *(name for name, _ in FACTS)}
#: Entries of a list shown in the email (the JSON subscribers get up to the notification's own cap).
EMAIL_LIST_LIMIT = 50
#: Chatbot text sizes kept well inside what Slack and Teams show in one message.
CHAT_TITLE_LIMIT = 250
CHAT_DESCRIPTION_LIMIT = 3_000
CHAT_SUMMARY_LIMIT = 250
CHAT_RESOURCES_LIMIT = 20
CHAT_KEYWORDS = ("automation", "severity", "outcome", "owner")
SEVERITY_EMOJI = {"info": ":information_source:", "low": ":large_blue_circle:", "medium": ":warning:",
                  "high": ":rotating_light:", "critical": ":fire:"}


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _inline(value: Any) -> str:
    """A small map or list on one line, without JSON punctuation: `id vol-1, due 2026-12-04`."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_inline(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "; ".join(_inline(v) for v in value)
    return _scalar(value)


def _lines(label: str, value: Any, indent: str = "") -> list[str]:
    if isinstance(value, Mapping):
        if not value:
            return []
        out = [f"{indent}{label}:"]
        for key, child in value.items():
            out += _lines(str(key), child, indent + "  ")
        return out
    if isinstance(value, (list, tuple)):
        if not value:
            return []
        out = [f"{indent}{label} ({len(value)}):"]
        out += [f"{indent}  - {_inline(item)}" for item in value[:EMAIL_LIST_LIMIT]]
        if len(value) > EMAIL_LIST_LIMIT:
            out.append(f"{indent}  ... and {len(value) - EMAIL_LIST_LIMIT} more")
        return out
    return [f"{indent}{label}: {_scalar(value)}"]


def email_text(doc: Mapping[str, Any]) -> str:
    """The readable text an email subscriber gets."""
    lines = [str(doc.get("summary", "")), ""]
    lines += [f"{title}: {_scalar(doc.get(name))}" for name, title in FACTS if doc.get(name)]
    details = [line for key, value in doc.items() if key not in _ENVELOPE
               for line in _lines(key.replace("_", " ").capitalize(), value)]
    if details:
        lines += ["", *details]
    if doc.get("run_id"):
        lines += ["", f"Everything this run recorded: python -m automations report --run {doc['run_id']}"]
    lines += ["", f"({doc.get('schema', '')}, sent {doc.get('at', '')})"]
    return "\n".join(lines)


def chatbot_document(doc: Mapping[str, Any], resources: Sequence[str] = ()) -> dict[str, Any]:
    """The notification in AWS Chatbot's custom notification format."""
    severity = str(doc.get("severity", "info"))
    title = f"{SEVERITY_EMOJI.get(severity, '')} {doc.get('subject', 'Caretaker')}".strip()
    facts = " | ".join(f"*{title_}:* {_scalar(doc.get(name))}" for name, title_ in FACTS[2:] if doc.get(name))
    description = f"{doc.get('summary', '')}\n{facts}"
    next_steps = []
    if doc.get("run_id"):
        next_steps.append(f"`python -m automations report --run {doc['run_id']}`")
    context = {name: str(doc[name]) for name in ("run_id", "mode", "account", "region", "severity", "outcome",
                                                 "owner") if doc.get(name)}
    metadata: dict[str, Any] = {
        # one thread per automation and owner: a team's channel keeps each automation's messages together
        "threadId": clip(f"caretaker-{doc.get('automation', '')}-{doc.get('owner') or 'unowned'}", 200),
        "summary": clip(str(doc.get("summary", "")), CHAT_SUMMARY_LIMIT),
        "eventType": f"caretaker-{doc.get('automation', '') or 'notification'}",
        "additionalContext": context,
    }
    if resources:
        metadata["relatedResources"] = [clip(str(r), 1_000) for r in resources[:CHAT_RESOURCES_LIMIT]]
    content: dict[str, Any] = {
        "textType": "client-markdown",
        "title": clip(title, CHAT_TITLE_LIMIT),
        "description": clip(description, CHAT_DESCRIPTION_LIMIT),
        "keywords": [str(doc[k]) for k in CHAT_KEYWORDS if doc.get(k)],
    }
    if next_steps:
        content["nextSteps"] = next_steps
    return {"version": "1.0", "source": "custom", "content": content, "metadata": metadata}
