"""Attacks on the security rules: the fixtures of tests/automations (moto, state table, alerts, clock, harness)."""

from tests.automations.conftest import alerts, aws, clock, lambda_context, state_table
from tests.automations.security.conftest import harness

__all__ = ["alerts", "aws", "clock", "harness", "lambda_context", "state_table"]
