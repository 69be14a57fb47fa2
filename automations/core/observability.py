"""Structured logs (powertools Logger, JSON) and EMF metrics (powertools Metrics, namespace Caretaker).

Both are created on first use, not at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

SERVICE = "caretaker"
METRICS_NAMESPACE = "Caretaker"


@cache
def get_logger() -> Any:
    """The process-wide powertools Logger (JSON lines; run id as correlation id)."""
    from aws_lambda_powertools import Logger

    return Logger(service=SERVICE)


#: Published per invocation; `Runs` and the savings only when a run ends (not when it continues).
RUN_METRICS = ("ActionsPlanned", "ActionsSucceeded", "ActionsFailed", "ActionsSkipped", "RunsFailed", "Runs",
               "EstimatedMonthlySavingsUsd")


def publish_run_metrics(automation: str, counts: Mapping[str, int], status: str,
                        savings: Mapping[str, float] | None = None) -> None:
    """One EMF document per invocation: actions by outcome, a failed-run counter, and when the run ends there, a
    run counter and the estimated monthly savings it realised (the dashboard and alarms read these)."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
    metrics.add_dimension(name="automation", value=automation)
    for outcome, count in counts.items():
        metrics.add_metric(name=f"Actions{outcome.capitalize()}", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name="RunsFailed", unit=MetricUnit.Count, value=1 if status == "failed" else 0)
    if status != "continued":
        metrics.add_metric(name="Runs", unit=MetricUnit.Count, value=1)
    if savings is not None:
        metrics.add_metric(name="EstimatedMonthlySavingsUsd", unit=MetricUnit.NoUnit,
                           value=float(savings.get("acted", 0.0)))
    metrics.flush_metrics()


def publish_counts(automation: str, counts: Mapping[str, int]) -> None:
    """One EMF document of a function's own count metrics (e.g. backup-coverage's `UncoveredResources`), under the
    same namespace and `automation` dimension as the run metrics, so alarms and the dashboard address them alike."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
    metrics.add_dimension(name="automation", value=automation)
    for name, count in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    metrics.flush_metrics()
