"""`deploy_stack` against a scripted CloudFormation client: paths moto cannot show (rollbacks, waits)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from builder import deploy as deploy_module
from builder.deploy import deploy_stack
from builder.errors import DeployError


class ScriptedCloudFormation:
    """Returns the given stack statuses in turn; events newest first, as CloudFormation does."""

    def __init__(self, statuses: list[str | None], events: list[dict[str, Any]],
                 change_set: dict[str, str] | None = None) -> None:
        self.statuses = statuses
        self.events = events
        self.change_set = change_set or {"Status": "CREATE_COMPLETE"}
        self.calls: list[str] = []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        self.calls.append("describe_stacks")
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if status is None:
            raise ClientError({"Error": {"Code": "ValidationError",
                                         "Message": f"Stack with id {StackName} does not exist"}}, "DescribeStacks")
        return {"Stacks": [{"StackStatus": status}]}

    def create_change_set(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(f"create_change_set:{kwargs['ChangeSetType']}")
        return {"Id": "cs-1"}

    def describe_change_set(self, **kwargs: Any) -> dict[str, str]:
        return self.change_set

    def delete_change_set(self, **kwargs: Any) -> None:
        self.calls.append("delete_change_set")

    def execute_change_set(self, **kwargs: Any) -> None:
        self.calls.append("execute_change_set")

    def describe_stack_events(self, StackName: str) -> dict[str, Any]:
        return {"StackEvents": self.events[-1:]}  # before execution: only the oldest event existed

    def get_paginator(self, name: str) -> Any:
        events = self.events

        class Paginator:
            def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
                yield {"StackEvents": events}

        return Paginator()


def event(event_id: str, status: str, logical: str = "Stack", reason: str = "") -> dict[str, Any]:
    return {"EventId": event_id, "ResourceStatus": status, "LogicalResourceId": logical,
            "ResourceType": "AWS::Lambda::Function", "ResourceStatusReason": reason}


def test_a_rolled_back_update_reports_the_failed_resources() -> None:
    events = [
        event("4", "UPDATE_ROLLBACK_COMPLETE"),
        event("3", "UPDATE_FAILED", "Fn", "Resource handler returned message: bad layer"),
        event("2", "UPDATE_IN_PROGRESS"),
        event("1", "CREATE_FAILED", "Old", "an older failure, not this deploy's"),
    ]
    cfn = ScriptedCloudFormation(["UPDATE_COMPLETE", "UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"], events)
    log: list[str] = []
    with pytest.raises(DeployError, match=r"s ended UPDATE_ROLLBACK_COMPLETE: Fn .* bad layer"):
        deploy_stack(cfn, "s", {"TemplateBody": "{}"}, {}, log.append, lambda _: None)
    assert "create_change_set:UPDATE" in cfn.calls
    assert "  Fn (AWS::Lambda::Function): Resource handler returned message: bad layer" in log
    assert not any("older failure" in line for line in log)


def test_an_absent_stack_is_created() -> None:
    cfn = ScriptedCloudFormation([None, "CREATE_IN_PROGRESS", "CREATE_COMPLETE"], [event("1", "X")])
    assert deploy_stack(cfn, "s", {"TemplateBody": "{}"}, {}, lambda _: None, lambda _: None) == "created"
    assert "create_change_set:CREATE" in cfn.calls


def test_an_empty_change_set_is_skipped_and_deleted() -> None:
    cfn = ScriptedCloudFormation(["UPDATE_COMPLETE"], [], change_set={
        "Status": "FAILED", "StatusReason": "The submitted information didn't contain changes."})
    log: list[str] = []
    assert deploy_stack(cfn, "s", {"TemplateBody": "{}"}, {}, log.append, lambda _: None) == "unchanged"
    assert "execute_change_set" not in cfn.calls and "delete_change_set" in cfn.calls
    assert log == ["s: no changes"]


def test_a_stack_in_rollback_complete_must_be_deleted_first() -> None:
    cfn = ScriptedCloudFormation(["ROLLBACK_COMPLETE"], [])
    with pytest.raises(DeployError, match="delete it first"):
        deploy_stack(cfn, "s", {"TemplateBody": "{}"}, {}, lambda _: None, lambda _: None)


def test_waiting_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploy_module, "STACK_TIMEOUT_SECONDS", 0)
    cfn = ScriptedCloudFormation(["UPDATE_COMPLETE", "UPDATE_IN_PROGRESS"], [event("1", "X")])
    with pytest.raises(DeployError, match="timed out"):
        deploy_stack(cfn, "s", {"TemplateBody": "{}"}, {}, lambda _: None, lambda _: None)
