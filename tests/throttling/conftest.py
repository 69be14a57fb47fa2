"""Fixtures for the simulator's own tests: in-process moto with fake credentials, and a virtual clock."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from moto import mock_aws

from tests.throttling.simulator import VirtualClock, virtual_botocore_time

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key in [k for k in os.environ if k.startswith("CARETAKER_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        yield


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    """A virtual clock that also drives botocore's retry sleeps: no test here really waits."""
    virtual = VirtualClock()
    with virtual_botocore_time(virtual):
        yield virtual
