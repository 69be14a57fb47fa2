"""The root user at work: any API call or console sign-in by root is reported. Nothing is changed.

Unlike the other rules, failed calls are reported too: a refused call made with root
credentials still shows that someone holds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core.runtime import Run
from automations.core.spec import EventPattern, Permission
from automations.security.findings import API_CALL, CONSOLE_SIGN_IN, CloudTrailEvent
from automations.security.reactive import Decision, Report, rule_handler, rule_spec

NAME = "root-activity"

SPEC = rule_spec(
    name=NAME,
    description="Reports every API call and console sign-in made by the account's root user.",
    trigger=EventPattern({
        "source": [{"prefix": "aws."}],
        "detail-type": [API_CALL, CONSOLE_SIGN_IN],
        "detail": {"userIdentity": {"type": ["Root"]}},
    }),
    default_mode="audit",  # it never changes anything: both modes only report
    timeout=30,
    memory=128,
    permissions=(
        Permission(("iam:ListAccountAliases",), why="name the account in the report; no resource-level scoping"),
    ),
)


def decide(run: Run, event: CloudTrailEvent) -> Decision:
    """Report the root user's call or sign-in."""
    resource = event.actor.arn or f"arn:{event.partition}:iam::{event.account}:root"
    alias = account_alias(run)
    account = f"{event.account} ({alias})" if alias else event.account
    extra = event.detail.get("additionalEventData")
    extra = extra if isinstance(extra, Mapping) else {}
    details: dict[str, Any] = {"account_alias": alias or None, "mfa_used": extra.get("MFAUsed"),
                               "error_code": event.error_code or None,
                               "error_message": event.detail.get("errorMessage") or None}
    if event.detail_type == CONSOLE_SIGN_IN or event.name == "ConsoleLogin":
        result = str(event.response.get("ConsoleLogin") or "unknown result")
        details["console_login"] = result
        headline = f"root user console sign-in ({result}) to account {account}"
    else:
        failed = f" (failed: {event.error_code})" if event.error_code else ""
        headline = f"root user called {event.name}{failed} in account {account}"
    return Report(resource, headline, {k: v for k, v in details.items() if v is not None})


handler = rule_handler(SPEC, decide)


def account_alias(run: Run) -> str:
    """The account alias, or "" (the report goes out without it rather than not at all)."""
    try:
        aliases = run.clients("iam").list_account_aliases().get("AccountAliases", [])
    except (ClientError, BotoCoreError) as exc:
        run.log.warning("account alias unavailable", extra={"error": str(exc)})
        return ""
    return str(aliases[0]) if aliases else ""
