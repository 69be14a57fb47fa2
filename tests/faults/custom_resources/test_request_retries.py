"""A Lambda retry of the same custom resource request (same RequestId) after the first attempt crashed.

CloudFormation invokes a provider asynchronously; Lambda retries an invocation that failed (twice) and may
deliver one twice. The provider records its answer on the request's summary before sending it and marks
it delivered after; a retry finds the request's summary and acts on nothing again:

- answer delivered: it sends nothing;
- answer recorded, delivery unknown (crashed while sending): it sends that same answer;
- started, never answered (crashed in between): it answers FAILED once, naming the actions whose outcome
  is unknown, and records that outcome with counts taken from the records.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from custom_resources import cfn_helper, secure_string_parameter
from tests.custom_resources.conftest import REGION, Cfn, actions_of, summary_of
from tests.faults.faults import FaultClients, Killed, counts_of, summary_counts

NAME = "/app/retried"


def invoke(cfn: Cfn, event: dict[str, Any], clients: FaultClients) -> None:
    secure_string_parameter.handler.invoke(event, cfn.context(secure_string_parameter), clients=clients,
                                           clock=cfn.clock)


def exists() -> bool:
    names = {p["Name"] for p in boto3.client("ssm", region_name=REGION).describe_parameters()["Parameters"]}
    return NAME in names


@pytest.fixture
def event(cfn: Cfn) -> dict[str, Any]:
    return cfn.event(secure_string_parameter, "Create", {"Name": NAME, "Value": "v4lue"})


def test_a_retry_after_the_answer_was_delivered_acts_and_sends_nothing(cfn: Cfn, event: dict[str, Any]) -> None:
    invoke(cfn, event, FaultClients())
    first = cfn.answer(event)
    summary = summary_of(cfn.records(event))
    assert summary["response"]["Status"] == "SUCCESS" and summary["response_delivered"] is True

    retry = FaultClients()
    invoke(cfn, event, retry)

    assert cfn.answer(event) == first  # still exactly one response
    assert retry.changes() == []
    assert [c.operation for c in retry.calls if c.service == "dynamodb"] == ["GetItem"]


def test_a_retry_after_a_crash_while_answering_repeats_the_same_answer(
        cfn: Cfn, event: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*_: Any, **__: Any) -> bool:
        raise Killed("killed while sending the response")

    with monkeypatch.context() as patch:
        patch.setattr(cfn_helper, "send_response", crash)
        with pytest.raises(Killed):
            invoke(cfn, event, FaultClients())
    assert cfn.responses(event) == [] and exists()
    recorded = summary_of(cfn.records(event))
    assert recorded["response"]["Status"] == "SUCCESS" and "response_delivered" not in recorded

    retry = FaultClients()
    invoke(cfn, event, retry)

    body = cfn.answer(event)
    assert body == recorded["response"]  # the answer the first attempt meant to send, word for word
    assert retry.changes() == []
    assert summary_of(cfn.records(event))["response_delivered"] is True


@pytest.mark.parametrize(("operation", "nth", "made"), [("PutParameter", 1, False), ("BatchWriteItem", 1, True)])
def test_a_retry_after_a_crash_before_answering_answers_failed_once_and_acts_on_nothing(
        cfn: Cfn, event: dict[str, Any], operation: str, nth: int, made: bool) -> None:
    killed = FaultClients()
    killed.kill_at("dynamodb" if operation == "BatchWriteItem" else "ssm", operation, nth)  # before / after the change
    with pytest.raises(Killed):
        invoke(cfn, event, killed)
    assert cfn.responses(event) == [] and exists() is made

    retry = FaultClients()
    invoke(cfn, event, retry)

    body = cfn.answer(event)
    assert body["Status"] == "FAILED"
    assert "stopped before answering" in body["Reason"] and f"create-parameter arn:aws:ssm:{REGION}" in body["Reason"]
    assert body["PhysicalResourceId"].startswith("caretaker:failed-create:")
    assert retry.changes() == [] and exists() is made
    records = cfn.records(event)
    summary = summary_of(records)
    assert (summary["status"], summary["outcome"], summary["retried"]) == ("failed", "failed", True)
    assert summary_counts(summary) == counts_of(records) == {"planned": 1, "succeeded": 0, "failed": 0, "skipped": 0}
    assert [a["outcome"] for a in actions_of(records)] == ["planned"]

    again = FaultClients()  # a third delivery: answered and delivered, so nothing at all
    invoke(cfn, event, again)
    assert len(cfn.responses(event)) == 1 and again.changes() == []
