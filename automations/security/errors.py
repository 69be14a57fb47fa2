"""Exceptions of the security rules. Both are expected conditions: the event is skipped, not failed."""

from __future__ import annotations

from automations.core.errors import CaretakerError


class SecurityRuleError(CaretakerError):
    """Base class of the conditions a security rule reports instead of acting."""


class BadEventError(SecurityRuleError):
    """The event lacks what the rule needs (missing requestParameters, unexpected shape)."""


class ResourceGoneError(SecurityRuleError):
    """The resource the event names no longer exists: there is nothing left to remediate."""

    def __init__(self, resource_id: str, message: str) -> None:
        self.resource_id = resource_id
        super().__init__(message)
