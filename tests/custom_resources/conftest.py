"""Fixtures that drive the real CloudFormation custom resource protocol.

* An HTTPS endpoint on 127.0.0.1 stands in for CloudFormation's pre-signed response URL. Its
  certificate is self-signed, generated once per session; `SSL_CERT_FILE` points at it, so the
  providers' default TLS context trusts it while verification stays on (moto does not intercept
  `http.client`, so responses really travel over TLS to this server).
* AWS is in-process moto. One `RecordingClients` session (tests/recording.py) lets tests inject faults and
  delays per operation, records every call, and answers the two EBS operations moto lacks.
* `Cfn` builds CloudFormation-shaped request events and returns the bodies the endpoint received.
"""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

import custom_resources
from automations.cli.responder import Certificate, LocalResponder, self_signed_certificate
from automations.core.aws import Clients
from automations.core.ledger import run_items
from automations.core.settings import clear_cache
from custom_resources.provider import Provider
from tests.automations.conftest import Clock, create_state_table, fake_aws_environment
from tests.lookups import found
from tests.recording import RecordingClients

REGION = "us-east-1"
ACCOUNT = "123456789012"
STATE_TABLE = "caretaker-state"


# ---------------------------------------------------------------------------- HTTPS responder


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed CA certificate for 127.0.0.1, made for this test session only."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


class Responder(LocalResponder):
    """What CloudFormation's pre-signed S3 URL does (automations/cli/responder.py), with what the tests need
    besides: arrival times, and HTTP statuses planned for the next PUTs."""

    def __init__(self, certificate: Certificate) -> None:
        self._arrivals: dict[str, list[float]] = defaultdict(list)
        self._planned_statuses: list[int] = []
        self.attempts = 0
        super().__init__(certificate)

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_port}"

    def url_for(self, request_id: str) -> str:
        return f"{self.base_url}/cloudformation/{request_id}?X-Amz-Signature=test-signature"

    def _record(self, path: str, raw: bytes) -> int:
        with self._lock:
            self.attempts += 1
            if self._planned_statuses:
                return self._planned_statuses.pop(0)
            self._arrivals[self.request_id(path)].append(time.monotonic())
        return super()._record(path, raw)  # takes the lock itself

    def answer_next_with(self, *statuses: int) -> None:
        """Answer the next PUTs with these HTTP statuses (the bodies are then not kept)."""
        with self._lock:
            self._planned_statuses.extend(statuses)

    def arrivals(self, request_id: str) -> list[float]:
        with self._lock:
            return list(self._arrivals.get(request_id, []))

    def reset(self) -> None:
        with self._lock:
            self._planned_statuses.clear()
            self.attempts = 0


@pytest.fixture(scope="session")
def responder(certificate: Certificate) -> Iterator[Responder]:
    server = Responder(certificate)
    yield server
    server.close()


# ---------------------------------------------------------------------------- AWS


def _ebs_backend() -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[ACCOUNT][REGION]


def _get_ebs_default_kms_key_id(_: dict[str, Any]) -> dict[str, Any]:
    return {"KmsKeyId": _ebs_backend().default_kms_key_id or "alias/aws/ebs"}


def _reset_ebs_default_kms_key_id(_: dict[str, Any]) -> dict[str, Any]:
    _ebs_backend().default_kms_key_id = ""
    return {"KmsKeyId": "alias/aws/ebs"}


@pytest.fixture(scope="session")
def session_hooks() -> RecordingClients:
    """One recording session for the whole run (each test takes its own `Clients` on it: `hooks.clients()`)."""
    made = RecordingClients()
    # moto 5.2.5 lacks these two EC2 operations; answer them from moto's own EC2 state
    made.answer("ec2", "GetEbsDefaultKmsKeyId", _get_ebs_default_kms_key_id)
    made.answer("ec2", "ResetEbsDefaultKmsKeyId", _reset_ebs_default_kms_key_id)
    made.permanent = set(made.responses)
    return made


@pytest.fixture
def hooks(session_hooks: RecordingClients) -> Iterator[RecordingClients]:
    session_hooks.reset()
    yield session_hooks
    session_hooks.reset()


def provider_modules() -> list[ModuleType]:
    """Every custom_resources module that exposes a provider `handler`."""
    modules = [importlib.import_module(info.name)
               for info in pkgutil.iter_modules(custom_resources.__path__, "custom_resources.")]
    return [m for m in modules if isinstance(getattr(m, "handler", None), Provider)]


@pytest.fixture(scope="session")
def shared_session() -> boto3.session.Session:
    """The session behind `boto3.client(...)` in tests and in crhelper, kept for the whole run so that
    botocore loads endpoints and service models once (moto resets boto3's default session)."""
    return boto3.session.Session(region_name=REGION)


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch, certificate: Certificate, responder: Responder,
        shared_session: boto3.session.Session) -> Iterator[None]:
    """In-process moto, fake credentials, the state table, a trusted responder, fresh containers."""
    fake_aws_environment(monkeypatch)
    for key in ("AWS_REGION", "AWS_SAM_LOCAL", "SSL_CERT_DIR"):
        monkeypatch.delenv(key, raising=False)
    for key in [k for k in __import__("os").environ if k.startswith("CARETAKER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert_file))
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # AMI tests register their own images
    clear_cache()
    responder.reset()
    for module in provider_modules():
        module.handler.reset()  # each test starts as a new Lambda container
    with mock_aws():
        boto3.DEFAULT_SESSION = shared_session  # mock_aws restores its own value when it stops
        create_state_table(STATE_TABLE)
        monkeypatch.setenv("CARETAKER_STATE_TABLE", STATE_TABLE)
        yield


@pytest.fixture
def clock() -> Clock:
    return Clock()


# ---------------------------------------------------------------------------- Lambda context


@dataclass
class FakeContext:
    """A Lambda context whose remaining time the test controls: each read costs `cost_ms`."""

    function_name: str = "caretaker-test"
    remaining_ms: int = 120_000
    cost_ms: int = 0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 256

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        value = self.remaining_ms
        self.remaining_ms -= self.cost_ms
        return value


# ---------------------------------------------------------------------------- CloudFormation


@dataclass
class Cfn:
    """Sends CloudFormation-shaped requests to a provider module and reads what it answered."""

    responder: Responder
    hooks: RecordingClients
    clock: Clock
    stacks: dict[str, str] = field(default_factory=dict)
    #: the resources of the stacks made in moto's CloudFormation (`declare`), by stack name
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    clients: Clients = field(init=False)

    def __post_init__(self) -> None:
        self.clients = self.hooks.clients()  # one per test, as one Lambda container keeps its clients

    def stack_id(self, stack: str) -> str:
        if stack not in self.stacks:
            self.stacks[stack] = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/{uuid.uuid4()}"
        return self.stacks[stack]

    def declare(self, stack: str, logical_id: str, resource_type: str, properties: dict[str, Any]) -> str:
        """Add a resource to `stack` in moto's CloudFormation (creating the stack, or updating it), so that
        CloudFormation lists it as one of the stack's resources; requests from `stack` carry its StackId."""
        client = boto3.client("cloudformation", region_name=REGION)
        resources = self.templates.setdefault(stack, {})
        resources[logical_id] = {"Type": resource_type, "Properties": properties}
        body = json.dumps({"Resources": resources})
        if stack in self.stacks and stack_exists(client, self.stacks[stack]):
            client.update_stack(StackName=self.stacks[stack], TemplateBody=body)
        else:
            self.stacks[stack] = client.create_stack(StackName=stack, TemplateBody=body)["StackId"]
        return self.stacks[stack]

    def event(self, module: ModuleType, request_type: str, properties: dict[str, Any] | None = None, *,
              physical_id: str | None = None, old_properties: dict[str, Any] | None = None,
              logical_id: str = "Resource", stack: str = "consumer") -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        token = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{module.SPEC.function_name}"
        event: dict[str, Any] = {
            "RequestType": request_type,
            "ResponseURL": self.responder.url_for(request_id),
            "StackId": self.stack_id(stack),
            "RequestId": request_id,
            "ResourceType": module.RESOURCE_TYPE,
            "LogicalResourceId": logical_id,
            "ResourceProperties": {"ServiceToken": token, **(properties or {})},
        }
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        if old_properties is not None:
            event["OldResourceProperties"] = {"ServiceToken": token, **old_properties}
        return event

    def context(self, module: ModuleType, **kwargs: Any) -> FakeContext:
        return FakeContext(function_name=module.SPEC.function_name, **kwargs)

    def invoke(self, module: ModuleType, event: dict[str, Any], context: FakeContext | None = None) -> None:
        module.handler.invoke(event, context or self.context(module), clients=self.clients, clock=self.clock)

    def responses(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        return self.responder.bodies(event["RequestId"])

    def answer(self, event: dict[str, Any]) -> dict[str, Any]:
        """The one response to an event (fails when there were none or several)."""
        bodies = self.responses(event)
        assert len(bodies) == 1, f"expected exactly one response, got {len(bodies)}: {bodies}"
        body = bodies[0]
        for key in ("StackId", "RequestId", "LogicalResourceId"):
            assert body[key] == event[key]
        assert body["PhysicalResourceId"]
        return body

    def send(self, module: ModuleType, request_type: str, properties: dict[str, Any] | None = None, *,
             context: FakeContext | None = None, **kwargs: Any) -> dict[str, Any]:
        event = self.event(module, request_type, properties, **kwargs)
        self.invoke(module, event, context)
        return self.answer(event)

    def create(self, module: ModuleType, properties: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        return self.send(module, "Create", properties, **kwargs)

    def update(self, module: ModuleType, physical_id: str, properties: dict[str, Any],
               old_properties: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self.send(module, "Update", properties, physical_id=physical_id, old_properties=old_properties,
                         **kwargs)

    def delete(self, module: ModuleType, physical_id: str, properties: dict[str, Any] | None = None,
               **kwargs: Any) -> dict[str, Any]:
        return self.send(module, "Delete", properties, physical_id=physical_id, **kwargs)

    def refused(self, module: ModuleType, properties: dict[str, Any]) -> dict[str, Any]:
        """The response to a Create with invalid `properties`: FAILED, before any AWS call."""
        failed = self.create(module, properties)
        assert failed["Status"] == "FAILED"
        assert self.hooks.calls == []
        return failed

    def records(self, body_or_event: dict[str, Any]) -> list[dict[str, Any]]:
        """The state-log items of the request (summary and actions)."""
        client = boto3.client("dynamodb", region_name=REGION)
        return run_items(client, STATE_TABLE, body_or_event["RequestId"])


def stack_exists(client: Any, stack_id: str) -> bool:
    return found(lambda: client.describe_stacks(StackName=stack_id), client.exceptions.ClientError)


@pytest.fixture
def cfn(responder: Responder, hooks: RecordingClients, clock: Clock) -> Cfn:
    return Cfn(responder, hooks, clock)


def summary_of(items: list[dict[str, Any]]) -> dict[str, Any]:
    return next(i for i in items if i["sk"] == "SUMMARY")


def actions_of(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in items if i.get("type") == "action"]


# ---------------------------------------------------------------------------- logs


class CapturedLogs(logging.Handler):
    """Every log record, with every attribute (powertools puts its `extra` keys on the record)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage() + " " + json.dumps(record.__dict__, default=str)
        if record.exc_info:
            text += " " + logging.Formatter().formatException(record.exc_info)
        self.texts.append(text)

    def contains(self, value: str) -> bool:
        return any(value in text for text in self.texts)


@pytest.fixture
def logs() -> Iterator[CapturedLogs]:
    """Capture at DEBUG, as a Lambda with log level DEBUG would."""
    handler = CapturedLogs()
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)
