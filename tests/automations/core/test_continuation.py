"""Continuation in the runtime: checkpoint, self-invoke with only the run id, resume, claim, stop safely."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import boto3
import pytest

from automations.core.continuation import MAX_NO_PROGRESS
from automations.core.errors import StateLogError
from automations.core.ledger import run_items
from automations.core.runtime import Entrypoint, Run
from automations.core.spec import CONTINUATION_MARGIN, FunctionSpec, Permission, Rate
from tests.automations.conftest import Alerts, Clock, LambdaContext
from tests.automations.core.test_continuation_support import ClockedContext, DrainingContext, drive
from tests.notifications import message_body
from tests.recording import RecordingClients

ARN = "arn:aws:lambda:us-east-1:123456789012:function:caretaker-test"
SPEC = FunctionSpec(name="continuing-example", description="test", handler="tests.example.handler",
                    trigger=Rate(1, "day"), permissions=(Permission(("ec2:DescribeVolumes",)),),
                    default_mode="enforce", timeout=900, continues=True)


class Account:
    """What the example handler acts on: ids in two phases; counts every call per id."""

    def __init__(self, first: int, second: int) -> None:
        self.first = [f"res-{n:05d}" for n in range(first)]
        self.second = [f"other-{n:05d}" for n in range(second)]
        self.calls: Counter[str] = Counter()
        self.nested: list[dict[str, Any]] = []

    def handler(self) -> Entrypoint:
        def run_fn(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
            done = 0
            for resource_id in run.items("first", self.first, key=str):
                if resource_id == "res-00003":
                    run.skip(resource_id, "touch", "example skip")
                    continue
                run.act(resource_id, "touch", "example", lambda r=resource_id: self.calls.update([r]))  # type: ignore[misc]
                done += 1
            for batch in run.batches("second", reversed(self.second), key=str, size=4):
                run.act_many([(r, "example", None) for r in batch], "touch-many",
                             lambda b=batch: self.calls.update(b))  # type: ignore[misc]
                done += len(batch)
            return {"done": done}

        return Entrypoint(SPEC, run_fn)


def context(remaining_ms: int, step_ms: int) -> DrainingContext:
    return DrainingContext(remaining_ms=remaining_ms, step_ms=step_ms, invoked_function_arn=ARN + ":live")


def actions(table: str, run_id: str) -> list[dict[str, Any]]:
    return [i for i in run_items(boto3.client("dynamodb"), table, run_id) if i["type"] == "action"]


def summary(table: str, run_id: str) -> dict[str, Any]:
    return next(i for i in run_items(boto3.client("dynamodb"), table, run_id) if i["type"] == "run")


def margin_ms() -> int:
    return int(CONTINUATION_MARGIN.default) * 1000


def test_run_checkpoints_self_invokes_with_the_run_id_and_resumes_until_done(state_table: str, clock: Clock) -> None:
    account = Account(first=40, second=20)
    # 10 reads above the margin per invocation: 10 items (or batches) per invocation
    driven = drive(account.handler(), clock, lambda: context(margin_ms() + 10_000, 1_000))
    run_id = driven.run_id

    assert len(driven.results) > 3
    assert [r["status"] for r in driven.results] == ["continued"] * (len(driven.results) - 1) + ["ok"]
    assert driven.invokes.payloads() == [{"caretaker": {"continue_run": run_id}}] * (len(driven.results) - 1)
    assert {c["FunctionName"] for c in driven.invokes.calls} == {ARN}  # its own function, unqualified
    assert {c["InvocationType"] for c in driven.invokes.calls} == {"Event"}
    assert all(r["run_id"] == run_id for r in driven.results)

    # every resource acted on exactly once, none skipped
    assert set(account.calls) == set(account.first + account.second) - {"res-00003"}
    assert set(account.calls.values()) == {1}
    records = actions(state_table, run_id)
    per_resource = Counter((i["resource_id"], i["outcome"]) for i in records)
    for resource_id in account.calls:
        assert per_resource[(resource_id, "planned")] == 1
        assert per_resource[(resource_id, "succeeded")] == 1
    assert per_resource[("res-00003", "skipped")] == 1

    final = summary(state_table, run_id)
    assert final["status"] == "ok"
    assert final["invocations"] == len(driven.results)
    assert {k: final[k] for k in ("planned", "succeeded", "failed", "skipped")} == {
        "planned": 59, "succeeded": 59, "failed": 0, "skipped": 1}
    assert driven.results[-1]["counts"] == {"planned": 59, "succeeded": 59, "failed": 0, "skipped": 1}
    assert driven.results[-1]["invocations"] == len(driven.results)


def test_a_run_with_time_to_spare_never_continues(state_table: str, clock: Clock) -> None:
    account = Account(first=30, second=8)
    driven = drive(account.handler(), clock, lambda: LambdaContext(remaining_ms=900_000))
    assert [r["status"] for r in driven.results] == ["ok"]
    assert driven.invokes.calls == []
    assert summary(state_table, driven.run_id)["invocations"] == 1


def test_duplicate_delivery_while_the_run_is_held_does_nothing(state_table: str, clock: Clock) -> None:
    account = Account(first=30, second=0)
    inner = account.handler()
    seen: list[dict[str, Any]] = []

    def run_fn(run: Run, event: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if run.invocation == 2 and not seen:  # the same event delivered again while this one holds the run
            seen.append(inner.invoke(dict(event), LambdaContext(), clients=RecordingClients(), clock=clock))
        return inner.fn(run, event)

    driven = drive(Entrypoint(SPEC, run_fn), clock, lambda: context(margin_ms() + 10_000, 1_000))
    assert seen and seen[0]["status"] == "ignored"
    assert set(account.calls.values()) == {1}
    assert len(account.calls) == 29
    assert summary(state_table, driven.run_id)["invocations"] == len(driven.results)


def test_continuation_of_a_finished_run_does_nothing(state_table: str, clock: Clock) -> None:
    account = Account(first=25, second=0)
    driven = drive(account.handler(), clock, lambda: context(margin_ms() + 10_000, 1_000))
    before = actions(state_table, driven.run_id)
    late = account.handler().invoke(driven.invokes.payloads()[0], LambdaContext(), clients=RecordingClients(),
                                     clock=clock)
    assert late["status"] == "ignored"
    assert actions(state_table, driven.run_id) == before
    assert set(account.calls.values()) == {1}
    assert summary(state_table, driven.run_id)["status"] == "ok"


def test_state_log_failure_at_checkpoint_stops_without_continuing(state_table: str, clock: Clock) -> None:
    account = Account(first=40, second=0)
    clients = RecordingClients()
    clients.fail("dynamodb", "BatchWriteItem", "InternalServerError", when=lambda body: "CONT#" in repr(body))
    with pytest.raises(StateLogError, match="could not be written at a checkpoint"):
        drive(account.handler(), clock, lambda: context(margin_ms() + 10_000, 1_000), clients=lambda: clients)
    assert clients.count("lambda") == Counter()  # nothing invoked
    acted = len(account.calls)
    assert 0 < acted < 39  # stopped at the checkpoint: nothing acted on after it
    (run,) = [i for i in boto3.client("dynamodb").scan(TableName=state_table)["Items"] if i["sk"]["S"] == "SUMMARY"]
    assert run["status"]["S"] == "failed"
    assert "checkpoint" in run["error"]["S"]


def test_what_a_run_carries_reaches_its_next_invocation_and_too_much_stops_it(state_table: str,
                                                                            clock: Clock) -> None:
    from automations.core.continuation import Checkpoint

    account = Account(first=30, second=0)
    inner = account.handler()
    seen: list[Any] = []
    size = {"bytes": 10}

    def run_fn(run: Run, event: Mapping[str, Any]) -> Mapping[str, Any] | None:
        seen.append(run.carried.get("note"))
        try:
            return inner.fn(run, event)
        except Checkpoint:
            run.carry("note", {"invocation": run.invocation, "blob": "x" * size["bytes"]})
            raise

    drive(Entrypoint(SPEC, run_fn), clock, lambda: context(margin_ms() + 10_000, 1_000))
    assert seen[0] is None and [n["invocation"] for n in seen[1:]] == list(range(1, len(seen)))

    size["bytes"] = 400_000  # above what one item may hold: the checkpoint fails, nothing is invoked
    clients = RecordingClients()
    with pytest.raises(StateLogError, match="must cap what it carries"):
        drive(Entrypoint(SPEC, run_fn), clock, lambda: context(margin_ms() + 10_000, 1_000), clients=lambda: clients)
    assert clients.count("lambda") == Counter()


def test_the_alert_of_a_partial_run_carries_the_counts_of_all_its_invocations(
        state_table: str, clock: Clock, alerts: Alerts) -> None:
    account = Account(first=30, second=0)

    def run_fn(run: Run, event: Mapping[str, Any]) -> Mapping[str, Any] | None:
        for resource_id in run.items("first", account.first, key=str):
            if resource_id == "res-00001":  # fails in the first invocation only
                run.act(resource_id, "touch", "example", lambda: 1 / 0)
            else:
                run.act(resource_id, "touch", "example", lambda r=resource_id: account.calls.update([r]))  # type: ignore[misc]
        return {}

    driven = drive(Entrypoint(SPEC, run_fn), clock, lambda: context(margin_ms() + 10_000, 1_000))
    assert len(driven.results) >= 3 and driven.results[-1]["status"] == "partial"
    (alert,) = alerts.messages()
    body = message_body(alert["Message"])
    assert body["counts"] == {"planned": 30, "succeeded": 29, "failed": 1, "skipped": 0}


def test_mode_switched_off_mid_run_stops_the_continuation(state_table: str, clock: Clock) -> None:
    from automations.core.mode_override import set_mode_override

    account = Account(first=30, second=0)
    handler = account.handler()
    first = handler.invoke({}, context(margin_ms() + 10_000, 1_000), clients=RecordingClients(), clock=clock)
    assert first["status"] == "continued"
    set_mode_override(boto3.client("dynamodb"), state_table, SPEC.name, "off", by="oncall", reason="incident")
    acted = len(account.calls)
    second = handler.invoke({"caretaker": {"continue_run": first["run_id"]}}, LambdaContext(),
                            clients=RecordingClients(), clock=clock)
    assert second["status"] == "off"
    assert len(account.calls) == acted


def test_only_functions_that_continue_get_the_setting_and_invoke_on_their_own_arn() -> None:
    from automations.core import registry

    for spec in registry.discover():
        invoke = [p for p in spec.all_permissions if "lambda:InvokeFunction" in p.actions]
        names = {s.name for s in spec.all_settings}
        if spec.continues:
            assert [(p.actions, p.resources) for p in invoke] == [(("lambda:InvokeFunction",), ("${FunctionArn}",))]
            assert "continuation_margin_seconds" in names
        else:
            assert invoke == [] and "continuation_margin_seconds" not in names
    continuing = {s.name for s in registry.discover() if s.continues}
    assert {"ebs-snapshots", "cleanup-ebs-volumes", "cleanup-ebs-snapshots", "cleanup-amis", "cleanup-elastic-ips",
            "cleanup-security-groups", "cleanup-log-retention", "cleanup-stopped-instances",
            "access-key-rotation"} <= continuing


def test_template_roles_invoke_only_their_own_function() -> None:
    from automations.core import registry
    from automations.core.spec import pascal
    from templates.stacks import render_all

    stacks = render_all("caretaker-code-000000000000.zip", "caretaker-deps-000000000000.zip",
                        "caretaker-bytecode-000000000000.zip")
    for stack in stacks:
        data = stack.template.to_dict()
        for function in stack.functions:
            spec = function.spec
            role = data["Resources"][f"{pascal(spec.name)}Role"]
            statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            invoke = [s for s in statements if any(a.startswith("lambda:Invoke") for a in s["Action"])]
            if not spec.continues:
                assert invoke == [], spec.name
                continue
            (statement,) = invoke
            assert statement["Action"] == ["lambda:InvokeFunction"]
            (resource,) = statement["Resource"]
            text, variables = resource["Fn::Sub"]
            assert text == "${FunctionArn}"
            assert variables["FunctionArn"]["Fn::Join"][1][-1] == spec.function_name
    assert any(s.continues for s in registry.discover())



def surveying(account: Account, clock: Clock, surveys: list[float], per_item_s: float = 1) -> Entrypoint:
    """A handler whose survey (before its first item) takes `surveys[n - 1]` seconds of its n-th invocation
    (the last value after that) and each item `per_item_s`, on the clock its context's deadline follows."""

    def run_fn(run: Run, event: Mapping[str, Any]) -> Mapping[str, Any] | None:
        clock.advance(seconds=surveys[min(run.invocation, len(surveys)) - 1])
        for resource_id in run.items("first", account.first, key=str):
            clock.advance(seconds=per_item_s)
            run.act(resource_id, "touch", "example", lambda r=resource_id: account.calls.update([r]))  # type: ignore[misc]
        return {}

    return Entrypoint(SPEC, run_fn)


def timed(clock: Clock, timeout_s: float = 300) -> Callable[[], LambdaContext]:
    """Contexts of a `timeout_s` function whose time left follows the test clock."""
    return lambda: ClockedContext(clock, timeout_s, invoked_function_arn=ARN + ":live")


def surveys_logged(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [r.__dict__["survey_ms"] for r in caplog.records if r.getMessage() == "survey done: first item reached"]


def test_a_survey_that_leaves_less_than_the_margin_checkpoints_before_acting_and_the_next_invocation_acts(
        state_table: str, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    account = Account(first=30, second=0)
    caplog.set_level(logging.INFO)
    # a 300 s function, margin 120 s: a 200 s survey leaves 100 s, a 10 s one leaves 290 s (enough for 30 items)
    driven = drive(surveying(account, clock, [200, 10]), clock, timed(clock))
    run_id = driven.run_id

    first, last = driven.results
    assert (first["status"], last["status"]) == ("continued", "ok")
    assert first["counts"] == {"planned": 0, "succeeded": 0, "failed": 0, "skipped": 0}  # nothing acted on first
    assert (first["phase"], first["remaining"], first["no_progress"], first["survey_ms"]) == ("first", 30, 1, 200_000)
    assert driven.invokes.payloads() == [{"caretaker": {"continue_run": run_id}}]
    assert set(account.calls) == set(account.first) and set(account.calls.values()) == {1}
    per_resource = Counter((i["resource_id"], i["outcome"]) for i in actions(state_table, run_id))
    assert per_resource == Counter({(r, o): 1 for r in account.first for o in ("planned", "succeeded")})

    final = summary(state_table, run_id)
    assert (final["status"], final["invocations"], final["succeeded"]) == ("ok", 2, 30)
    # the checkpoint the first invocation wrote says it made no progress and what its survey took
    assert (final["checkpoint"]["no_progress"], final["checkpoint"]["survey_ms"]) == (1, 200_000)
    assert surveys_logged(caplog) == [200_000, 10_000]


def test_a_survey_that_never_fits_fails_the_run_after_two_invocations_without_progress(
        state_table: str, clock: Clock, alerts: Alerts) -> None:
    account = Account(first=30, second=0)
    driven = drive(surveying(account, clock, [200]), clock, timed(clock))
    run_id = driven.run_id

    assert [r["status"] for r in driven.results] == ["continued"] * (MAX_NO_PROGRESS - 1) + ["failed"]
    assert len(driven.invokes.calls) == MAX_NO_PROGRESS - 1  # the failed invocation invokes nothing
    assert account.calls == Counter() and actions(state_table, run_id) == []

    final = summary(state_table, run_id)
    assert final["status"] == "failed" and final["invocations"] == MAX_NO_PROGRESS
    assert (final["no_progress"], final["survey_ms"]) == (MAX_NO_PROGRESS, 200_000)
    assert "survey before the first item takes longer than the time left above the margin" in final["error"]
    assert "took 200.0 s and left 100.0 s, under continuation_margin_seconds (120 s)" in final["error"]
    assert final["error"].endswith("raise the function timeout or lower continuation_margin_seconds")
    assert driven.results[-1]["error"] == final["error"]

    (alert,) = alerts.messages()
    assert alert["Subject"] == f"Caretaker {SPEC.name}: run failed"
    assert message_body(alert["Message"])["error"] == final["error"]

    # a late duplicate of the last continuation event finds the run finished
    late = surveying(account, clock, [0]).invoke(driven.invokes.payloads()[-1], LambdaContext(),
                                                 clients=RecordingClients(), clock=clock)
    assert late["status"] == "ignored" and account.calls == Counter()


def test_only_invocations_without_progress_in_a_row_count(state_table: str, clock: Clock) -> None:
    account = Account(first=8, second=0)
    # odd invocations: a 200 s survey (nothing acted); even ones: 10 s, then 4 items of 50 s before the margin
    driven = drive(surveying(account, clock, [200, 10, 200, 10], per_item_s=50), clock, timed(clock))

    assert [r["status"] for r in driven.results] == ["continued"] * 3 + ["ok"]
    assert [r["no_progress"] for r in driven.results[:3]] == [1, 0, 1]
    assert [r["counts"]["succeeded"] for r in driven.results] == [0, 4, 4, 8]  # run-wide totals
    assert set(account.calls) == set(account.first) and set(account.calls.values()) == {1}
    assert summary(state_table, driven.run_id)["status"] == "ok"
