"""Exceptions raised by Caretaker's runtime. Every one derives from `CaretakerError`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any


class CaretakerError(Exception):
    """Base class for every error Caretaker raises on purpose."""


class SettingError(CaretakerError):
    """A setting's value is not valid. The message names the variable, the value and what is allowed."""

    def __init__(self, env_name: str, value: str, allowed: str) -> None:
        self.env_name = env_name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{env_name} must be {allowed}, got {value!r}")


class SettingsError(CaretakerError):
    """One or more settings are invalid (all of them are listed)."""

    def __init__(self, errors: list[SettingError]) -> None:
        self.errors = errors
        super().__init__("invalid settings: " + "; ".join(str(e) for e in errors))


class StateLogError(CaretakerError):
    """The state log cannot be read or written. Nothing is changed in AWS when this is raised."""


class VersionConflict(CaretakerError):
    """A versioned state-table record was changed by another writer since it was read; nothing was written.

    Not a `StateLogError`: the table works, this writer lost a race (see `TableStore.put_versioned`)."""


class EventError(CaretakerError):
    """The triggering event is not of the shape the handler needs."""


def _aws_error(exc: BaseException) -> Mapping[str, Any] | None:
    """The `Error` of a botocore `ClientError`'s response (or of anything shaped like one); None otherwise."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, Mapping) else None
    return error if isinstance(error, Mapping) else None


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore `ClientError` (`"NoSuchEntity"`, ...); "" for anything else."""
    error = _aws_error(exc)
    return str(error.get("Code", "")) if error is not None else ""


def error_message(exc: BaseException) -> str:
    """The AWS error message of a botocore `ClientError`; "" for anything else."""
    error = _aws_error(exc)
    return str(error.get("Message", "")) if error is not None else ""


def describe_error(exc: BaseException) -> str:
    """`Code: message` for AWS errors, `Type: message` otherwise (what a `failed` record's reason says)."""
    error = _aws_error(exc)
    if error is not None:
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def tolerate_gone(call: Callable[[], Any], gone: Iterable[str]) -> dict[str, Any]:
    """Run a delete; an AWS error whose code is in `gone` ("already gone") counts as done, the state that was
    wanted: returns `{"already_gone": True}` then, else `{}`."""
    try:
        call()
    except Exception as exc:
        if error_code(exc) in set(gone):
            return {"already_gone": True}
        raise
    return {}


def delete_or_gone(call: Callable[[], Any], gone: Iterable[str]) -> dict[str, Any]:
    """`tolerate_gone` for a delete whose outcome records say which it was: `{"deleted": True}`, or
    `{"already_gone": True}` when AWS answered with a code in `gone`."""
    return tolerate_gone(call, gone) or {"deleted": True}
