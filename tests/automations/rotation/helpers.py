"""Helpers shared by the credential-rotation tests (rotation functions and the scheduled key rotation)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.loaders import create_loader

from tests.automations.aws_hooks import REGION, HookedClients

#: One botocore loader for every client session of these tests: each new session otherwise parses the
#: service models again, which is most of the cost of a handler invocation under moto.
_LOADER = create_loader()


class QuickClients(HookedClients):
    """`HookedClients` (records calls, injects errors) whose session reuses already-parsed service models."""

    def __init__(self, region: str = REGION) -> None:
        super().__init__(region)
        self.session._session.register_component("data_loader", _LOADER)


def once(predicate: Callable[[Mapping[str, Any]], bool]) -> Callable[[Mapping[str, Any]], bool]:
    """A fault predicate for `HookedClients.fail` that matches only the first matching call."""
    fired = False

    def match(body: Mapping[str, Any]) -> bool:
        nonlocal fired
        if fired or not predicate(body):
            return False
        fired = True
        return True

    return match


#: Calls every function may make (baseline permissions) or that need no permission at all.
UNDECLARED_OK = {"dynamodb", "sns", "sts:GetCallerIdentity"}


def undeclared_calls(clients: HookedClients, declared: frozenset[str]) -> set[str]:
    """The `service:Operation` calls a handler made that its spec does not declare."""
    made = {f"{service}:{operation}" for service, operation, _ in clients.calls}
    return {call for call in made if call not in declared and call.split(":")[0] not in UNDECLARED_OK
            and call not in UNDECLARED_OK}
