"""The undeclared-call guard: every AWS call a function makes in a test must be granted by its declaration.

`tests/conftest.py` installs a `Guard` for every test (autouse fixture `declared_calls`). It wraps
`Entrypoint.invoke` and `Provider.invoke` (`__call__` goes through them), so every in-process invocation of every
scheduled function, reactive rule, rotation function and custom resource provider is watched, whichever
`Clients` the test injects (none: the execution environment's shared clients, as in Lambda). It records the calls
made through the clients of that `Clients` while the invocation runs and, after the test, fails it when one of
them maps to an IAM action that the function's declaration does not grant. The declaration is the registry's
(`registry.get(name)`) when the function is registered there, else the handler's own spec (a test's variant).

Granted: the actions of `spec.all_permissions` (its own permissions, the baseline, the continuation), with the
baseline's DynamoDB actions only on the state table (`CARETAKER_STATE_TABLE` of the invocation): a DynamoDB call
on any other table must be declared. `sts:GetCallerIdentity` needs no permission.

A test that makes an undeclared call on purpose carries `@pytest.mark.undeclared_calls` and reads what the guard
saw through the `declared_calls` fixture (`declared_calls.undeclared()`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from automations.core import registry
from automations.core.aws import Clients
from automations.core.runtime import Entrypoint
from automations.core.spec import BASELINE_PERMISSIONS, FunctionSpec
from custom_resources.provider import Provider

MARKER = "undeclared_calls"

#: boto3 service name -> IAM service prefix, where they differ
IAM_SERVICE = {"efs": "elasticfilesystem", "elbv2": "elasticloadbalancing", "s3control": "s3"}
#: `service:Operation` (boto3 names) -> the IAM action that authorises it, where it is not `<prefix>:<Operation>`
IAM_ACTION = {
    "s3:GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "s3:PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3:DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "s3control:GetPublicAccessBlock": "s3:GetAccountPublicAccessBlock",
    "s3control:PutPublicAccessBlock": "s3:PutAccountPublicAccessBlock",
    "s3control:DeletePublicAccessBlock": "s3:PutAccountPublicAccessBlock",
    "s3:HeadObject": "s3:GetObject",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:CopyObject": "s3:PutObject",
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:UploadPartCopy": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
    "s3:ListObjects": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:DeleteObjects": "s3:DeleteObject",
    "s3:GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "s3:PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "s3:GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
    "s3:PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "lambda:Invoke": "lambda:InvokeFunction",
}
#: calls that need no permission at all
NO_PERMISSION = frozenset({"sts:GetCallerIdentity"})
#: the baseline's DynamoDB actions: granted on the state table only
_STATE_TABLE_ONLY = frozenset(a for p in BASELINE_PERMISSIONS for a in p.actions if a.startswith("dynamodb:"))
_HOOK_ID = "caretaker-declared-calls"

Call = tuple[str, str, dict[str, Any]]


def iam_action(service: str, operation: str) -> str:
    """The IAM action that authorises the boto3 call `service`/`operation`."""
    name = f"{service}:{operation}"
    return IAM_ACTION.get(name, f"{IAM_SERVICE.get(service, service)}:{operation}")


def _on_table(params: Mapping[str, Any], table: str) -> bool:
    return bool(table) and (params.get("TableName") == table or table in (params.get("RequestItems") or {}))


def undeclared(spec: FunctionSpec, calls: list[Call], state_table: str = "") -> set[str]:
    """The IAM actions of `calls` that `spec` does not grant."""
    granted = {a for p in spec.all_permissions for a in p.actions}
    own = {a for p in spec.all_permissions if p not in BASELINE_PERMISSIONS for a in p.actions}
    missing: set[str] = set()
    for service, operation, params in calls:
        action = iam_action(service, operation)
        if action in NO_PERMISSION:
            continue
        elsewhere = action in _STATE_TABLE_ONLY and action not in own and not _on_table(params, state_table)
        if elsewhere or action not in granted:
            missing.add(action)
    return missing


@dataclass
class Invocation:
    """One in-process invocation: the function, its `Clients`, its state table and the calls it made."""

    spec: FunctionSpec
    clients: Clients
    state_table: str
    calls: list[Call] = field(default_factory=list)

    def undeclared(self) -> set[str]:
        return undeclared(self.spec, self.calls, self.state_table)


class Guard:
    """The invocations of one test, and the calls each made."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []
        self._active: list[Invocation] = []  # a stack: a continuation may run inside its parent's hook
        self._lock = threading.Lock()

    def undeclared(self) -> dict[str, set[str]]:
        """Function name -> the IAM actions it called that its declaration does not grant."""
        found: dict[str, set[str]] = {}
        for invocation in self.invocations:
            missing = invocation.undeclared()
            if missing:
                found.setdefault(invocation.spec.name, set()).update(missing)
        return found

    def check(self) -> None:
        """Fail when a function called an action its declaration does not grant."""
        missing = self.undeclared()
        assert not missing, ("undeclared AWS calls (declare them, or mark the test "
                             f"@pytest.mark.{MARKER} when it makes them on purpose): {missing}")

    # ------------------------------------------------------------------ watching

    def _watching(self, clients: Clients) -> bool:
        return any(invocation.clients is clients for invocation in self._active)

    def observe(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        """A `before-parameter-build` hook on the clients of watched invocations."""
        with self._lock:
            if self._active:
                self._active[-1].calls.append((model.service_model.service_name, model.name, dict(params)))

    def run(self, spec: FunctionSpec, kwargs: dict[str, Any], call: Any) -> Any:
        if kwargs.get("clients") is None:
            kwargs["clients"] = Clients()  # what the lifecycle builds itself: the environment's shared clients
        environ = kwargs.get("environ")
        table = (os.environ if environ is None else environ).get("CARETAKER_STATE_TABLE", "")
        invocation = Invocation(declaration(spec), kwargs["clients"], table)
        with self._lock:
            self.invocations.append(invocation)
            self._active.append(invocation)
        try:
            return call(**kwargs)
        finally:
            with self._lock:
                self._active.remove(invocation)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        guard = self
        entry_invoke, provider_invoke = Entrypoint.invoke, Provider.invoke
        clients_call: Callable[..., Any] = Clients.__call__  # called with the service name as a plain str

        def invoke_entrypoint(handler: Entrypoint, event: Any, context: Any, **kwargs: Any) -> Any:
            return guard.run(handler.spec, kwargs, lambda **kw: entry_invoke(handler, event, context, **kw))

        def invoke_provider(handler: Provider, event: Any, context: Any, **kwargs: Any) -> Any:
            return guard.run(handler.spec, kwargs, lambda **kw: provider_invoke(handler, event, context, **kw))

        def client_of(clients: Clients, service: str, region: str | None = None) -> Any:
            client = clients_call(clients, service, region)
            if guard._watching(clients):
                client.meta.events.register("before-parameter-build", _observe, unique_id=_HOOK_ID)
            return client

        monkeypatch.setattr(Entrypoint, "invoke", invoke_entrypoint)
        monkeypatch.setattr(Provider, "invoke", invoke_provider)
        monkeypatch.setattr(Clients, "__call__", client_of)
        _CURRENT[:] = [guard]


#: the guard of the running test (the hook registered on a client outlives one test: it asks this)
_CURRENT: list[Guard] = []


def _observe(**kwargs: Any) -> None:
    if _CURRENT:
        _CURRENT[0].observe(**kwargs)


def declaration(spec: FunctionSpec) -> FunctionSpec:
    """The registry's declaration of the function `spec` names, when it is registered; else `spec`."""
    try:
        return registry.get(spec.name)
    except KeyError:
        return spec
