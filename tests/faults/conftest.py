"""Fixtures of the fault suite: in-process moto (the handler tests' `aws`), no real waiting in botocore's
retries, and `Scheduled`, which invokes a scheduled handler with `FaultClients` and reads what it left."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest

from automations.core.ledger import run_items
from automations.core.runtime import Entrypoint
from tests.automations.conftest import (  # noqa: F401 - fixtures used by the fault tests
    REGION,
    Alerts,
    Clock,
    LambdaContext,
    alerts,
    aws,
    clock,
    lambda_context,
    scheduled_event,
    state_table,
)
from tests.faults.faults import (
    FaultClients,
    VirtualTime,
    counts_of,
    moto_skips_throttled_attempts,
    summary_counts,
    virtual_retry_time,
)


@pytest.fixture(autouse=True)
def retry_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[VirtualTime]:
    """botocore's retry sleeps and token-bucket waits run on virtual time; throttled attempts never reach moto."""
    moto_skips_throttled_attempts(monkeypatch)
    yield virtual_retry_time(monkeypatch)


class Scheduled:
    """One scheduled handler on moto: invoke it with fresh `FaultClients` per run, read its records."""

    def __init__(self, handler: Entrypoint, table: str, test_clock: Clock, context: LambdaContext,
                 **settings: str) -> None:
        self.handler = handler
        self.table = table
        self.clock = test_clock
        self.context = context
        self.settings = settings
        self.runs: list[FaultClients] = []
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)

    def clients(self, seed: int = 7) -> FaultClients:
        return FaultClients(seed)

    def invoke(self, clients: FaultClients | None = None, **settings: str) -> dict[str, Any]:
        """Run once; exceptions (StateLogError, Killed) propagate after the run is remembered."""
        clients = clients or self.clients()
        self.runs.append(clients)
        values = {"mode": "enforce", **self.settings, **settings}
        environ = {**os.environ, **{f"CARETAKER_{k.upper()}": v for k, v in values.items()}}
        return self.handler.invoke(scheduled_event(), self.context, environ=environ, clients=clients,
                                   clock=self.clock)

    @staticmethod
    def run_id(clients: FaultClients) -> str:
        """The run id of the invocation that used these clients (from its first summary write)."""
        for call in clients.calls:
            item = call.params.get("Item", {}) if call.service == "dynamodb" else {}
            if item.get("sk", {}).get("S") == "SUMMARY":
                return str(item["pk"]["S"]).removeprefix("RUN#")
        raise AssertionError("the run wrote no summary")

    def records(self, clients: FaultClients) -> list[dict[str, Any]]:
        return run_items(self.dynamodb, self.table, self.run_id(clients))

    def summary(self, clients: FaultClients) -> dict[str, Any]:
        return next(i for i in self.records(clients) if i["type"] == "run")

    def assert_counts_true(self, clients: FaultClients, result: Mapping[str, Any] | None = None) -> None:
        """The summary's counts (and the returned ones) are the outcome records of the run."""
        records = self.records(clients)
        actual = counts_of(records)
        assert summary_counts(self.summary(clients)) == actual
        if result is not None:
            assert dict(result["counts"]) == actual
