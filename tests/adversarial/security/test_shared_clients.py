"""Attacks on the clients a Lambda execution environment keeps across invocations (automations/core/aws.py).

The rate limiter's buckets are per invocation, the clients are not: an attacker who can make cheap calls
(CloudTrail events that trigger a reactive rule) must not be able to use earlier invocations to drain a
bucket the remediation then waits on, and the limit must still hold within one invocation.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from automations.core.aws import Clients, reset_shared_clients
from automations.core.ledger import run_items
from automations.core.throttle import Bucket, RateLimiter, RateTable
from automations.security import ebs_encryption_disabled
from tests.automations.conftest import LambdaContext
from tests.automations.security.conftest import load_event
from tests.throttling.simulator import VirtualClock

EVENT_REGION = "eu-west-1"
RESOURCE = "ebs-encryption-by-default/123456789012/eu-west-1"
#: one token per EC2 action, refilled at 0.001/s x the share: a second call within one invocation must wait
TINY = RateTable(ec2=False, services={"ec2": Bucket(1, 0.001)})


@pytest.fixture(autouse=True)
def cold_environment() -> Iterator[None]:
    reset_shared_clients()
    yield
    reset_shared_clients()


def ec2() -> Any:
    return boto3.client("ec2", region_name=EVENT_REGION)


def event(n: int) -> dict[str, Any]:
    made = copy.deepcopy(load_event("disable_ebs_encryption_by_default"))
    made["id"] = f"00000000-0000-0000-0000-{n:012d}"  # distinct events, not redeliveries
    return made


def remediate(n: int, limiter: RateLimiter, context: LambdaContext) -> dict[str, Any]:
    ec2().disable_ebs_encryption_by_default()
    return ebs_encryption_disabled.handler.invoke(event(n), context, clients=Clients(limiter=limiter))


def outcomes(table: str, run_id: str) -> list[str]:
    items = run_items(boto3.client("dynamodb", region_name="us-east-1"), table, run_id)
    return [str(i["outcome"]) for i in items if i.get("type") == "action" and i.get("resource_id") == RESOURCE]


def test_a_flood_of_earlier_invocations_cannot_make_the_remediation_wait(
        state_table: str, lambda_context: LambdaContext) -> None:
    clock = VirtualClock()
    for n in range(5):  # the attacker's flood: each invocation takes its bucket's only token
        remediate(n, RateLimiter(table=TINY, clock=clock), lambda_context)
    limiter = RateLimiter(table=TINY, clock=clock)
    summary = remediate(99, limiter, lambda_context)

    assert limiter.waited_s == 0.0 and clock.slept == 0.0  # its own full bucket: no wait
    assert ec2().get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
    assert outcomes(state_table, summary["run_id"]) == ["planned", "succeeded"]


def test_the_limit_still_holds_within_one_invocation_after_an_unlimited_one(
        state_table: str, lambda_context: LambdaContext) -> None:
    remediate(1, RateLimiter.unlimited(), lambda_context)  # an earlier invocation bound no limit at all
    clock = VirtualClock()
    limiter = RateLimiter(table=TINY, clock=clock)
    summary = remediate(2, limiter, lambda_context)
    waited = limiter.waited_s
    # a second EnableEbsEncryptionByDefault in the same invocation must wait for the refill
    Clients(limiter=limiter)("ec2", EVENT_REGION).enable_ebs_encryption_by_default()

    assert limiter.requests["ec2:EnableEbsEncryptionByDefault"] == 2
    assert limiter.waited_s - waited == pytest.approx(1 / (limiter.share * 0.001))  # one refill at its share
    assert outcomes(state_table, summary["run_id"]) == ["planned", "succeeded"]
