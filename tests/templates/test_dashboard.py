"""The dashboard is derived from the registry: every declared function appears on it, and so does a new one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automations.core import registry
from automations.core.spec import FunctionSpec
from templates.dashboard import dashboard, dashboard_body, family
from templates.stacks import render_all
from tests.templates.helpers import example_spec

SPECS = registry.discover()


def metric_lists(body: dict[str, Any]) -> list[list[Any]]:
    return [m for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]]


def functions_on(body: dict[str, Any], namespace: str, metric: str) -> set[str]:
    """Function names (automation dimension, or FunctionName) shown with `metric`."""
    shown = set()
    for entry in metric_lists(body):
        if entry[:2] == [namespace, metric]:
            shown.add(entry[3])
    return shown


def test_the_core_stack_holds_one_dashboard_with_every_declared_function() -> None:
    [core, *_] = render_all("code.zip", "deps.zip", "bytecode.zip")
    resources = core.template.to_dict()["Resources"]
    [name] = [n for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    text = resources[name]["Properties"]["DashboardBody"]["Fn::Sub"]
    body = json.loads(text.replace("${AWS::Region}", "eu-west-1"))
    names = {s.name for s in SPECS}
    assert functions_on(body, "Caretaker", "Runs") == names
    assert functions_on(body, "Caretaker", "ActionsFailed") == names
    assert functions_on(body, "AWS/Lambda", "Duration") == {s.function_name for s in SPECS}
    assert len(text) < 100_000  # well inside CloudWatch's dashboard body limit


@pytest.mark.parametrize("key", ["rate", "cloudtrail", "custom"])
def test_a_new_function_gets_its_widgets_without_editing_the_dashboard(key: str) -> None:
    new = example_spec(key)
    body = dashboard_body([*SPECS, new])
    assert new.name in functions_on(body, "Caretaker", "Runs")
    titles = {w["properties"]["title"] for w in body["widgets"] if w["type"] == "metric"}
    assert {f"{family(new)}: {what}" for what in ("runs", "actions by outcome", "failures",
                                                    "duration, % of timeout")} <= titles
    expressions = [m[0]["expression"] for m in metric_lists(body) if isinstance(m[0], dict)]
    assert any(e.endswith(f"/{new.timeout * 1000}") for e in expressions)


def test_metric_ids_are_unique_within_each_widget_and_expressions_name_existing_ids() -> None:
    body = dashboard_body(SPECS)
    for widget in (w for w in body["widgets"] if w["type"] == "metric"):
        ids = [m[-1]["id"] if not isinstance(m[0], dict) else m[0]["id"] for m in widget["properties"]["metrics"]]
        assert len(ids) == len(set(ids)), widget["properties"]["title"]
        for entry in widget["properties"]["metrics"]:
            if isinstance(entry[0], dict):
                referenced = entry[0]["expression"].replace("SUM([", "").replace("])", "").replace("100*", "")
                for token in referenced.replace("/", ",").split(","):
                    assert token.isdigit() or token in ids, (widget["properties"]["title"], token)


def test_widgets_fit_the_24_column_grid_without_overlapping() -> None:
    cells: set[tuple[int, int]] = set()
    for widget in dashboard_body(SPECS)["widgets"]:
        assert widget["x"] + widget["width"] <= 24
        for x in range(widget["x"], widget["x"] + widget["width"]):
            for y in range(widget["y"], widget["y"] + widget["height"]):
                assert (x, y) not in cells
                cells.add((x, y))


def test_families_group_the_cleanups_and_otherwise_follow_the_stacks() -> None:
    by_name: dict[str, FunctionSpec] = {s.name: s for s in SPECS}
    assert family(by_name["cleanup-ebs-volumes"]) == "cleanup"
    assert family(by_name["sg-open-world"]) == "security"
    assert family(by_name["ebs-snapshots"]) == "scheduled"
    assert dashboard(SPECS).properties["DashboardName"].to_dict() == {"Fn::Sub": "${AWS::StackName}-${AWS::Region}"}
