"""Custom::SecureStringParameter under faults: exactly one response per request, whatever happens, and no
SSM change without its write-ahead record."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from custom_resources import secure_string_parameter
from tests.custom_resources.conftest import REGION, Cfn, actions_of
from tests.faults.faults import FaultClients, Killed, VirtualTime, uncovered_changes

NAMES = [f"/app/key-{n}" for n in range(8)]


def create(cfn: Cfn, name: str, clients: FaultClients) -> dict[str, Any]:
    event = cfn.event(secure_string_parameter, "Create", {"Name": name, "Value": "v4lue"})
    secure_string_parameter.handler.invoke(event, cfn.context(secure_string_parameter), clients=clients,
                                           clock=cfn.clock)
    return event


def parameters() -> set[str]:
    return {p["Name"] for p in boto3.client("ssm", region_name=REGION).describe_parameters()["Parameters"]}


def test_access_denied_on_a_seeded_fraction(cfn: Cfn) -> None:
    denied = FaultClients(seed=17).deny(0.5, NAMES)
    for name in NAMES:
        clients = FaultClients(seed=17)
        clients.deny(0.5, NAMES)
        event = create(cfn, name, clients)
        body = cfn.answer(event)  # exactly one response
        assert body["Status"] == ("FAILED" if name in denied else "SUCCESS")
        assert uncovered_changes(clients, NAMES) == []
        outcomes = [a["outcome"] for a in actions_of(cfn.records(event))]
        assert outcomes == ["planned", "failed" if name in denied else "succeeded"]
    assert parameters() == set(NAMES) - denied


def test_a_throttling_storm(cfn: Cfn, retry_time: VirtualTime) -> None:
    clients = FaultClients(seed=1)
    storm = clients.storm(fraction=1.0, max_throttled_attempts=3, services=("ssm", "dynamodb"))

    event = create(cfn, NAMES[0], clients)

    assert cfn.answer(event)["Status"] == "SUCCESS" and storm.throttled >= 5 and retry_time.sleeps > 0
    assert [c.operation for c in clients.changes() if c.succeeded] == ["PutParameter"]
    assert parameters() == {NAMES[0]}


@pytest.mark.parametrize("writes", [0, 1, 2, 3])
def test_the_state_table_failing(cfn: Cfn, writes: int) -> None:
    clients = FaultClients()
    clients.state_table_fails_after(writes)

    event = create(cfn, NAMES[0], clients)

    body = cfn.answer(event)
    assert uncovered_changes(clients, NAMES) == []
    if NAMES[0] in parameters():  # the change was recorded ahead; only the outcome could not be
        assert body["Status"] == "SUCCESS" and "state log could not record" in body["Reason"]
    else:
        assert body["Status"] == "FAILED" and "state log" in body["Reason"]


def test_sns_down_changes_nothing_for_a_provider(cfn: Cfn) -> None:
    clients = FaultClients()
    clients.sns_down()
    assert cfn.answer(create(cfn, NAMES[0], clients))["Status"] == "SUCCESS"


def test_killed_before_the_change_answers_nothing_and_the_lambda_retry_answers_once(cfn: Cfn) -> None:
    clients = FaultClients()
    clients.kill_at("ssm", "PutParameter")
    create_event = cfn.event(secure_string_parameter, "Create", {"Name": NAMES[0], "Value": "v4lue"})

    with pytest.raises(Killed):
        secure_string_parameter.handler.invoke(create_event, cfn.context(secure_string_parameter), clients=clients,
                                               clock=cfn.clock)

    assert cfn.responses(create_event) == []  # a killed process answers nothing
    assert uncovered_changes(clients, NAMES) == []
    assert [a["outcome"] for a in actions_of(cfn.records(create_event))] == ["planned"]  # what is left

    retry = FaultClients()  # Lambda retries the failed asynchronous invocation with the same event
    secure_string_parameter.handler.invoke(create_event, cfn.context(secure_string_parameter), clients=retry,
                                           clock=cfn.clock)
    body = cfn.answer(create_event)
    assert body["Status"] == "FAILED" and "create-parameter" in body["Reason"]
    assert retry.changes() == [] and NAMES[0] not in parameters()
