"""The undeclared-call guard (tests/declared_calls.py) can fail: a scheduled function's undeclared call is caught,
whichever clients it ran on, with the registry's declaration, and a DynamoDB call beside the state table too."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from automations.core.runtime import Entrypoint, Run
from automations.core.spec import Permission
from automations.scheduled import ebs_snapshots
from tests.automations.conftest import LambdaContext, create_state_table, scheduled_event
from tests.declared_calls import Guard, iam_action
from tests.recording import RecordingClients


def describing_vpcs(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
    run.clients("ec2").describe_vpcs()
    return {}


@pytest.mark.undeclared_calls
@pytest.mark.parametrize("clients", [RecordingClients, None], ids=["injected", "shared"])
def test_an_undeclared_call_of_ebs_snapshots_is_caught(
        state_table: str, lambda_context: LambdaContext, declared_calls: Guard, clients: Any) -> None:
    Entrypoint(ebs_snapshots.SPEC, describing_vpcs).invoke(
        scheduled_event(), lambda_context, clients=clients() if clients else None)

    assert declared_calls.undeclared() == {"ebs-snapshots": {"ec2:DescribeVpcs"}}
    with pytest.raises(AssertionError, match="ec2:DescribeVpcs"):
        declared_calls.check()


@pytest.mark.undeclared_calls
def test_the_registry_declaration_is_checked_not_the_handlers_own_copy(
        state_table: str, lambda_context: LambdaContext, declared_calls: Guard) -> None:
    widened = dataclasses.replace(ebs_snapshots.SPEC, permissions=(
        *ebs_snapshots.SPEC.permissions, Permission(("ec2:DescribeVpcs",))))
    Entrypoint(widened, describing_vpcs).invoke(scheduled_event(), lambda_context, clients=RecordingClients())

    assert declared_calls.undeclared() == {"ebs-snapshots": {"ec2:DescribeVpcs"}}


@pytest.mark.undeclared_calls
def test_the_baseline_covers_the_state_table_only(
        state_table: str, lambda_context: LambdaContext, declared_calls: Guard) -> None:
    other = create_state_table("someone-elses-table")

    def reading_another_table(run: Run, event: Mapping[str, Any]) -> dict[str, Any]:
        run.clients("dynamodb").get_item(TableName=other, Key={"pk": {"S": "x"}, "sk": {"S": "y"}})
        return {}

    Entrypoint(ebs_snapshots.SPEC, reading_another_table).invoke(scheduled_event(), lambda_context)

    assert declared_calls.undeclared() == {"ebs-snapshots": {"dynamodb:GetItem"}}


def test_a_real_ebs_snapshots_run_is_watched_and_declares_every_call(
        state_table: str, lambda_context: LambdaContext, declared_calls: Guard) -> None:
    clients = RecordingClients()
    ebs_snapshots.handler.invoke(scheduled_event(), lambda_context, clients=clients)

    [invocation] = declared_calls.invocations
    assert invocation.spec is ebs_snapshots.SPEC and invocation.state_table == state_table
    assert {(s, o) for s, o, _ in invocation.calls} == {(s, o) for s, o, _ in clients.calls}
    assert ("ec2", "DescribeVolumes") in {(s, o) for s, o, _ in invocation.calls}
    assert declared_calls.undeclared() == {}


@pytest.mark.parametrize(("service", "operation", "action"), [
    ("ec2", "DescribeVolumes", "ec2:DescribeVolumes"),
    ("efs", "DescribeFileSystems", "elasticfilesystem:DescribeFileSystems"),
    ("s3control", "PutPublicAccessBlock", "s3:PutAccountPublicAccessBlock"),
    ("s3", "ListObjectVersions", "s3:ListBucketVersions"),
    ("lambda", "Invoke", "lambda:InvokeFunction"),
])
def test_api_calls_map_to_the_iam_actions_that_authorise_them(service: str, operation: str, action: str) -> None:
    assert iam_action(service, operation) == action
