"""`--accounts`: SELF_MANAGED stack sets for organizations without trusted access, on the same members."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudformation.models import CloudFormationBackend

from automations.cli.moto_compat import moto_fixes
from builder.cli import main
from templates import names
from templates.member import ACCOUNT_STACK_SET, BASE_STACK_SET
from tests.moto_organization import HOME, make_organization
from tests.organizations.conftest import member_session


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto, with its SELF_MANAGED member stacks named as AWS names them (`StackSet-<name>-...`): moto's
    `StackSet:<name>` holds a colon, which the names it generates for unnamed queues and roles then refuse."""
    original = CloudFormationBackend.create_stack

    def create_stack(self: CloudFormationBackend, name: str, *args: Any, **kwargs: Any) -> Any:
        return original(self, name.replace("StackSet:", "StackSet-", 1), *args, **kwargs)

    monkeypatch.setattr(CloudFormationBackend, "create_stack", create_stack)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": HOME}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws(), moto_fixes():
        yield


def test_accounts_deploy_self_managed_stack_sets_into_exactly_those_accounts(aws: None, built_dist: Path) -> None:
    _, _, members = make_organization(accounts=2)
    chosen, left_out = members
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = main(["--out", str(built_dist), "deploy", "--organization", "--accounts", chosen,
                       "--regions", HOME, "--bucket", "caretaker-self-managed", "--create-bucket"])
    assert status == 0, err.getvalue()
    cfn = boto3.client("cloudformation", region_name=HOME)
    for name in (BASE_STACK_SET, ACCOUNT_STACK_SET):
        assert cfn.describe_stack_set(StackSetName=name)["StackSet"]["PermissionModel"] == "SELF_MANAGED"
        assert [i["Account"] for i in cfn.list_stack_instances(StackSetName=name)["Summaries"]] == [chosen]
        assert f"{chosen} {HOME} {name}: SUCCEEDED" in out.getvalue()
    assert member_session(chosen).client("dynamodb").list_tables()["TableNames"] == [names.MEMBER_STATE_TABLE]
    assert member_session(left_out).client("dynamodb").list_tables()["TableNames"] == []
