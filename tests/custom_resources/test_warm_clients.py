"""A provider's warm invocation (a second request to the same container) builds no AWS client and parses no
service model: the container keeps its crhelper object and the execution environment's shared clients."""

from __future__ import annotations

import boto3
import pytest

from custom_resources import random_secret
from tests.custom_resources.conftest import REGION, Cfn, actions_of, summary_of
from tests.recording import counting_builds


def secret_names() -> set[str]:
    listed = boto3.client("secretsmanager", region_name=REGION).list_secrets()["SecretList"]
    return {str(s["Name"]) for s in listed}


def test_a_warm_provider_invocation_builds_no_session_or_client_and_parses_no_model(cfn: Cfn) -> None:
    first = cfn.event(random_secret, "Create", {"Name": "app/first"})
    second = cfn.event(random_secret, "Create", {"Name": "app/second"})
    with counting_builds() as cold:
        random_secret.handler(first, cfn.context(random_secret))  # Lambda's entry point: no injected clients
    with counting_builds() as warm:
        random_secret.handler(second, cfn.context(random_secret))

    assert cold.sessions >= 1 and "secretsmanager" in cold.clients and cold.parsed
    assert warm.nothing, warm
    assert cfn.answer(first)["Status"] == cfn.answer(second)["Status"] == "SUCCESS"
    assert {"app/first", "app/second"} <= secret_names()
    for event in (first, second):
        items = cfn.records(event)
        assert summary_of(items)["status"] == "ok"
        assert [i["outcome"] for i in actions_of(items)] == ["planned", "succeeded"]


def test_a_provider_whose_aws_session_cannot_be_built_still_answers_once(
        cfn: Cfn, monkeypatch: pytest.MonkeyPatch) -> None:
    random_secret.handler(cfn.event(random_secret, "Create", {"Name": "app/warm"}), cfn.context(random_secret))
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")  # the AWS environment changed: a new session is needed
    event = cfn.event(random_secret, "Create", {"Name": "app/never"})
    random_secret.handler(event, cfn.context(random_secret))

    answer = cfn.answer(event)  # exactly one response
    monkeypatch.delenv("AWS_PROFILE")
    assert answer["Status"] == "FAILED" and "no-such-profile" in answer["Reason"]
    assert "app/never" not in secret_names()
