"""Declarative property schemas for custom resource types, and the one function that validates them.

CloudFormation sends every scalar property as a string ("12", "true"), lists as lists of
strings and objects as objects. A type declares its properties as a `Schema` of `Prop`
values; `Schema.validate` converts and checks them before any AWS call and reports every
problem at once, each naming the property, the value received and what is allowed. Secret
properties never have their value repeated in a message or a log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from automations.core.errors import CaretakerError

PropKind = Literal["str", "int", "bool", "list", "filters", "objects"]

#: Properties CloudFormation itself adds or interprets; every type accepts them.
RESERVED = ("ServiceToken", "ServiceTimeout")
REDACTED = "***"
MIN_REDACTED = 4
_MAX_SHOWN = 80  # characters of a rejected value repeated in a message
_TRUE, _FALSE = "true", "false"
#: A KMS key as AWS APIs accept it: key id, multi-Region key id, key ARN, alias name or alias ARN.
KMS_KEY_PATTERN = (r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(?:key|alias)/[A-Za-z0-9/_+=.@-]+"
                   r"|alias/[A-Za-z0-9/_+=.@-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                   r"|mrk-[0-9a-f]{32}")


class PropertyError(CaretakerError):
    """One or more properties are invalid; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Prop:
    """One property of a custom resource type."""

    name: str
    kind: PropKind
    description: str
    required: bool = False
    default: Any = None
    #: int: the inclusive ranges a value may fall in, e.g. ((0, 0), (7, 30))
    ranges: tuple[tuple[int, int], ...] = ()
    #: str: (min, max) characters; list: (min, max) items
    length: tuple[int, int] | None = None
    #: str / list items: the values allowed
    allowed: tuple[str, ...] | None = None
    #: str / list items: a regular expression the value must match in full
    pattern: str | None = None
    #: how `pattern` is described in messages (default: the expression itself)
    pattern_hint: str | None = None
    #: the value is never logged, recorded or repeated in a message
    secret: bool = False
    #: changing the value regenerates a generated value (RandomSecret)
    generation: bool = False
    #: changing the value needs a new resource (a new PhysicalResourceId)
    replaces: bool = False

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", self.name):
            raise ValueError(f"property names are PascalCase, got {self.name!r}")
        if self.required and self.default is not None:
            raise ValueError(f"{self.name}: a required property has no default")
        if self.default is not None:
            problem = self._check(self.default)
            if problem:
                raise ValueError(f"{self.name}: the default {self.default!r} is invalid: {problem}")

    # ------------------------------------------------------------------ description

    def describe_allowed(self) -> str:
        """What a valid value looks like, in words (used in messages and in the docs)."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "int":
            if not self.ranges:
                return "an integer"
            parts = [str(lo) if lo == hi else f"from {lo} to {hi}" for lo, hi in self.ranges]
            return "an integer " + " or ".join(parts)
        if self.kind == "filters":
            return "a list of {Name, Values} objects (EC2 DescribeImages filters)"
        if self.kind == "objects":
            lo, hi = self.length or (0, 0)
            return f"a list of {lo} to {hi} objects of strings" if self.length else "a list of objects of strings"
        if self.allowed is not None:
            choice = "one of " + ", ".join(repr(a) for a in self.allowed)
            return choice if self.kind == "str" else f"a list whose items are each {choice}"
        noun = "a string" if self.kind == "str" else "a list of strings"
        if self.length is not None:
            lo, hi = self.length
            noun = f"a string of {lo} to {hi} characters" if self.kind == "str" else f"a list of {lo} to {hi} strings"
        if self.pattern is not None:
            hint = self.pattern_hint or f"matching {self.pattern}"
            noun += f" {hint}" if self.kind == "str" else f", each {hint}"
        return noun

    def shown(self, raw: Any) -> str:
        """How a rejected value is repeated in a message (never for a secret)."""
        if self.secret:
            size = len(raw) if isinstance(raw, (str, list)) else None
            return "a secret value" + (f" of length {size}" if size is not None else "")
        text = repr(list(raw) if isinstance(raw, tuple) else raw)
        return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."

    # ------------------------------------------------------------------ parsing

    def parse(self, raw: Any) -> Any:
        """Convert a value as CloudFormation sends it; raise ValueError with a message if invalid."""
        value = self._convert(raw)
        problem = self._check(value)
        if problem:
            raise ValueError(problem)
        return value

    def _convert(self, raw: Any) -> Any:
        invalid = ValueError(f"{self.name} must be {self.describe_allowed()}, got {self.shown(raw)}")
        if self.kind == "bool":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.strip().lower() in (_TRUE, _FALSE):
                return raw.strip().lower() == _TRUE
            raise invalid
        if self.kind == "int":
            if isinstance(raw, int) and not isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and re.fullmatch(r"[+-]?\d{1,12}", raw.strip()):
                return int(raw.strip())
            raise invalid
        if self.kind == "str":
            if isinstance(raw, str):
                return raw
            raise invalid
        if self.kind == "list":
            if isinstance(raw, str):  # a comma-separated string is accepted too
                return tuple(part.strip() for part in raw.split(",") if part.strip())
            if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
                return tuple(raw)
            raise invalid
        if self.kind == "objects":
            return _convert_objects(raw, invalid)
        return _convert_filters(raw, invalid)

    def _check(self, value: Any) -> str | None:
        """The problem with a converted value, or None."""
        bad = f"{self.name} must be {self.describe_allowed()}, got {self.shown(value)}"
        if self.kind == "int" and self.ranges and not any(lo <= value <= hi for lo, hi in self.ranges):
            return bad
        if self.kind in ("str", "list"):
            items = (value,) if self.kind == "str" else tuple(value)
            if self.length is not None:
                size = len(value)
                if not self.length[0] <= size <= self.length[1]:
                    return bad
            if self.allowed is not None and any(item not in self.allowed for item in items):
                return bad
            if self.pattern is not None and any(not re.fullmatch(self.pattern, item) for item in items):
                return bad
        if self.kind == "objects" and self.length is not None and not self.length[0] <= len(value) <= self.length[1]:
            return bad
        return None


def _convert_filters(raw: Any, invalid: ValueError) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(raw, list):
        raise invalid
    out: list[tuple[str, tuple[str, ...]]] = []
    for item in raw:
        if not isinstance(item, Mapping) or set(item) != {"Name", "Values"}:
            raise invalid
        name, values = item["Name"], item["Values"]
        if isinstance(values, str):
            values = [values]
        if not (isinstance(name, str) and name and isinstance(values, list) and values
                and all(isinstance(v, str) for v in values)):
            raise invalid
        out.append((name, tuple(values)))
    return tuple(out)


def _convert_objects(raw: Any, invalid: ValueError) -> tuple[dict[str, str], ...]:
    """A list of objects whose values are strings (CloudFormation sends every scalar as a string)."""
    if not isinstance(raw, list):
        raise invalid
    out: list[dict[str, str]] = []
    for item in raw:
        if not isinstance(item, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in item.items()):
            raise invalid
        out.append(dict(item))
    return tuple(out)


Check = Callable[[Mapping[str, Any]], str | None]


@dataclass(frozen=True)
class Schema:
    """The properties of one type, plus checks that involve several of them."""

    props: tuple[Prop, ...]
    checks: tuple[Check, ...] = ()

    def __post_init__(self) -> None:
        names = [p.name for p in self.props]
        if len(set(names)) != len(names) or set(names) & set(RESERVED):
            raise ValueError(f"property names must be unique and not reserved: {names}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.props)

    def names_where(self, flag: Literal["secret", "generation", "replaces"]) -> tuple[str, ...]:
        return tuple(p.name for p in self.props if getattr(p, flag))

    def validate(self, raw: Mapping[str, Any] | None, *, ignore_unknown: bool = False) -> dict[str, Any]:
        """Typed values for every declared property (defaults filled in); `PropertyError` lists all problems."""
        given = dict(raw or {})
        problems: list[str] = []
        unknown = sorted(set(given) - set(self.names) - set(RESERVED))
        if unknown and not ignore_unknown:
            problems.append(f"unknown propert{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)} "
                            f"(allowed: {', '.join(self.names)})")
        values: dict[str, Any] = {}
        for prop in self.props:
            if prop.name not in given or given[prop.name] is None:
                if prop.required:
                    problems.append(f"{prop.name} is required: {prop.describe_allowed()}")
                values[prop.name] = prop.default
                continue
            try:
                values[prop.name] = prop.parse(given[prop.name])
            except ValueError as exc:
                problems.append(str(exc))
        if not problems:
            problems.extend(problem for check in self.checks if (problem := check(values)))
        if problems:
            raise PropertyError(problems)
        return values

    def redact(self, raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A copy of raw properties that is safe to log: values of secret and of undeclared
        properties (a misspelt secret is still a secret) replaced."""
        if raw is None:
            return None
        shown = (set(self.names) - set(self.names_where("secret"))) | set(RESERVED)
        return {k: (v if k in shown else REDACTED) for k, v in raw.items()}

    def changed(self, old: Mapping[str, Any] | None, new: Mapping[str, Any],
                flag: Literal["generation", "replaces"] | None = None) -> tuple[str, ...]:
        """Names of (flagged) properties whose values differ; everything differs when `old` is None."""
        names: Iterable[str] = self.names if flag is None else self.names_where(flag)
        if old is None:
            return tuple(names)
        return tuple(n for n in names if old.get(n) != new.get(n))


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Remove every occurrence of the given secret values from a message (values shorter than
    `MIN_REDACTED` would garble ordinary words and are not searched for)."""
    for secret in sorted({s for s in secrets if len(s) >= MIN_REDACTED}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
