"""The EMF metrics a run publishes are the ones the alarms and the dashboard read (templates/alarms.py, ...)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automations.core.observability import METRICS_NAMESPACE, RUN_METRICS, SERVICE
from automations.scheduled.cleanup_volumes import handler
from templates.alarms import ALARM_KINDS
from tests.automations.conftest import REGION, LambdaContext
from tests.automations.scheduled.cleanup_harness import ec2, harness


def emf_documents(out: str) -> list[dict[str, Any]]:
    return [doc for doc in map(json.loads, (line for line in out.splitlines() if line.startswith('{"_aws"')))]


def test_a_cleanup_run_publishes_runs_actions_and_the_savings_it_realised(
        monkeypatch: pytest.MonkeyPatch, lambda_context: LambdaContext, capsys: pytest.CaptureFixture[str]) -> None:
    h = harness(handler, monkeypatch, lambda_context, mode="enforce")
    h.clock.advance(days=-30)
    ec2().create_volume(AvailabilityZone=f"{REGION}a", Size=20)
    h.clock.advance(days=30)
    capsys.readouterr()

    h.invoke(grace_days="0", final_snapshot="false")

    [doc] = emf_documents(capsys.readouterr().out)
    [directive] = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == METRICS_NAMESPACE
    assert directive["Dimensions"] == [["automation", "service"]]
    assert (doc["automation"], doc["service"]) == ("cleanup-ebs-volumes", SERVICE)
    published = {m["Name"] for m in directive["Metrics"]}
    assert published == set(RUN_METRICS)
    assert doc["Runs"] == [1.0] and doc["RunsFailed"] == [0.0] and doc["ActionsSucceeded"] == [1.0]
    assert doc["EstimatedMonthlySavingsUsd"] == [1.6]  # 20 GB at 0.08 USD


def test_every_caretaker_metric_an_alarm_reads_is_published() -> None:
    own = {kind.metric for kind in ALARM_KINDS if kind.namespace == METRICS_NAMESPACE}
    assert own and own <= set(RUN_METRICS)
