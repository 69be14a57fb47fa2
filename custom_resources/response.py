"""Answering CloudFormation: the response body, and delivering it to the pre-signed URL.

Standard library only (and Caretaker's logger, with a fallback), so that a provider can still
answer when its dependencies (crhelper, the dependency layer) cannot be loaded.

crhelper's own sender (`crhelper.utils._send_response`) loops `while True` (5 tries, sleep 5 s,
again, forever) and opens connections without a timeout; `send_response` here tries at most
`SEND_ATTEMPTS` times, each with a timeout, within the time the Lambda has left.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from custom_resources.properties import REDACTED

SUCCESS, FAILED = "SUCCESS", "FAILED"
#: Attempts to deliver one response (first try included), each with its own timeout.
SEND_ATTEMPTS = 4
SEND_TIMEOUT_S = 10.0
SEND_BACKOFF_S = 1.0  # doubled after each failed attempt
#: CloudFormation rejects response bodies over 4 KB; a longer Reason is cut to this length.
RESPONSE_LIMIT_BYTES = 4096
REASON_LIMIT = 1000
FAILED_CREATE_PREFIX = "caretaker:failed-create:"


def log() -> Any:
    """Caretaker's structured logger; standard logging when the dependency layer cannot be loaded."""
    try:
        from automations.core.observability import get_logger

        return get_logger()
    except Exception:
        return logging.getLogger("caretaker")


def failed_create_id(request_id: str) -> str:
    """The PhysicalResourceId a failed Create answers with."""
    return FAILED_CREATE_PREFIX + request_id


# ---------------------------------------------------------------------------- sending


def send_response(url: str, body: Mapping[str, Any], *, budget_s: float | None = None,
                  attempts: int = SEND_ATTEMPTS, sleep: Callable[[float], None] = time.sleep) -> bool:
    """PUT the response to CloudFormation's pre-signed URL. True when it was accepted.

    At most `attempts` tries, each with a timeout, all within `budget_s` seconds. A 4xx
    answer (expired or refused URL) is not retried. TLS is verified with the default
    trust store (`SSL_CERT_FILE` / `SSL_CERT_DIR` apply, as everywhere in OpenSSL).
    """
    logger = log()
    payload = json.dumps(body).encode("utf-8")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        logger.error("not sending the response: the ResponseURL is not an https URL", extra={"url_host": parts.netloc})
        return False
    path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    deadline = None if budget_s is None else time.monotonic() + budget_s
    backoff = SEND_BACKOFF_S
    for attempt in range(1, attempts + 1):
        timeout = SEND_TIMEOUT_S if deadline is None else min(SEND_TIMEOUT_S, deadline - time.monotonic())
        if timeout <= 0:
            break
        try:
            connection = http.client.HTTPSConnection(parts.netloc, timeout=timeout,
                                                     context=ssl.create_default_context())
            try:
                connection.request("PUT", path, body=payload,
                                   headers={"content-type": "", "content-length": str(len(payload))})
                status = connection.getresponse().status
            finally:
                connection.close()
        except (OSError, http.client.HTTPException) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if status < 300:
                logger.info("response delivered", extra={"attempt": attempt, "http_status": status})
                return True
            problem = f"HTTP {status}"
            if 400 <= status < 500:
                logger.error("CloudFormation refused the response; not retrying",
                          extra={"http_status": status, "url_host": parts.netloc})
                return False
        logger.warning("could not deliver the response", extra={"attempt": attempt, "error": problem})
        if attempt < attempts and (deadline is None or time.monotonic() + backoff < deadline):
            sleep(backoff)
            backoff *= 2
    logger.error("gave up delivering the response", extra={"attempts": attempts, "url_host": parts.netloc})
    return False


def response_body(*, status: str, reason: str, physical_id: str, event: Mapping[str, Any],
                  data: Mapping[str, Any] | None = None, no_echo: bool = False) -> dict[str, Any]:
    """The JSON object CloudFormation expects, within its size limit."""
    if len(reason) > REASON_LIMIT:
        marker = " ...(truncated)"
        reason = reason[:REASON_LIMIT - len(marker)] + marker
    body = {
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "NoEcho": bool(no_echo),
        "Data": dict(data or {}) if status == SUCCESS else {},
    }
    if len(json.dumps(body)) > RESPONSE_LIMIT_BYTES:
        body.update(Status=FAILED, Data={}, NoEcho=False,
                    Reason=f"the response would exceed CloudFormation's {RESPONSE_LIMIT_BYTES}-byte limit")
    return body


def loggable_response(body: Mapping[str, Any]) -> dict[str, Any]:
    """A response safe to log: with NoEcho, Data values are masked."""
    out = dict(body)
    if out.get("NoEcho"):
        out["Data"] = {key: REDACTED for key in out.get("Data", {})}
    return out


def answer_directly(event: Mapping[str, Any], reason: str, context: Any = None) -> dict[str, Any]:
    """FAILED without crhelper: for malformed events and when no `CfnHelper` can be built at all."""
    physical_id = event.get("PhysicalResourceId") or failed_create_id(str(event.get("RequestId", "unknown")))
    body = response_body(status=FAILED, reason=reason, physical_id=str(physical_id), event=event)
    log().error("answering FAILED directly", extra={"response": loggable_response(body)})
    send_response(str(event.get("ResponseURL", "")), body, budget_s=time_left_s(context))
    return body


def time_left_s(context: Any) -> float | None:
    """Seconds a response may take: what the Lambda has left, less half a second (None: no context)."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return max(0.5, getter() / 1000 - 0.5) if callable(getter) else None
