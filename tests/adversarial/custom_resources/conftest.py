"""Attacks on the custom resource providers: the fixtures of tests/custom_resources (moto, responder, cfn)."""

from tests.custom_resources.conftest import (
    aws,
    certificate,
    cfn,
    clock,
    hooks,
    logs,
    responder,
    session_hooks,
    shared_session,
)

__all__ = ["aws", "certificate", "cfn", "clock", "hooks", "logs", "responder", "session_hooks", "shared_session"]
