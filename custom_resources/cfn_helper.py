"""crhelper's `CfnResource`, with the guarantees Caretaker needs on top of its protocol.

crhelper (2.0.12) owns the request/response protocol: dispatch by RequestType, polling
through an EventBridge rule, init failures reported on the next event, and a timer that
answers just before the Lambda timeout. `CfnHelper` keeps all of that and changes what
the installed source shows would break our contracts:

* **Exactly one response.** crhelper's timer thread and the main thread can both call
  `_send`; here the first call wins and any later one is logged and dropped. The provider
  records the body (`on_response`) before it is sent, so a Lambda retry of the same request
  repeats it or sends nothing (see `provider`).
* **Bounded retries.** `_send` delivers through `response.send_response` (bounded, with
  timeouts) instead of crhelper's `utils._send_response` (an endless loop).
* **Answer early enough to be delivered.** The timer fires `TIMEOUT_MARGIN_S` before the
  Lambda timeout (crhelper: 0.5 s, too little to open a TLS connection and retry).
* **A usable PhysicalResourceId in every response.** A failed Create answers with
  `failed_create_id()`, which providers recognise, so CloudFormation's later Delete of it
  succeeds without touching anything.
* **No secrets in logs.** crhelper logs whole events and response bodies at DEBUG and its
  constructor rewrites the root log level. The constructor's logging changes are undone, the
  per-event `_log_setup` does nothing, crhelper's own loggers are held at INFO, and botocore
  (which logs request parameters at DEBUG) at WARNING. Responses are logged redacted.
* **No boto3 client at import time.** The constructor creates three clients, so a
  `CfnHelper` is built on the first event, never at module scope; providers import this
  module only then, so that even a missing crhelper is answered (see `provider`).
"""

from __future__ import annotations

import logging
import secrets
import string
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from crhelper import CfnResource

from custom_resources.response import (
    FAILED,
    failed_create_id,
    log,
    loggable_response,
    response_body,
    send_response,
    time_left_s,
)

#: The timer answers this long before the Lambda timeout, so the answer can still be delivered.
TIMEOUT_MARGIN_S = 5.0

#: Loggers crhelper's constructor changes (root included); their levels are restored after it.
_LOGGERS_CRHELPER_SETS = ("", "boto", "boto3", "botocore", "urllib3")
#: Level floors: crhelper dumps events at DEBUG; botocore logs request parameters at DEBUG.
_QUIET_LOGGERS = {"crhelper": logging.INFO, "boto3": logging.WARNING, "botocore": logging.WARNING,
                  "urllib3": logging.WARNING}


# ---------------------------------------------------------------------------- logging


@contextmanager
def _logging_untouched() -> Iterator[None]:
    """Undo the log levels crhelper's constructor sets (it calls `log_helper.setup`)."""
    saved = {name: logging.getLogger(name).level for name in _LOGGERS_CRHELPER_SETS}
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def quiet_library_loggers() -> None:
    """Raise (never lower) the levels of loggers that would print events or request parameters."""
    for name, floor in _QUIET_LOGGERS.items():
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < floor:
            logger.setLevel(floor)


# ---------------------------------------------------------------------------- helper


class CfnHelper(CfnResource):
    """One Lambda container's crhelper object; see the module docstring for what changes."""

    # crhelper's private state, declared for the type checker (its stubs list only the public API)
    _event: dict[str, Any]
    _context: Any
    _response_url: str
    _timer: threading.Timer | None
    _init_failed: Any
    _polling_interval: int
    _events_client: Any

    def __init__(self, *, polling_interval: int = 2, timeout_margin_s: float = TIMEOUT_MARGIN_S,
                 rule_prefix: str = "") -> None:
        with _logging_untouched():
            super().__init__(json_logging=False, log_level="INFO", boto_level="WARNING",
                             polling_interval=polling_interval, sleep_on_delete=0)
        quiet_library_loggers()
        self.timeout_margin_s = timeout_margin_s
        #: polling rules are named `<rule_prefix><8 random>` (crhelper: after the consumer's logical id), so
        #: that the role's EventBridge permissions cover this function's own rules only
        self.rule_prefix = rule_prefix
        self._send_lock = threading.Lock()
        self.begin({}, None)

    def begin(self, event: Mapping[str, Any], context: Any) -> None:
        """Reset per-invocation state before an event, so nothing of the previous event can leak
        into this one's answer (crhelper answers with its stored event if its own init raises)."""
        self._event = dict(event) if not isinstance(event, dict) else event
        self._context = context
        self._response_url = str(event.get("ResponseURL", ""))
        self.StackId = str(event.get("StackId", ""))
        self.RequestId = str(event.get("RequestId", ""))
        self.LogicalResourceId = str(event.get("LogicalResourceId", ""))
        self.PhysicalResourceId = ""
        self.Status, self.Reason, self.Data, self.NoEcho = "", "", {}, False
        #: response bodies sent during this invocation (at most one)
        self.responses: list[dict[str, Any]] = []
        #: whether the response was accepted by CloudFormation's endpoint
        self.delivered = False
        #: set by the provider when a Delete must continue through polling
        self.wants_polling = False
        #: removes secret values from a Reason before it is sent or logged
        self.redact: Callable[[str], str] = lambda text: text
        #: called with the body before it is sent, then (True) once it was delivered: the provider records
        #: both in the state log, so that a Lambda retry of this request repeats this answer instead of acting
        self.on_response: Callable[[dict[str, Any], bool], None] = lambda body, delivered: None
        #: set when an earlier invocation served this request: crhelper's own answer is not sent
        self.silent = False

    @property
    def init_error(self) -> Any:
        return self._init_failed

    @property
    def polling_pending(self) -> bool:
        """True when no answer is due in this invocation: a poll will answer later."""
        return not self.responses and "CrHelperPoll" in self._event

    def answer_failure(self, reason: str) -> None:
        """Answer FAILED now, unless this invocation has already answered."""
        self._send(FAILED, reason)

    def repeat(self, body: Mapping[str, Any]) -> None:
        """Send a response an earlier attempt of this request recorded, as it was (once per invocation)."""
        with self._send_lock:
            if self.responses:
                return
            self.responses.append(dict(body))
        log().info("repeating the recorded response", extra={"response": loggable_response(body)})
        self.delivered = send_response(self._response_url, body, budget_s=time_left_s(self._context))
        if self.delivered:
            self.on_response(dict(body), True)

    # -------------------------------------------------------------- crhelper overrides

    def _log_setup(self, event: Any, context: Any) -> None:
        """crhelper reconfigures root logging on every event; Caretaker's logging stays as it is."""

    def _set_timeout(self) -> None:
        getter = getattr(self._context, "get_remaining_time_in_millis", None)
        if not callable(getter):  # a local run without a Lambda context: no deadline to beat
            return
        remaining_s = getter() / 1000.0
        self._timer = threading.Timer(max(0.0, remaining_s - self.timeout_margin_s), self._timeout)
        self._timer.daemon = True
        self._timer.start()

    def _timeout(self) -> None:
        log().error("about to time out; answering FAILED now")
        self._send(FAILED, f"the provider did not finish in time: it answers {self.timeout_margin_s:g} s before "
                           f"its Lambda timeout. Work already started may still complete; the state log "
                           f"records it under run_id {self.RequestId}")

    def _poll_enabled(self) -> Any:
        """Poll only when the provider asked for it (a Delete finished at once answers at once)."""
        if "CrHelperPoll" not in self._event and not self.wants_polling:
            return None
        return super()._poll_enabled()  # type: ignore[misc]

    def _put_rule(self) -> str:
        """As crhelper, but named after this function (`rule_prefix`), not after the consumer's logical id."""
        suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(8))
        unit = "minutes" if self._polling_interval != 1 else "minute"
        response = self._events_client.put_rule(
            Name=(self.rule_prefix or str(self._event["LogicalResourceId"])) + suffix,
            ScheduleExpression=f"rate({self._polling_interval} {unit})", State="ENABLED")
        return str(response["RuleArn"])

    def _setup_polling(self) -> None:
        """As crhelper, but a half-made schedule (rule without target) is removed if a step fails."""
        try:
            super()._setup_polling()  # type: ignore[misc]
        except Exception:
            try:
                self._remove_polling()  # type: ignore[attr-defined]
            except Exception as exc:  # the original error is the one to report
                log().warning("could not remove a half-made polling schedule", extra={"error": str(exc)})
            raise

    def _send(self, status: str | None = None, reason: str = "", send_response_fn: Any = None) -> None:
        """Answer CloudFormation once per invocation, with bounded retries."""
        with self._send_lock:
            if self.silent:
                return
            if self.responses:
                log().warning("a response was already sent for this request; not sending another",
                              extra={"status": status or self.Status})
                return
            physical_id = str(self.PhysicalResourceId or "")
            if physical_id in ("", "None", "True"):
                physical_id = str(self._event.get("PhysicalResourceId") or failed_create_id(self.RequestId))
            final_status = status or self.Status or FAILED
            body = response_body(status=final_status, reason=self.redact(str(reason if status else self.Reason)),
                                 physical_id=physical_id, event=self._event, data=self.Data,
                                 no_echo=self.NoEcho)
            self.responses.append(body)
        self.on_response(body, False)
        log().info("sending response", extra={"response": loggable_response(body)})
        self.delivered = send_response(self._response_url, body, budget_s=time_left_s(self._context))
        if self.delivered:
            self.on_response(body, True)
