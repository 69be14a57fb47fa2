"""Helpers for the security rules' tests: CloudTrail event fixtures, a real EventBridge pattern
matcher, and the state-log items and notifications a run leaves behind."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from automations.core import ledger, registry
from automations.core.aws import ServiceName
from automations.core.runtime import Entrypoint
from automations.core.spec import (
    OWN_ROLE_ARN_PREFIX_ENV,
    OWN_ROLE_NAMES_ENV,
    ROLE_PATH,
    FunctionSpec,
    pascal,
)
from tests.automations.conftest import REGION, Alerts, Clock, LambdaContext
from tests.notifications import parse_message
from tests.recording import RecordingClients

EVENTS = Path(__file__).resolve().parents[2] / "events" / "cloudtrail"
ACCOUNT = "123456789012"


def own_role_arn(function: str, account: str = ACCOUNT, partition: str = "aws") -> str:
    """The ARN CloudFormation gives the (unnamed) role of `function`: `<stack>-<logical id>-<random>` under
    the Caretaker path."""
    spec = registry.get(function)
    return (f"arn:{partition}:iam::{account}:role{ROLE_PATH}caretaker-{registry.stack_of(spec)}-"
            f"{pascal(function)}Role-1A2B3C4D5E6F")


def role_id(role_arn: str, incarnation: int = 0) -> str:
    """A deterministic unique id in IAM's format (`AROA` + 17 upper-case base32 characters) for the role
    `role_arn`; another `incarnation` is the same role deleted and re-created: same ARN, new id."""
    digest = hashlib.sha256(f"{role_arn}#{incarnation}".encode()).digest()
    return "AROA" + base64.b32encode(digest).decode()[:17]


def own_role_name(function: str) -> str:
    """The name CloudFormation gives the role of `function` (what `Ref` of the role gives)."""
    return own_role_arn(function).rsplit("/", 1)[1]


def stack_role_names(spec: FunctionSpec) -> list[str]:
    """What the template gives every reactive function of `spec`'s stack: its roles' names (with
    `CARETAKER_OWN_ROLE_ARN_PREFIX`, their exact ARNs)."""
    stack = registry.stack_of(spec)
    return [own_role_name(other.name) for other in registry.discover() if registry.stack_of(other) == stack]


OWN_ROLE = own_role_arn("sg-open-world")
OWN_ROLE_ID = role_id(OWN_ROLE)


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of tests/events/cloudtrail/<name>.json."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


#: The sample events of the AWS services' own events, one folder per source (tests/events/SOURCES.md).
SERVICE_EVENTS = EVENTS.parent
SERVICE_EVENT_DIRS = ("health", "guardduty", "ec2", "s3")


def load_sample(folder: str, name: str) -> dict[str, Any]:
    """A fresh copy of tests/events/<folder>/<name>.json (folder: health, guardduty, ec2, s3)."""
    event: dict[str, Any] = json.loads((SERVICE_EVENTS / folder / f"{name}.json").read_text())
    return event


def all_samples() -> dict[str, dict[str, Any]]:
    """Every service event sample, as `<folder>/<name>` -> event."""
    return {f"{folder}/{path.stem}": json.loads(path.read_text())
            for folder in SERVICE_EVENT_DIRS for path in sorted((SERVICE_EVENTS / folder).glob("*.json"))}


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """EventBridge's matching, as LocalStack implements it (patterns and events travel as JSON strings)."""
    from localstack.services.events.event_rule_engine import EventPatternCompiler, EventRuleEngine

    compiled = EventPatternCompiler().compile_event_pattern(json.dumps(pattern))
    return bool(EventRuleEngine().evaluate_pattern_on_event(compiled, json.dumps(event)))


def from_caretaker(event: dict[str, Any], issuer: str = OWN_ROLE, issuer_id: str | None = None) -> dict[str, Any]:
    """The same event, as if a session of the role `issuer` (by default one of Caretaker's own) had made the
    call, as CloudTrail records it: the role's unique id (`issuer_id`, by default its deterministic
    `role_id`) as the issuer's principalId and before the `:` of the caller's."""
    changed = copy.deepcopy(event)
    role_name = issuer.rsplit("/", 1)[-1]
    account = issuer.split(":")[4]
    unique_id = role_id(issuer) if issuer_id is None else issuer_id
    changed["detail"]["userIdentity"] = {
        "type": "AssumedRole",
        "principalId": f"{unique_id}:{role_name}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role_name}/{role_name}",
        "accountId": account,
        "accessKeyId": "ASIACARETAKERKEY0001",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": unique_id, "arn": issuer,
                              "accountId": account, "userName": role_name},
            "attributes": {"creationDate": "2026-11-27T10:00:00Z", "mfaAuthenticated": "false"},
        },
    }
    return changed


def redelivered(event: dict[str, Any]) -> dict[str, Any]:
    """A second delivery of the same event (same id), as EventBridge retries send it."""
    return copy.deepcopy(event)


_CLIENTS: list[RecordingClients] = []


def shared_clients() -> RecordingClients:
    """One recording session for all tests: botocore loads each service model and builds each client once.
    (moto intercepts every client's calls while a test's mock is active, whenever the client was made.)"""
    if not _CLIENTS:
        _CLIENTS.append(RecordingClients())
    return _CLIENTS[0]


def aws(service: ServiceName, region: str = REGION) -> Any:
    """A client for test setup and checks, from the shared session (its calls are not the handler's)."""
    return shared_clients()(service, region)


class Harness:
    """Invokes a handler in-process against moto and reads back what the run left (the undeclared-call guard,
    tests/declared_calls.py, checks every call it made)."""

    def __init__(self, state_table: str, alerts: Alerts, clock: Clock, context: LambdaContext,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.table = state_table
        self.alerts = alerts
        self.clock = clock
        self.context = context
        self.monkeypatch = monkeypatch
        self.dynamodb = aws("dynamodb")
        self.clients = shared_clients()

    def fail(self, service: str, operation: str, code: str, message: str | None = None, **kwargs: Any) -> None:
        """From now on, invoke on clients of this test's own on which `operation` fails with `code`
        (`RecordingClients.fail`; a second call adds its fault to the first): the shared recording session keeps
        no fault."""
        if self.clients is shared_clients():
            self.clients = RecordingClients()
        self.clients.fail(service, operation, code, message, **kwargs)

    def mode(self, mode: str) -> None:
        self.monkeypatch.setenv("CARETAKER_MODE", mode)

    def setting(self, env_name: str, value: str) -> None:
        self.monkeypatch.setenv(env_name, value)

    def invoke(self, handler: Entrypoint, event: Mapping[str, Any]) -> dict[str, Any]:
        """Invoke in-process. Unless the test set CARETAKER_OWN_ROLE_NAMES, the function gets what its template
        gives it without the deploy tool: the exact ARNs of its own stack's roles (prefix + names)."""
        self.clock.advance(seconds=1)
        if OWN_ROLE_NAMES_ENV not in os.environ and handler.spec.reads_own_roles:
            self.monkeypatch.setenv(OWN_ROLE_NAMES_ENV, ",".join(stack_role_names(handler.spec)))
        if OWN_ROLE_ARN_PREFIX_ENV not in os.environ and handler.spec.reads_own_roles:
            self.monkeypatch.setenv(OWN_ROLE_ARN_PREFIX_ENV, f"arn:aws:iam::{ACCOUNT}:role{ROLE_PATH}")
        return handler.invoke(event, self.context, clock=self.clock, clients=self.clients)

    def redelivered(self, handler: Entrypoint, event: dict[str, Any], undo: Any) -> dict[str, Any]:
        """Deliver `event`, let `undo()` (the tamperer) do it again, drain the notifications, then deliver the same
        event a second time: that second run's summary."""
        self.invoke(handler, event)
        undo()
        self.notifications()
        return self.invoke(handler, redelivered(event))

    def only_reason(self, handler: Entrypoint, event: Mapping[str, Any]) -> str:
        """Invoke; the run records one item: its reason."""
        [item] = self.items(self.invoke(handler, event))
        return str(item["reason"])

    def skipped_quietly(self, summary: Mapping[str, Any]) -> str:
        """What a run that leaves a resource alone records: one `skipped` record and no notification; its reason."""
        [item] = self.items(summary)
        assert item["outcome"] == "skipped"
        assert self.notifications() == []
        return str(item["reason"])

    def skipped_reported(self, summary: Mapping[str, Any]) -> str:
        """What a run that leaves a resource alone and says so records: one `skipped` record, and a first
        notification whose outcome is `skipped`; the record's reason."""
        [item] = self.items(summary)
        assert item["outcome"] == "skipped"
        assert self.notifications()[0]["body"]["caretaker"]["outcome"] == "skipped"
        return str(item["reason"])

    def planned_only(self, summary: Mapping[str, Any], action: str) -> dict[str, Any]:
        """What an audit run leaves: one dry-run `planned` record of `action`, and one notification saying so
        (returned)."""
        assert [(i["action"], i["outcome"], i["dry_run"]) for i in self.items(summary)] == [(action, "planned", True)]
        [note] = self.notifications()
        assert note["body"]["caretaker"]["outcome"] == "planned"
        return note

    def items(self, summary: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The run's action items (outcome records), oldest first."""
        items = ledger.run_items(self.dynamodb, self.table, summary["run_id"])
        return [i for i in items if i.get("type") == "action"]

    def run_summary(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        items = ledger.run_items(self.dynamodb, self.table, summary["run_id"])
        return next(i for i in items if i.get("type") == "run")

    def notifications(self) -> list[dict[str, Any]]:
        """Notifications published since the last call: subject, and the JSON body after the summary line."""
        out = []
        for envelope in self.alerts.messages():
            message = envelope["Message"]
            summary, body = parse_message(message)
            out.append({"subject": envelope.get("Subject", ""), "summary": summary, "body": body})
        return out


@pytest.fixture
def harness(state_table: str, alerts: Alerts, clock: Clock, lambda_context: LambdaContext,
            monkeypatch: pytest.MonkeyPatch) -> Harness:
    return Harness(state_table, alerts, clock, lambda_context, monkeypatch)


def outcomes(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(action, outcome) of each item, in order."""
    return [(i["action"], i["outcome"]) for i in items]


@pytest.fixture
def ec2() -> Any:
    """The test's EC2 client (in-process moto)."""
    return aws("ec2", REGION)


@pytest.fixture
def group(ec2: Any) -> str:
    """A security group with no rules in a VPC of its own."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return str(ec2.create_security_group(GroupName="web", Description="web tier", VpcId=vpc)["GroupId"])
