"""Fixtures of the scheduled-handler tests: a clock that also drives moto's RDS and DynamoDB creation times."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC

import pytest

from tests.automations.conftest import Clock


@pytest.fixture
def backup_clock(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """The test clock, also driving the creation times moto gives RDS snapshots and DynamoDB backups."""
    import moto.dynamodb.models.table as ddb_table
    import moto.rds.models as rds_models

    naive = lambda: clock.now.astimezone(UTC).replace(tzinfo=None)  # noqa: E731
    monkeypatch.setattr(rds_models, "utcnow", naive)
    monkeypatch.setattr(ddb_table, "utcnow", naive)
    yield clock
