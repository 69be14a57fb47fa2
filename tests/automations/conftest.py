"""Fixtures for handler tests on in-process moto: AWS state, the state table, a clock, a Lambda context."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from automations.core import state_schema as schema
from automations.core.settings import clear_cache

REGION = "us-east-1"


def fake_aws_environment(monkeypatch: pytest.MonkeyPatch, access_key: str = "testing", secret_key: str = "testing",
                         session_token: str | None = "testing", region: str = REGION) -> None:
    """Fake credentials (no session token when None) and the region; no endpoint or profile of the caller's."""
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
    if session_token is None:
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    else:
        monkeypatch.setenv("AWS_SESSION_TOKEN", session_token)
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every handler test runs against in-process moto with fake credentials."""
    fake_aws_environment(monkeypatch)
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # hundreds of public AMIs per region: slow
    for key in [k for k in __import__("os").environ if k.startswith("CARETAKER_")]:
        monkeypatch.delenv(key)
    clear_cache()
    with mock_aws():
        yield


def create_state_table(name: str = "caretaker-state", client: Any = None) -> str:
    """The state table with the key schema the core stack declares (state_schema); `client`: where (default:
    this account, REGION)."""
    client = client or boto3.client("dynamodb", region_name=REGION)
    attributes = {schema.PARTITION_KEY, schema.SORT_KEY} | {a for _, pk, sk in schema.INDEXES for a in (pk, sk)}
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
        KeySchema=[{"AttributeName": schema.PARTITION_KEY, "KeyType": "HASH"},
                   {"AttributeName": schema.SORT_KEY, "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {"IndexName": index, "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}]}
            for index, pk, sk in schema.INDEXES
        ],
    )
    return name


@pytest.fixture
def state_table(monkeypatch: pytest.MonkeyPatch) -> str:
    name = create_state_table()
    monkeypatch.setenv("CARETAKER_STATE_TABLE", name)
    return name


@dataclass
class Alerts:
    """The alert topic, with an SQS subscriber so tests can read what was published."""

    topic_arn: str
    queue_url: str

    def messages(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name=REGION)
        out: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return out
            for message in got:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def alerts(monkeypatch: pytest.MonkeyPatch) -> Alerts:
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name="caretaker-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("CARETAKER_ALERT_TOPIC_ARN", topic_arn)
    return Alerts(topic_arn, queue_url)


@dataclass
class Clock:
    """A clock the test moves; never sleeps."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The handler's clock, also used by moto's EBS model so snapshot start times follow it."""
    import moto.ec2.models.elastic_block_store as ebs_model

    test_clock = Clock()
    monkeypatch.setattr(ebs_model, "utcnow", lambda: test_clock.now.astimezone(UTC).replace(tzinfo=None))
    return test_clock


@dataclass
class LambdaContext:
    """A fake Lambda context whose remaining time the test controls."""

    remaining_ms: int = 900_000
    function_name: str = "caretaker-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:caretaker-test"
    memory_limit_in_mb: int = 256

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


def scheduled_event(region: str = REGION) -> dict[str, Any]:
    """An EventBridge Scheduled Event as Lambda receives it."""
    with open(__import__("pathlib").Path(__file__).parent.parent / "events" / "scheduled_event.json") as f:
        event: dict[str, Any] = json.load(f)
    event["region"] = region
    return event
