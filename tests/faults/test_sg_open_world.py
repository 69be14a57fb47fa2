"""sg-open-world under faults. A CloudTrail event is delivered at least once: after a crash or a state-table
failure EventBridge/Lambda deliver it again, and the rule must then neither act twice nor act unrecorded."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from automations.core.errors import StateLogError
from automations.core.ledger import run_items
from automations.security import sg_open_world
from tests.automations.security.conftest import load_event, redelivered
from tests.automations.security.test_sg_open_world import authorize_as_recorded, ingress
from tests.faults.conftest import REGION, Clock, LambdaContext
from tests.faults.faults import FaultClients, Killed, VirtualTime, counts_of, summary_counts, uncovered_changes

WORLD_SSH = ("tcp", 22, 22, "0.0.0.0/0")
GROUPS = 6


def _ec2() -> Any:
    return boto3.client("ec2", region_name=REGION)


def open_group(n: int) -> tuple[str, dict[str, Any]]:
    vpc = _ec2().create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = str(_ec2().create_security_group(GroupName=f"web-{n}", Description="web", VpcId=vpc)["GroupId"])
    event = authorize_as_recorded(_ec2(), group, load_event("authorize_security_group_ingress"))
    event["id"] = f"event-{n}"
    return group, event


class Rule:
    def __init__(self, table: str, clock: Clock, context: LambdaContext) -> None:
        self.table, self.clock, self.context = table, clock, context
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.runs: list[FaultClients] = []

    def deliver(self, event: dict[str, Any], clients: FaultClients | None = None) -> dict[str, Any]:
        clients = clients or FaultClients()
        self.runs.append(clients)
        self.clock.advance(seconds=1)
        return sg_open_world.handler.invoke(event, self.context, environ=dict(os.environ), clients=clients,
                                            clock=self.clock)

    def records(self, run_id: str) -> list[dict[str, Any]]:
        return run_items(self.dynamodb, self.table, run_id)

    def revokes(self, group: str) -> int:
        """Successful RevokeSecurityGroupIngress calls on the group, over every delivery."""
        return sum(1 for c in (c for r in self.runs for c in r.calls)
                   if c.operation == "RevokeSecurityGroupIngress" and c.succeeded and c.params["GroupId"] == group)

    def assert_counts_true(self, result: dict[str, Any]) -> None:
        records = self.records(result["run_id"])
        summary = next(i for i in records if i["type"] == "run")
        assert summary_counts(summary) == counts_of(records) == result["counts"]


@pytest.fixture
def rule(state_table: str, alerts: Any, clock: Clock, lambda_context: LambdaContext) -> Rule:
    lambda_context.remaining_ms = 0  # an in-progress idempotency record expires with the (killed) invocation
    return Rule(state_table, clock, lambda_context)


def test_access_denied_on_a_seeded_fraction_of_groups(rule: Rule) -> None:
    opened = [open_group(n) for n in range(GROUPS)]
    groups = [g for g, _ in opened]
    denied = FaultClients(seed=13).deny(0.5, groups)
    for group, event in opened:
        clients = FaultClients(seed=13)
        clients.deny(0.5, groups)
        result = rule.deliver(event, clients)
        assert uncovered_changes(clients, groups) == []
        assert result["status"] == ("failed" if group in denied else "ok")
        assert (WORLD_SSH in ingress(_ec2(), group)) is (group in denied)
        rule.assert_counts_true(result)
    # the failure is recorded and alerted; a redelivery finds the event handled and changes nothing
    for group, event in opened:
        rule.deliver(redelivered(event))
        assert rule.revokes(group) == (0 if group in denied else 1)


def test_a_throttling_storm(rule: Rule, retry_time: VirtualTime) -> None:
    group, event = open_group(0)
    clients = FaultClients(seed=2)
    storm = clients.storm(fraction=1.0, max_throttled_attempts=3)

    result = rule.deliver(event, clients)

    assert storm.throttled >= 5 and retry_time.sleeps >= storm.throttled
    assert result["status"] == "ok" and WORLD_SSH not in ingress(_ec2(), group)
    assert rule.revokes(group) == 1 and uncovered_changes(clients, [group]) == []
    rule.assert_counts_true(result)


@pytest.mark.parametrize("writes", [0, 1, 2, 3])
def test_state_table_failing_means_no_unrecorded_remediation(rule: Rule, writes: int) -> None:
    group, event = open_group(0)
    clients = FaultClients()
    clients.state_table_fails_after(writes)

    with pytest.raises(StateLogError):
        rule.deliver(event, clients)

    assert uncovered_changes(clients, [group]) == []
    result = rule.deliver(redelivered(event))  # EventBridge/Lambda deliver it again
    assert result["status"] == "ok" and WORLD_SSH not in ingress(_ec2(), group)
    assert rule.revokes(group) == 1
    rule.assert_counts_true(result)


def test_sns_down_the_remediation_stands_and_the_loss_is_recorded(rule: Rule) -> None:
    group, event = open_group(0)
    clients = FaultClients()
    clients.sns_down()

    result = rule.deliver(event, clients)

    assert result["status"] == "ok" and WORLD_SSH not in ingress(_ec2(), group)
    summary = next(i for i in rule.records(result["run_id"]) if i["type"] == "run")
    assert summary["notifications_failed"] == 1
    rule.assert_counts_true(result)


@pytest.mark.parametrize(("service", "operation"), [("ec2", "RevokeSecurityGroupIngress"), ("sns", "Publish")])
def test_a_duplicate_delivery_after_a_crash_does_not_double_act(rule: Rule, service: str, operation: str) -> None:
    """Killed right before the revoke (after its planned record), or right after it (before the notification)."""
    group, event = open_group(0)
    clients = FaultClients()
    clients.kill_at(service, operation)

    with pytest.raises(Killed):
        rule.deliver(event, clients)

    assert uncovered_changes(clients, [group]) == []
    result = rule.deliver(redelivered(event))
    assert WORLD_SSH not in ingress(_ec2(), group)
    assert rule.revokes(group) == 1
    rule.assert_counts_true(result)
    again = rule.deliver(redelivered(event))  # and once more: now a plain duplicate
    assert rule.revokes(group) == 1 and again["finding"]["duplicate"] is True
