"""Delivering responses: bounded retries, TLS verification, CloudFormation's size limits."""

from __future__ import annotations

import socket
import time

import pytest

from custom_resources.response import (
    REASON_LIMIT,
    SEND_ATTEMPTS,
    response_body,
    send_response,
)
from tests.custom_resources.conftest import Responder

EVENT = {"StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1", "RequestId": "r-1",
         "LogicalResourceId": "Thing"}


def body() -> dict[str, object]:
    return response_body(status="SUCCESS", reason="", physical_id="p", event=EVENT)


def no_sleep(_: float) -> None:
    pass


def test_a_response_is_delivered_over_verified_tls(responder: Responder) -> None:
    assert send_response(responder.url_for("r-1"), body(), sleep=no_sleep) is True
    assert responder.bodies("r-1") == [body()]


def test_retries_are_bounded_when_the_endpoint_keeps_failing(responder: Responder) -> None:
    responder.answer_next_with(*[500] * (SEND_ATTEMPTS + 2))

    assert send_response(responder.url_for("r-2"), body(), sleep=no_sleep) is False

    assert responder.attempts == SEND_ATTEMPTS
    assert responder.bodies("r-2") == []


def test_a_transient_error_is_retried(responder: Responder) -> None:
    responder.answer_next_with(503)

    assert send_response(responder.url_for("r-3"), body(), sleep=no_sleep) is True

    assert responder.attempts == 2 and len(responder.bodies("r-3")) == 1


def test_a_refused_url_is_not_retried(responder: Responder) -> None:
    responder.answer_next_with(403)

    assert send_response(responder.url_for("r-4"), body(), sleep=no_sleep) is False

    assert responder.attempts == 1


def test_an_unreachable_endpoint_gives_up_within_the_time_budget() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once closed
    started = time.monotonic()

    assert send_response(f"https://127.0.0.1:{port}/x?sig=1", body(), budget_s=2.0) is False

    assert time.monotonic() - started < 5


def test_an_untrusted_certificate_is_refused(responder: Responder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")

    assert send_response(responder.url_for("r-5"), body(), sleep=no_sleep) is False

    assert responder.bodies("r-5") == []


def test_only_https_urls_are_used(responder: Responder) -> None:
    assert send_response(responder.url_for("r-6").replace("https:", "http:"), body()) is False
    assert responder.attempts == 0


def test_long_reasons_are_cut_and_oversized_responses_become_failures() -> None:
    long_reason = response_body(status="FAILED", reason="x" * 5000, physical_id="p", event=EVENT)
    assert len(long_reason["Reason"]) == REASON_LIMIT and long_reason["Reason"].endswith("(truncated)")

    huge = response_body(status="SUCCESS", reason="", physical_id="p", event=EVENT, data={"Blob": "y" * 5000})
    assert huge["Status"] == "FAILED" and huge["Data"] == {} and "4096-byte limit" in huge["Reason"]


def test_failed_responses_carry_no_data() -> None:
    failed = response_body(status="FAILED", reason="r", physical_id="p", event=EVENT, data={"Value": "secret"},
                           no_echo=True)
    assert failed["Data"] == {}
