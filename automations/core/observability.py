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


def publish_run_metrics(automation: str, counts: Mapping[str, int], status: str) -> None:
    """One EMF document per run: actions by outcome, and a failed-run counter."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
    metrics.add_dimension(name="automation", value=automation)
    for outcome, count in counts.items():
        metrics.add_metric(name=f"Actions{outcome.capitalize()}", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name="RunsFailed", unit=MetricUnit.Count, value=1 if status == "failed" else 0)
    metrics.flush_metrics()
