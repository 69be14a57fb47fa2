"""Exceptions of the security rules. Both are expected conditions: the event is skipped, not failed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError

from automations.core.errors import CaretakerError, error_code


class SecurityRuleError(CaretakerError):
    """Base class of the conditions a security rule reports instead of acting."""


class BadEventError(SecurityRuleError):
    """The event lacks what the rule needs (missing requestParameters, unexpected shape)."""


class ResourceGoneError(SecurityRuleError):
    """The resource the event names no longer exists: there is nothing left to remediate."""

    def __init__(self, resource_id: str, message: str) -> None:
        self.resource_id = resource_id
        super().__init__(message)


#: IAM's error code for a user, role, group or policy (or policy version) that does not exist.
NO_SUCH_ENTITY = "NoSuchEntity"


@contextmanager
def gone_when_missing(resource_id: str, what: str, codes: tuple[str, ...] = (NO_SUCH_ENTITY,)) -> Iterator[None]:
    """Turn AWS's "does not exist" (`codes`) inside the block into `ResourceGoneError(resource_id, "<what> no longer
    exists")`: the resource the event names is gone, so there is nothing left to remediate. Other errors pass."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in codes:
            raise ResourceGoneError(resource_id, f"{what} no longer exists") from None
        raise
