"""One CloudWatch dashboard per deployment, generated from the registry: a new function appears on it by being
declared.

Rows: a header with the estimated monthly savings realised (all functions), then one row per family (the cleanup
functions, and each other stack's functions) with four widgets: runs, actions by outcome, failures (runs failed,
actions failed, Lambda errors), and duration as a share of each function's declared timeout (annotated at the
Duration alarm's threshold). The metrics are Caretaker's own EMF metrics (namespace `Caretaker`, dimensions
`automation` and `service`) and Lambda's. It lives in the core stack: metrics are addressed by function name, so
the dashboard needs nothing from the function stacks and shows whatever of them is deployed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from troposphere import Sub
from troposphere.cloudwatch import Dashboard

from automations.core import registry
from automations.core.observability import METRICS_NAMESPACE, SERVICE
from automations.core.spec import FunctionSpec
from templates.alarms import DURATION_SHARE

WIDTH = 6  # four widgets per row of 24 units
HEIGHT = 6
PERIOD = 3600
REGION = "${AWS::Region}"
OUTCOMES = ("Succeeded", "Failed", "Skipped", "Planned")


def family(spec: FunctionSpec) -> str:
    """The dashboard row a function belongs to: the cleanup families share one, else its stack's."""
    if spec.name.startswith("cleanup-"):
        return "cleanup"
    return str(registry.stack_of(spec))


def _own(metric: str, spec: FunctionSpec, metric_id: str, visible: bool = True) -> list[Any]:
    options: dict[str, Any] = {"id": metric_id, "label": spec.name}
    if not visible:
        options["visible"] = False
    return [METRICS_NAMESPACE, metric, "automation", spec.name, "service", SERVICE, options]


def _lambda(metric: str, spec: FunctionSpec, metric_id: str, stat: str, visible: bool = True) -> list[Any]:
    options: dict[str, Any] = {"id": metric_id, "label": spec.name, "stat": stat}
    if not visible:
        options["visible"] = False
    return ["AWS/Lambda", metric, "FunctionName", spec.function_name, options]


def _widget(title: str, metrics: list[list[Any]], x: int, y: int, *, stacked: bool = False, stat: str = "Sum",
            annotation: float | None = None, unit_label: str = "") -> dict[str, Any]:
    properties: dict[str, Any] = {"title": title, "region": REGION, "metrics": metrics, "period": PERIOD,
                                  "stat": stat, "view": "timeSeries", "stacked": stacked}
    if unit_label:
        properties["yAxis"] = {"left": {"label": unit_label, "min": 0}}
    if annotation is not None:
        properties["annotations"] = {"horizontal": [{"label": "Duration alarm", "value": annotation}]}
    return {"type": "metric", "x": x, "y": y, "width": WIDTH, "height": HEIGHT, "properties": properties}


def _sum_of(ids: Sequence[str], expression_id: str, label: str) -> list[Any]:
    return [{"expression": f"SUM([{','.join(ids)}])", "id": expression_id, "label": label}]


def family_row(name: str, specs: Sequence[FunctionSpec], y: int) -> list[dict[str, Any]]:
    runs = [_own("Runs", s, f"r{i}") for i, s in enumerate(specs)]
    outcomes: list[list[Any]] = []
    for o, outcome in enumerate(OUTCOMES):
        ids = [f"a{o}x{i}" for i in range(len(specs))]
        outcomes += [_own(f"Actions{outcome}", s, ids[i], visible=False) for i, s in enumerate(specs)]
        outcomes.append(_sum_of(ids, f"o{o}", outcome.lower()))
    failures: list[list[Any]] = []
    for f, (metric, kind) in enumerate((("RunsFailed", "own"), ("ActionsFailed", "own"), ("Errors", "lambda"))):
        ids = [f"f{f}x{i}" for i in range(len(specs))]
        failures += [(_own(metric, s, ids[i], visible=False) if kind == "own"
                      else _lambda(metric, s, ids[i], "Sum", visible=False)) for i, s in enumerate(specs)]
        failures.append(_sum_of(ids, f"e{f}", {"RunsFailed": "runs failed", "ActionsFailed": "actions failed",
                                              "Errors": "Lambda errors"}[metric]))
    durations: list[list[Any]] = []
    for i, s in enumerate(specs):
        durations.append(_lambda("Duration", s, f"d{i}", "Maximum", visible=False))
        durations.append([{"expression": f"100*d{i}/{s.timeout * 1000}", "id": f"p{i}", "label": s.name}])
    return [
        _widget(f"{name}: runs", runs, 0, y),
        _widget(f"{name}: actions by outcome", outcomes, WIDTH, y, stacked=True),
        _widget(f"{name}: failures", failures, 2 * WIDTH, y),
        _widget(f"{name}: duration, % of timeout", durations, 3 * WIDTH, y, stat="Maximum",
                annotation=DURATION_SHARE * 100, unit_label="%"),
    ]


def dashboard_body(specs: Sequence[FunctionSpec]) -> dict[str, Any]:
    families: dict[str, list[FunctionSpec]] = {}
    for spec in sorted(specs, key=lambda s: s.name):
        families.setdefault(family(spec), []).append(spec)
    savings_ids = [f"s{i}" for i in range(len(specs))]
    savings = [_own("EstimatedMonthlySavingsUsd", s, savings_ids[i], visible=False)
               for i, s in enumerate(sorted(specs, key=lambda s: s.name))]
    savings.append(_sum_of(savings_ids, "total", "realised, USD a month"))
    widgets: list[dict[str, Any]] = [
        {"type": "text", "x": 0, "y": 0, "width": 3 * WIDTH, "height": HEIGHT, "properties": {"markdown": (
            "# Caretaker\nRuns, actions and failures per family, from Caretaker's own metrics (namespace "
            f"`{METRICS_NAMESPACE}`) and Lambda's. What a run did, and why: "
            "`python -m automations report --since 24h`. Alarms: one per function and kind, to the alert topic "
            "(docs/operations.md).")}},
        _widget("estimated monthly savings realised", savings, 3 * WIDTH, 0, unit_label="USD/month"),
    ]
    for row, (name, members) in enumerate(families.items(), start=1):
        widgets += family_row(name, members, row * HEIGHT)
    return {"widgets": widgets}


def dashboard(specs: Sequence[FunctionSpec]) -> Dashboard:
    return Dashboard(
        "Dashboard",
        DashboardName=Sub("${AWS::StackName}-${AWS::Region}"),
        DashboardBody=Sub(json.dumps(dashboard_body(specs), sort_keys=True, separators=(",", ":"))),
    )
