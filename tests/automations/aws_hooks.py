"""botocore event hooks for tests: record the AWS calls a handler makes, inject AWS errors."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import boto3
from botocore.exceptions import ClientError

from automations.core.aws import Clients

REGION = "us-east-1"


class HookedClients(Clients):
    """Clients on a session whose calls are recorded and can be made to fail."""

    def __init__(self, region: str = REGION) -> None:
        super().__init__(boto3.session.Session(region_name=region))
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._faults: list[tuple[str, str, Callable[[Mapping[str, Any]], bool], str]] = []
        self.session.events.register("before-parameter-build.*.*", self._before_call)

    def _before_call(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        operation = model.name
        body = dict(params)  # the API parameters as the caller passed them
        self.calls.append((service, operation, body))
        for f_service, f_operation, predicate, code in self._faults:
            if (f_service, f_operation) == (service, operation) and predicate(body):
                raise ClientError({"Error": {"Code": code, "Message": f"injected {code} for {operation}"}}, operation)

    def fail(self, service: str, operation: str, code: str = "AccessDenied",
             when: Callable[[Mapping[str, Any]], bool] = lambda _body: True) -> None:
        """Make matching calls raise an AWS error. `when` sees the API parameters."""
        self._faults.append((service, operation, when, code))

    def count(self, service: str | None = None) -> Counter[str]:
        return Counter(op for svc, op, _ in self.calls if service is None or svc == service)
