"""Lambda retries of one custom resource request: an asynchronous invocation that failed or was killed is
delivered again, and one may be delivered twice. The request's run summary (run_id = RequestId) tells
what an earlier attempt did: its recorded answer is repeated (or not, once delivered), a resumable type
serves the request again, any other gets FAILED naming the actions whose outcome is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from automations.core.codec import iso
from automations.core.errors import StateLogError, describe_error
from automations.core.ledger import run_items
from automations.core.observability import get_logger
from automations.core.state_log import RunCounts, StateLog
from custom_resources.response import loggable_response

if TYPE_CHECKING:
    from custom_resources.cfn_helper import CfnHelper


def record_response(state: StateLog, body: Mapping[str, Any], delivered: bool) -> None:
    """Keep the response on the request's summary before it is sent, and mark it once delivered."""
    try:
        if delivered:
            state.annotate(response_delivered=True)
        else:
            state.annotate(response=loggable_response(body), response_at=iso(state.clock()),
                           response_data_withheld=bool(body.get("NoEcho") and body.get("Data")) or None)
    except StateLogError as exc:
        get_logger().error("could not record the response in the state log", extra={"error": str(exc)})


def served_before(helper: CfnHelper, state: StateLog, event: Mapping[str, Any], *, resumable: bool) -> bool:
    """Handle a request an earlier invocation already worked on (Lambda retries an asynchronous
    invocation that failed or was killed, and may deliver one twice). True when this invocation is done.

    Answered before: the recorded answer is repeated if it may not have been delivered, else nothing is
    sent; nothing is acted on again. Started but never answered (the process died): nothing is acted on
    again; the answer is FAILED and names the actions whose outcome is unknown.
    """
    log = get_logger()
    try:
        prior = state.summary()
    except StateLogError as exc:
        log.warning("cannot tell whether this request was served before", extra={"error": str(exc)})
        return False
    if prior is None:
        return False
    helper.on_response = partial(record_response, state)
    poll = "CrHelperPoll" in event
    response = prior.get("response")
    if isinstance(response, Mapping):
        if prior.get("response_delivered"):
            log.info("this request was answered before: not acting, not answering again")
        elif prior.get("response_data_withheld"):
            log.error("an earlier attempt answered with secret attributes the state log does not keep, and "
                      "its delivery is unknown: not answering again (CloudFormation times the request out "
                      "if it never got that answer)")
        else:
            log.warning("an earlier attempt recorded its answer but may not have delivered it: repeating it")
            helper.repeat(response)
        return True
    if poll:
        return False  # a poll continues the request the first invocation started
    if resumable:
        # its actions work from what AWS shows now: serve the request again, counting what was recorded
        try:
            state.counts = RunCounts.of_records(run_items(state.client, state.table, str(event["RequestId"])))
        except Exception as exc:
            log.error("could not read the earlier attempt's records", extra={"error": describe_error(exc)})
        else:
            log.warning("an earlier attempt of this request stopped before answering: serving it again")
            return False
    answer_abandoned(helper, state, event, prior)
    return True


def answer_abandoned(helper: CfnHelper, state: StateLog, event: Mapping[str, Any],
                     prior: Mapping[str, Any]) -> None:
    """Answer FAILED for a request an earlier attempt started and never answered, naming the actions whose
    outcome is unknown; nothing is acted on again."""
    request_id = str(event["RequestId"])
    try:
        items = run_items(state.client, state.table, request_id)
    except Exception as exc:
        items = []
        get_logger().error("could not read the earlier attempt's records", extra={"error": describe_error(exc)})
    actions = [i for i in items if i.get("type") == "action"]
    closed = {i["action_id"] for i in actions if i.get("outcome") != "planned"}
    unknown = sorted(f"{i['action']} {i['resource_id']}" for i in actions
                     if i.get("outcome") == "planned" and i["action_id"] not in closed)
    reason = ("an earlier attempt of this request stopped before answering (Lambda retried it); it is not "
              "repeated, so nothing was changed again. ")
    reason += (f"Its outcome is unknown for: {'; '.join(unknown)}. " if unknown
               else "It had not started any change. ")
    reason += f"See the state log, run_id {request_id}; then retry the stack operation."
    get_logger().error("earlier attempt of this request never answered", extra={"unknown": unknown})
    if prior.get("physical_id"):
        helper.PhysicalResourceId = str(prior["physical_id"])
    tally = RunCounts.of_records(items).as_dict()
    try:
        state.annotate(status="failed", outcome="failed", reason=reason, ended_at=iso(state.clock()),
                       retried=True, **tally)
    except StateLogError as exc:
        get_logger().error("could not record the outcome in the state log", extra={"error": str(exc)})
    helper.answer_failure(reason)
