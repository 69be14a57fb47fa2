"""CLI tests that read a state table run on the in-process moto of tests/automations."""

from tests.automations.conftest import aws, lambda_context

__all__ = ["aws", "lambda_context"]
