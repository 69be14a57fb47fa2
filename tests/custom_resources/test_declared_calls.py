"""The undeclared-call guard (tests/declared_calls.py) watches every provider invocation and can fail on one."""

from __future__ import annotations

from typing import Any

import pytest

from custom_resources import password_policy
from tests.custom_resources.conftest import Cfn
from tests.declared_calls import Guard

POLICY = {"MinimumPasswordLength": "14"}


@pytest.mark.undeclared_calls
def test_an_undeclared_call_of_a_provider_is_caught(
        cfn: Cfn, declared_calls: Guard, monkeypatch: pytest.MonkeyPatch) -> None:
    resource: Any = password_policy.handler.resource  # an AccountSetting: it reads the policy before changing it
    read = resource.read

    def read_and_list_users(request: Any) -> Any:
        request.clients("iam").list_users()
        return read(request)

    monkeypatch.setattr(resource, "read", read_and_list_users)
    assert cfn.create(password_policy, POLICY)["Status"] == "SUCCESS"

    assert declared_calls.undeclared() == {"account-password-policy": {"iam:ListUsers"}}
    with pytest.raises(AssertionError, match="iam:ListUsers"):
        declared_calls.check()


def test_the_lambda_entry_point_of_a_provider_is_watched_on_the_shared_clients(
        cfn: Cfn, declared_calls: Guard) -> None:
    event = cfn.event(password_policy, "Create", POLICY)
    password_policy.handler(event, cfn.context(password_policy))  # no injected clients: the environment's own

    assert cfn.answer(event)["Status"] == "SUCCESS"
    [invocation] = declared_calls.invocations
    assert invocation.spec is password_policy.SPEC
    assert ("iam", "UpdateAccountPasswordPolicy") in {(s, o) for s, o, _ in invocation.calls}
    assert declared_calls.undeclared() == {}
