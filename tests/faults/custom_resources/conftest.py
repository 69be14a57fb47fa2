"""The custom resource fixtures (HTTPS responder for CloudFormation's replies, moto, state table) for the
fault tests; they replace the scheduled handlers' `aws` and `clock` of the parent conftest."""

from tests.custom_resources.conftest import (  # noqa: F401 - fixtures
    aws,
    certificate,
    cfn,
    clock,
    hooks,
    responder,
    session_hooks,
    shared_session,
)
