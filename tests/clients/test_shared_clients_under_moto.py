"""The execution environment's shared clients under moto, outside the per-test moto fixture of tests/automations.

moto 5 intercepts botocore through a `before-send` handler it adds to every client's built-in handlers
(whenever the client was built) and resets its backends when a mock starts: so a shared client reused
across two mocks reaches the current mock's (empty) state. The suite still resets the shared clients
before each test (tests/conftest.py), as a new execution environment would.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from automations.core.aws import Clients, shared_clients
from tests.automations.conftest import REGION, fake_aws_environment


@pytest.fixture(autouse=True)
def fake_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # the credentials moto's mock sets, so that the AWS environment is the same inside and outside it
    fake_aws_environment(monkeypatch, "FOOBARKEY", "FOOBARSECRET", session_token=None)
    yield


def volume_ids(clients: Clients) -> set[str]:
    return {v["VolumeId"] for v in clients("ec2").describe_volumes()["Volumes"]}


def test_a_shared_client_sees_only_the_current_mocks_state() -> None:
    with mock_aws():
        first = Clients()
        made = first("ec2").create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
        assert volume_ids(first) == {made}
    with mock_aws():
        second = Clients()
        assert second("ec2") is first("ec2")  # the same client, reused
        assert volume_ids(second) == set()  # but not the earlier mock's volume


def test_a_shared_client_built_before_the_mock_started_reaches_moto() -> None:
    ec2 = Clients()("ec2")  # built with no mock active; no call made
    with mock_aws():
        made = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
        assert volume_ids(Clients()) == {made}
        assert Clients()("ec2") is ec2
    assert len(shared_clients()) == 1
