"""Declared settings: a function's typed, validated settings (`Setting`), delivered as `CARETAKER_<NAME>`
from a template parameter, and the settings every function or every function of one kind has. Declaring does no
I/O; standard library only. Reading them from the environment is `automations.core.settings`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from automations.core.errors import SettingError

__all__ = [
    "API_RATE_SHARE", "CONTINUATION_MARGIN", "MAX_CONCURRENCY", "MODES", "Mode", "Setting", "SettingKind",
    "common_settings",
]

SettingKind = Literal["int", "float", "str", "bool", "list"]
Mode = Literal["enforce", "audit", "off"]
MODES: tuple[Mode, ...] = ("enforce", "audit", "off")

_SETTING_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}

@dataclass(frozen=True)
class Setting:
    """A typed, validated setting, delivered as `CARETAKER_<NAME>` from a template parameter."""

    name: str
    kind: SettingKind
    default: Any
    description: str
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    #: a regular expression a str value must match in full (also the parameter's AllowedPattern)
    pattern: str | None = None

    def __post_init__(self) -> None:
        if not _SETTING_RE.match(self.name):
            raise ValueError(f"setting names are snake_case, got {self.name!r}")
        # the default must itself be valid: fail at declaration, not in production
        self.parse(self.render(self.default))

    @property
    def env_name(self) -> str:
        return "CARETAKER_" + self.name.upper()

    def render(self, value: Any) -> str:
        """The string form of a value, as it travels in a parameter / env variable."""
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "list":
            return ",".join(str(v) for v in value)
        return str(value)

    def describe_allowed(self) -> str:
        if self.allowed is not None:
            return "one of " + ", ".join(repr(a) for a in self.allowed)
        if self.pattern is not None:
            return f"a string matching {self.pattern}"
        noun = {"int": "an integer", "float": "a number", "bool": "true or false",
                "list": "a comma-separated list", "str": "a string"}[self.kind]
        if self.minimum is not None and self.maximum is not None:
            return f"{noun} from {_num(self.minimum)} to {_num(self.maximum)}"
        if self.minimum is not None:
            return f"{noun} >= {_num(self.minimum)}"
        if self.maximum is not None:
            return f"{noun} <= {_num(self.maximum)}"
        return noun

    def parse(self, raw: str) -> Any:
        """Convert and validate; raise `SettingError` naming setting, value and what is allowed."""
        text = raw.strip()
        value: Any
        try:
            if self.kind == "int":
                if not re.fullmatch(r"[+-]?\d+", text):
                    raise ValueError
                value = int(text)
            elif self.kind == "float":
                value = float(text)
                if value != value:  # NaN
                    raise ValueError
            elif self.kind == "bool":
                if text.lower() not in _TRUE | _FALSE:
                    raise ValueError
                value = text.lower() in _TRUE
            elif self.kind == "list":
                value = tuple(part.strip() for part in text.split(",") if part.strip())
            else:
                value = text
        except ValueError:
            raise SettingError(self.env_name, raw, self.describe_allowed()) from None
        if self.pattern is not None:
            items = value if self.kind == "list" else (value,)
            if any(not re.fullmatch(self.pattern, str(item)) for item in items):
                raise SettingError(self.env_name, raw, self.describe_allowed())
        if self.allowed is not None:
            items = value if self.kind == "list" else (value,)
            if any(str(item) not in self.allowed for item in items):
                raise SettingError(self.env_name, raw, self.describe_allowed())
        if self.kind in ("int", "float") and (
            (self.minimum is not None and value < self.minimum)
            or (self.maximum is not None and value > self.maximum)
        ):
            raise SettingError(self.env_name, raw, self.describe_allowed())
        return value


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


#: The largest share of each AWS API request bucket (per account and region) a function may use;
#: the client-side rate limiter (`automations.core.throttle`) holds every call to it.
API_RATE_SHARE = Setting(
    "api_rate_share", "float", 0.5,
    "Largest share (0.01 to 1) of the account's AWS API request rate, per API and region, that this "
    "function may use; calls wait client-side for the rest, so other workloads sharing the account's "
    "throttling buckets keep working.",
    minimum=0.01, maximum=1)


#: Declared by functions that act on many resources on a bounded pool of threads
#: (`automations.core.executor`, `automations.core.steps`); the rate limiter still holds them to their share.
MAX_CONCURRENCY = Setting(
    "max_concurrency", "int", 32,
    "AWS calls in flight at once when acting; the client-side rate limiter (api_rate_share) keeps the "
    "request rate within the function's share of the account's buckets.",
    minimum=1, maximum=32)


def common_settings(default_mode: Mode) -> tuple[Setting, ...]:
    """Settings every function has."""
    return (
        Setting("mode", "str", default_mode,
                "enforce = act, audit = dry-run (log what would be done), off = do nothing. "
                "A run-time override in the state table wins.",
                allowed=MODES),
        Setting("state_ttl_days", "int", 90,
                "Days action records stay in the state log before DynamoDB TTL removes them.",
                minimum=1, maximum=3650),
        API_RATE_SHARE,
    )


#: Functions declared with `continues=True` checkpoint when less than this is left of the invocation.
CONTINUATION_MARGIN = Setting(
    "continuation_margin_seconds", "int", 120,
    "When less than this many seconds of the invocation are left, a run checkpoints its progress in the "
    "state log and re-invokes the function asynchronously to continue.",
    minimum=30, maximum=600)
