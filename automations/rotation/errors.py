"""Exceptions of the rotation functions. A raised error fails the invocation, which is how a rotation
function tells Secrets Manager that a step did not complete (it then retries the rotation)."""

from __future__ import annotations

from automations.core.errors import CaretakerError, EventError


class RotationError(CaretakerError):
    """A rotation step could not be completed."""


class RotationRefused(RotationError):
    """The secret or the request is not in a state this function rotates; nothing was changed."""


class RotationTestFailed(RotationError):
    """testSecret found the pending value unusable; AWSCURRENT was not touched."""


class RotationEventError(EventError, RotationError):
    """The invocation is not a Secrets Manager rotation request (a field is missing or invalid)."""
