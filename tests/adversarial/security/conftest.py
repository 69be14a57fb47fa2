"""Attacks on the security rules: the fixtures of tests/automations (moto, state table, alerts, clock, harness)."""

from tests.automations.conftest import alerts, aws, clock, lambda_context, state_table
from tests.automations.security.conftest import ec2, group, harness

__all__ = ["alerts", "aws", "clock", "ec2", "group", "harness", "lambda_context", "state_table"]
