"""What a custom resource type implements, and what its methods see: `ResourceType` (schema, ids, create /
update / delete), its `StackBinding` (which stack may act on what a request names), the `Request` (typed
properties, clients, state log, `act` with write-ahead) and the `Result` it returns. The `Provider`
(`provider.py`) serves the requests."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar, Literal, TypeVar, cast

from automations.core.aws import Clients, ServiceName
from automations.core.codec import Clock
from automations.core.errors import CaretakerError, describe_error
from automations.core.executor import Budget, Executor, remaining_ms
from automations.core.spec import Permission
from automations.core.state_log import StateLog
from custom_resources.properties import Schema, redact_text

T = TypeVar("T")
REQUEST_TYPES = ("Create", "Update", "Delete")
#: Tag every resource a provider creates carries (the function's name), as the scheduled automations do.
AUTOMATION_TAG = "caretaker:automation"
#: The requesting stack's name, for people reading the tags (a name is not an identity: see OWNER_TAG).
STACK_TAG = "caretaker:stack"
#: The full StackId ARN (name and unique id) of the stack a named resource is bound to.
OWNER_TAG = "caretaker:stack-id"
#: Every tag key a provider puts on what it creates.
PROVIDER_TAG_KEYS = (AUTOMATION_TAG, STACK_TAG, OWNER_TAG)


class ProviderError(CaretakerError):
    """A request cannot be served; the message is the Reason CloudFormation shows."""



@dataclass
class Result:
    """What a type's method produced."""

    #: the PhysicalResourceId to answer with; None = not finished, continue through polling (Delete only)
    physical_id: str | None
    #: attributes for Fn::GetAtt
    data: dict[str, Any] = field(default_factory=dict)
    #: mask `data` in Fn::GetAtt output and in the console (CloudFormation's NoEcho)
    no_echo: bool = False
    #: a short explanation (e.g. why nothing was changed); recorded and sent as the Reason
    note: str = ""
    #: values the next poll invocation needs (carried in crhelper's poll event)
    carry: dict[str, Any] = field(default_factory=dict)


@dataclass
class Request:
    """One request as a type's method sees it: typed properties, clients, state log, clock."""

    #: the request type being served: an Update of a failed Create is served as "Create"
    request_type: str
    event: Mapping[str, Any]
    props: dict[str, Any]
    #: the previous properties on Update (None when they no longer validate: all count as changed)
    old_props: dict[str, Any] | None
    schema: Schema
    state: StateLog
    clients: Clients
    context: Any
    clock: Clock
    automation: str
    #: values that must never be logged, recorded or sent in a Reason
    secrets: list[str] = field(default_factory=list)

    @property
    def physical_id(self) -> str:
        return str(self.event.get("PhysicalResourceId", ""))

    @property
    def stack_id(self) -> str:
        return str(self.event["StackId"])

    @property
    def stack_name(self) -> str:
        parts = self.stack_id.split("/")
        return parts[1] if len(parts) > 1 else self.stack_id

    @property
    def logical_id(self) -> str:
        return str(self.event["LogicalResourceId"])

    @property
    def request_id(self) -> str:
        return str(self.event["RequestId"])

    @property
    def poll_data(self) -> Mapping[str, Any]:
        """What the first invocation carried into the poll events (empty before polling)."""
        data = self.event.get("CrHelperData")
        return data if isinstance(data, Mapping) else {}

    def client(self, service: ServiceName) -> Any:
        return self.clients(service)

    def now(self) -> datetime:
        return self.clock()

    def remaining_ms(self) -> int:
        return remaining_ms(self.context)

    @cached_property
    def _location(self) -> tuple[str, str, str]:
        """(partition, region, account) of this function, from its ARN (STS as a fallback)."""
        parts = str(getattr(self.context, "invoked_function_arn", "")).split(":")
        if len(parts) >= 5 and parts[0] == "arn" and parts[4]:
            return parts[1], parts[3], parts[4]
        identity = self.client("sts").get_caller_identity()
        return str(identity["Arn"]).split(":")[1], self.clients.region, str(identity["Account"])

    @property
    def partition(self) -> str:
        return self._location[0]

    @property
    def region(self) -> str:
        return self._location[1]

    @property
    def account(self) -> str:
        return self._location[2]

    def changed(self, flag: Literal["generation", "replaces"] | None = None) -> tuple[str, ...]:
        """Properties (with a schema flag, if given) whose values differ from OldResourceProperties."""
        return self.schema.changed(self.old_props, self.props, flag)

    def tags(self) -> list[dict[str, str]]:
        """The tags of a resource this request creates: it is bound to the requesting stack (OWNER_TAG)."""
        return [{"Key": AUTOMATION_TAG, "Value": self.automation}, {"Key": STACK_TAG, "Value": self.stack_name},
                {"Key": OWNER_TAG, "Value": self.stack_id}]

    def keep_secret(self, value: str) -> str:
        self.secrets.append(value)
        return value

    def redact(self, text: str) -> str:
        return redact_text(text, self.secrets)

    @property
    def executor(self) -> Executor:
        """The one executor (automations/core/executor.py) as a provider uses it: always acting (the mode was
        decided before the type's code runs), failures recorded redacted and not logged (the Reason carries
        them), a state log failing inside a call failing the act like any other error."""
        return Executor(self.state, dry_run=False, budget=Budget.of(self.context),
                        describe=lambda exc: self.redact(describe_error(exc)), stop_on=())

    def act(self, resource_id: str, action: str, call: Callable[[], T], *, reason: str = "",
            details: Mapping[str, Any] | None = None) -> T:
        """Write ahead (`planned`), call AWS, record the outcome.

        A `StateLogError` from the plan propagates before AWS is called. A failing call is
        recorded as `failed` (redacted) and raised as a `ProviderError` that names the action.
        """
        outcome = self.executor.act([(resource_id, reason or f"{self.request_type} requested by "
                                      f"{self.logical_id} in {self.stack_name}", details)], action, call)
        if outcome.error is not None:
            raise ProviderError(f"{action} ({resource_id}) failed: {outcome.reason}") from outcome.error
        return cast(T, outcome.result)


class StackBinding(ABC):
    """How a type binds what it acts on to the stack that asked for it (the request's full StackId).

    Declared once per type (`ResourceType.binding`) and checked by the provider after the
    properties, before any of the type's code runs and so before any value can go into Data.
    """

    #: the IAM permissions `refusal` needs; the type's declaration must include them (a test checks)
    permissions: tuple[Permission, ...] = ()

    @abstractmethod
    def refusal(self, request: Request) -> str | None:
        """None when the requesting stack may act on what the request names; else why it may not
        (the Reason, naming both stacks where one is known). Raise when it cannot be told (the
        request then fails, changing nothing)."""


class AccountWide(StackBinding):
    """A setting of the whole account or region: no stack owns it; the holders' lineage decides
    what a Delete puts back (see `lineage`)."""

    def refusal(self, request: Request) -> str | None:
        return None


ACCOUNT_WIDE = AccountWide()


class ResourceType(ABC):
    """One `Custom::` type: its properties, its ids and what Create / Update / Delete do."""

    resource_type: ClassVar[str]
    schema: ClassVar[Schema]
    #: how requests are bound to stacks: required for every type that changes AWS (`mutates`);
    #: None only for types that change nothing (lookups)
    binding: ClassVar[StackBinding | None]
    #: False for types that change nothing in AWS (lookups): the mode does not apply to them
    mutates: ClassVar[bool] = True
    #: True when a Delete may continue through crhelper polling (`poll_delete`)
    polls_delete: ClassVar[bool] = False
    #: True when a request may simply be served again after an attempt that stopped before answering (the
    #: type works from what AWS shows now, so nothing is done twice); else the retry answers FAILED
    resumable: ClassVar[bool] = False

    @abstractmethod
    def owns(self, physical_id: str) -> bool:
        """True when the id has the form this type gives its resources (a failed Create's id has not)."""

    @abstractmethod
    def create(self, request: Request) -> Result: ...

    @abstractmethod
    def update(self, request: Request) -> Result: ...

    @abstractmethod
    def delete(self, request: Request) -> Result: ...

    def poll_delete(self, request: Request) -> Result:
        raise ProviderError(f"{self.resource_type} does not continue a Delete through polling")
