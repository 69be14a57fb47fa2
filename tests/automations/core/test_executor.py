"""The one executor (automations/core/executor.py) and the follow-up steps on it (automations/core/steps.py)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from automations.core.errors import StateLogError
from automations.core.executor import CHUNK, RESERVE_MS, Act, ActionPool, Budget, Executor, run_batched
from automations.core.ledger import run_items
from automations.core.spec import CONTINUATION_MARGIN
from automations.core.state_log import StateLog
from automations.core.steps import Next, Step, StepRunner


@dataclass
class Host:
    """What a `Run` offers the executor's pools and the steps."""

    executor: Executor
    notes: list[str] = field(default_factory=list)


@dataclass
class Events:
    """The order of planned-record writes and AWS calls."""

    seen: list[tuple[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, what: Any) -> None:
        with self.lock:
            self.seen.append((kind, what))


def make_state(table: str, events: Events | None = None) -> StateLog:
    client = boto3.client("dynamodb")
    if events is not None:
        def planned(params: dict[str, Any], **_: Any) -> None:
            for requests in params.get("RequestItems", {}).values():
                ids = [r["PutRequest"]["Item"]["resource_id"]["S"] for r in requests
                       if r["PutRequest"]["Item"]["outcome"]["S"] == "planned"]
                if ids:
                    events.add("plan", ids)
        client.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", planned)
    return StateLog(table, client, automation="demo", run_id="run-1", ttl_days=30)


def host(state: StateLog, *, dry_run: bool = False, budget: Budget | None = None) -> Host:
    return Host(Executor(state, dry_run=dry_run, budget=budget))


def outcomes(table: str) -> dict[tuple[str, str], str]:
    """(resource id, outcome) -> reason, of every record of the run."""
    return {(i["resource_id"], i["outcome"]): i["reason"] for i in run_items(boto3.client("dynamodb"), table, "run-1")}


def denied(*_: Any) -> Any:
    raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DeleteVolume")


def test_write_ahead_is_refused_when_the_log_cannot_be_written_and_nothing_is_called() -> None:
    calls: list[str] = []
    executor = Executor(make_state("no-such-table"), dry_run=False)
    with pytest.raises(StateLogError):
        executor.act([("vol-1", "idle", None)], "delete-volume", lambda: calls.append("vol-1"))
    with pytest.raises(StateLogError), ActionPool(Host(executor), "delete-volume", 4) as pool:
        pool.act([Act.one(f"vol-{n}", "idle", partial(calls.append, f"vol-{n}")) for n in range(3)])
    assert calls == []


def test_the_planned_record_is_written_before_the_call_and_the_outcome_after(state_table: str) -> None:
    state = make_state(state_table)
    seen: list[set[tuple[str, str]]] = []

    def delete() -> str:
        seen.append(set(outcomes(state_table)))
        return "done"

    outcome = Executor(state, dry_run=False).act(
        [("vol-1", "idle", None)], "delete-volume", delete,
        outcome_details=lambda result: {"vol-1": {"result": result}})
    state.flush()
    assert seen == [{("vol-1", "planned")}]
    assert outcome.ok and outcome.result == "done" and outcome.details == {"vol-1": {"result": "done"}}
    assert set(outcomes(state_table)) == {("vol-1", "planned"), ("vol-1", "succeeded")}


def test_one_failing_act_does_not_stop_the_others(state_table: str) -> None:
    state = make_state(state_table)
    with ActionPool(host(state), "delete-volume", 4) as pool:
        pool.act([Act.one(f"vol-{n}", "idle", denied if n == 2 else partial(str, f"deleted {n}"))
                  for n in range(6)])
    state.flush()
    recorded = outcomes(state_table)
    assert recorded[("vol-2", "failed")] == "AccessDenied: no"
    assert {r for r, o in recorded if o == "succeeded"} == {f"vol-{n}" for n in range(6)} - {"vol-2"}
    assert sorted(pool.results) == [f"deleted {n}" for n in range(6) if n != 2]


def test_the_pool_never_runs_more_calls_than_its_bound(state_table: str) -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def call() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    state = make_state(state_table)
    with ActionPool(host(state), "delete-volume", 3) as pool:
        for start in range(0, 30, CHUNK):
            pool.act([Act.one(f"vol-{n}", "idle", call) for n in range(start, min(start + CHUNK, 30))])
    assert 1 < most <= 3


def test_the_budget_stops_starting_new_acts_before_the_deadline(state_table: str) -> None:
    left = [RESERVE_MS + 5_000]
    state = make_state(state_table)
    calls: list[str] = []
    with ActionPool(host(state), "delete-volume", 2, budget=Budget(lambda: left[0])) as pool:
        assert pool.act([Act.one("vol-1", "idle", lambda: calls.append("vol-1"))]) == []
        left[0] = RESERVE_MS - 1
        late = [Act.one("vol-2", "idle", lambda: calls.append("vol-2"))]
        assert pool.act(late) == late
    state.flush()
    assert calls == ["vol-1"]
    assert "vol-2" not in {r for r, _ in outcomes(state_table)}  # not even planned


def test_steps_left_when_the_budget_runs_out_are_deferred_and_noted(state_table: str) -> None:
    state = make_state(state_table)
    runner = host(state, budget=Budget(lambda: RESERVE_MS - 1))
    results = StepRunner(runner, 4).execute([Step(f"vol-{n}", f"vol-{n}", "delete-volume", "idle", lambda: None)
                                             for n in range(3)])
    assert {r.state for r in results.values()} == {"deferred"}
    assert runner.notes == ["time budget reached: 3 actions left for the next run"]
    assert outcomes(state_table) == {}


def test_planned_records_are_written_in_chunks_each_before_its_calls(state_table: str) -> None:
    events = Events()
    state = make_state(state_table, events)

    def delete(resource_id: str) -> None:
        events.add("call", resource_id)

    steps = [Step(f"vol-{n:02}", f"vol-{n:02}", "delete-volume", "idle", partial(delete, f"vol-{n:02}"))
             for n in range(60)]
    results = StepRunner(host(state), 4).execute(steps)
    assert {r.state for r in results.values()} == {"done"}
    plans = [ids for kind, ids in events.seen if kind == "plan"]
    assert [len(ids) for ids in plans] == [25, 25, 10]  # one BatchWriteItem per CHUNK
    planned: set[str] = set()
    for kind, what in events.seen:
        if kind == "plan":
            planned.update(what)
        else:
            assert what in planned, f"{what} called before its planned record was written"


def test_follow_up_steps_run_in_a_next_wave_and_settle_their_subject(state_table: str) -> None:
    state = make_state(state_table)
    order: list[str] = []
    snapshot = Step("ami-1", "snap-1", "delete-snapshot", "of the AMI", lambda: order.append("snap-1"))
    image = Step("ami-1", "ami-1", "deregister-image", "unused", lambda: order.append("ami-1"),
                 then=lambda _result: Next((snapshot,)))
    failing = Step("ami-2", "ami-2", "deregister-image", "unused", denied)
    results = StepRunner(host(state), 2).execute([image, failing])
    assert order == ["ami-1", "snap-1"]
    assert results["ami-1"].state == "done"
    assert (results["ami-2"].state, results["ami-2"].reason) == ("failed", "AccessDenied: no")


def test_dry_run_plans_everything_and_calls_nothing(state_table: str) -> None:
    state = make_state(state_table)
    calls: list[str] = []
    dry = host(state, dry_run=True)
    follow = Step("ami-1", "snap-1", "delete-snapshot", "of the AMI", lambda: calls.append("snap-1"))
    results = StepRunner(dry, 2).execute([Step("ami-1", "ami-1", "deregister-image", "unused",
                                               lambda: calls.append("ami-1"), then=lambda _r: Next((follow,)))])
    tagged = run_batched(dry, ["vol-1", "vol-2"], "tag", lambda _i: "announce", lambda ids: calls.append("tag"),
                         batch=1000, max_concurrency=2)
    assert calls == [] and results["ami-1"].state == "planned" and tagged == {"vol-1": "planned", "vol-2": "planned"}
    assert set(outcomes(state_table)) == {("ami-1", "planned"), ("snap-1", "planned"), ("vol-1", "planned"),
                                          ("vol-2", "planned")}


def test_a_failed_batch_is_retried_one_resource_at_a_time(state_table: str) -> None:
    state = make_state(state_table)
    batches: list[list[str]] = []

    def tag(ids: list[str]) -> None:
        batches.append(ids)
        if "vol-2" in ids:
            denied()

    result = run_batched(host(state), ["vol-1", "vol-2", "vol-3"], "tag", lambda _i: "announce", tag,
                         batch=1000, max_concurrency=2)
    state.flush()
    assert batches == [["vol-1", "vol-2", "vol-3"], ["vol-1"], ["vol-2"], ["vol-3"]]
    assert result == {"vol-1": "succeeded", "vol-2": "failed: AccessDenied: no", "vol-3": "succeeded"}
    assert outcomes(state_table)[("vol-2", "failed")] == "AccessDenied: no"


def test_the_reserve_lies_under_the_default_continuation_margin() -> None:
    """A continuing run with the default margin checkpoints between batches before the reserve stops acts."""
    assert int(CONTINUATION_MARGIN.default) * 1000 > RESERVE_MS
