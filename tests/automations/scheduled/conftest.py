"""Fixtures of the scheduled-handler tests: a clock that also drives moto's RDS and DynamoDB creation times,
and the access-key-rotation fixtures (a clock for moto's IAM keys, a fresh opted-in user)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.automations.conftest import Clock
from tests.automations.scheduled.access_key_harness import OPT_IN, forget_shared_clients, new_key, user


@pytest.fixture
def backup_clock(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """The test clock, also driving the creation times moto gives RDS snapshots and DynamoDB backups."""
    import moto.dynamodb.models.table as ddb_table
    import moto.rds.models as rds_models

    naive = lambda: clock.now.astimezone(UTC).replace(tzinfo=None)  # noqa: E731
    monkeypatch.setattr(rds_models, "utcnow", naive)
    monkeypatch.setattr(ddb_table, "utcnow", naive)
    yield clock


@pytest.fixture
def iam_clock(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The test clock, also stamping moto's IAM keys (CreateDate, last used) so keys age with it."""
    import moto.iam.models as iam_model

    monkeypatch.setattr(iam_model, "utcnow", lambda: clock.now.astimezone(UTC).replace(tzinfo=None))
    clock.now = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
    return clock


@pytest.fixture
def _fresh_shared_clients() -> Iterator[None]:
    """The access-key tests' shared clients start empty in every test (their modules use it with `pytestmark`)."""
    forget_shared_clients()
    yield
    forget_shared_clients()


@pytest.fixture
def alice(iam_clock: Clock) -> Iterator[tuple[str, str]]:
    """An opted-in user with one key, created now."""
    name = user("alice", OPT_IN)
    yield name, new_key(name)
