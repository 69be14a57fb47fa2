"""Shared by the cleanup tests: invoke a cleanup handler in-process on moto and read what the run left.

`harness(handler, monkeypatch, context)` sets up what a run needs (state table, alert topic with an
SQS inbox, a test clock) on the moto of the autouse `aws` fixture; a test module gets it as its fixture
`h` with `h = harness_fixture(handler)`. The clock also drives the moto
models that stamp EBS, AMI, instance-stop and log-group times, so a test creates resources "in the
past" by moving the clock back, never by sleeping.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, TypeVar

import boto3
import pytest

from automations.core.aws import ServiceName
from automations.core.ledger import resource_history, run_items
from automations.core.pending import pending_items
from automations.core.runtime import Entrypoint
from tests.automations.conftest import REGION, Alerts, Clock, LambdaContext, create_state_table, scheduled_event
from tests.notifications import parse_message
from tests.recording import RecordingClients, fast_session

_CLIENTS: dict[str, Any] = {}


def client(service: ServiceName) -> Any:
    """The test's own client (cached within one test, which is one moto backend)."""
    if service not in _CLIENTS:
        _CLIENTS[service] = boto3.client(service, region_name=REGION)
    return _CLIENTS[service]


def ec2() -> Any:
    return client("ec2")


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def tag_specs(resource_type: str, tags: dict[str, str] | None) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}] if tags else []


def tag(resource_id: str, tags: dict[str, str]) -> None:
    ec2().create_tags(Resources=[resource_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


T = TypeVar("T")


@dataclass
class Harness:
    """One cleanup handler, its state table, alert inbox and clock."""

    handler: Entrypoint
    table: str
    alerts: Alerts
    clock: Clock
    context: LambdaContext
    defaults: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.handler.spec.name

    def invoke(self, clients: RecordingClients | None = None, event: dict[str, Any] | None = None,
               **settings: str) -> dict[str, Any]:
        """Run the handler (the undeclared-call guard, tests/declared_calls.py, checks the calls it made)."""
        values = {**self.defaults, **settings}
        environ = {**os.environ, **{f"CARETAKER_{k.upper()}": v for k, v in values.items()}}
        return self.handler.invoke(scheduled_event() if event is None else event, self.context,
                                   environ=environ, clients=clients or RecordingClients(), clock=self.clock)

    def actions(self, run_id: str) -> list[dict[str, Any]]:
        return [i for i in run_items(client("dynamodb"), self.table, run_id) if i["type"] == "action"]

    def outcomes(self, run_id: str) -> set[tuple[str, str, str]]:
        """(resource, action, outcome) of a run."""
        return {(i["resource_id"], i["action"], i["outcome"]) for i in self.actions(run_id)}

    def skipped(self, run_id: str) -> list[dict[str, Any]]:
        """A run's `skipped` action records."""
        return [i for i in self.actions(run_id) if i["outcome"] == "skipped"]

    def rerun_after_grace(self, meanwhile: Callable[[], T]) -> tuple[T, dict[str, Any]]:
        """The grace period's round: a run that marks the resources, `meanwhile()` (something changes, e.g. the
        resource comes back into use), eight days, then the run that would act: what `meanwhile` returned and
        that second run's result."""
        self.invoke()
        changed = meanwhile()
        self.clock.advance(days=8)
        return changed, self.invoke()

    def summary(self, run_id: str) -> dict[str, Any]:
        return next(i for i in run_items(client("dynamodb"), self.table, run_id) if i["type"] == "run")

    def history(self, resource_id: str) -> list[dict[str, Any]]:
        return resource_history(client("dynamodb"), self.table, resource_id)

    def pending(self) -> dict[str, dict[str, Any]]:
        return {str(i["resource_id"]): i for i in pending_items(client("dynamodb"), self.table, self.name)}

    def messages(self) -> list[dict[str, Any]]:
        return self.alerts.messages()

    def notification(self, run_id: str | None = None) -> dict[str, Any]:
        """A run's cleanup notification (the last run's by default): subject, summary line and JSON body.

        Reads (and so consumes) the inbox; the runtime's own `run partial` / `run failed` alerts are left out.
        """
        parsed = []
        for message in self.messages():
            summary, body = parse_message(message["Message"])
            parsed.append({"subject": message["Subject"], "summary": summary, "body": body})
        ours = [p for p in parsed if "status" not in p["body"]]
        if run_id is not None:
            ours = [p for p in ours if p["body"]["run_id"] == run_id]
        assert ours, [p["subject"] for p in parsed]
        return ours[-1]


def use_test_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A clock for the handler and for the moto models that stamp creation and stop times."""
    import moto.ec2.models.amis as amis_model
    import moto.ec2.models.elastic_block_store as ebs_model
    import moto.ec2.models.instances as instances_model
    import moto.logs.models as logs_model

    clock = Clock()
    for module in (ebs_model, amis_model, instances_model, logs_model):
        monkeypatch.setattr(module, "utcnow", lambda: clock.now.astimezone(UTC).replace(tzinfo=None))
    return clock


def use_fast_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fresh test clients for this test; the default boto3 session shares the data loader."""
    _CLIENTS.clear()
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", fast_session(REGION))


def alert_inbox(monkeypatch: pytest.MonkeyPatch) -> Alerts:
    topic_arn = client("sns").create_topic(Name="caretaker-alerts")["TopicArn"]
    queue_url = client("sqs").create_queue(QueueName="alerts-inbox")["QueueUrl"]
    queue_arn = client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("CARETAKER_ALERT_TOPIC_ARN", topic_arn)
    return Alerts(topic_arn, queue_url)


def harness(handler: Entrypoint, monkeypatch: pytest.MonkeyPatch, context: LambdaContext,
            **defaults: str) -> Harness:
    use_fast_clients(monkeypatch)
    clock = use_test_clock(monkeypatch)
    table = create_state_table()
    monkeypatch.setenv("CARETAKER_STATE_TABLE", table)
    return Harness(handler, table, alert_inbox(monkeypatch), clock, context, defaults)


def harness_fixture(handler: Entrypoint, **defaults: str) -> Any:
    """A test module's fixture `h`: the harness on `handler`, in enforce mode unless `defaults` say otherwise."""

    @pytest.fixture
    def h(monkeypatch: pytest.MonkeyPatch, lambda_context: LambdaContext) -> Harness:
        return harness(handler, monkeypatch, lambda_context, **{"mode": "enforce", **defaults})

    return h
