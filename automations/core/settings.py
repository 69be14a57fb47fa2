"""Settings at run time: read from `CARETAKER_*` environment variables and validated once.

Precedence lives in one place: explicit override > environment variable > declared default.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from automations.core.errors import SettingError, SettingsError
from automations.core.spec import FunctionSpec


class Settings(Mapping[str, Any]):
    """Typed, validated settings of one function (`settings["retention_count"]` -> int)."""

    def __init__(self, spec: FunctionSpec, values: Mapping[str, Any]) -> None:
        self.spec = spec
        self._values = dict(values)

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            raise KeyError(f"{self.spec.name} declares no setting {key!r}")
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Settings({self.spec.name}, {self._values!r})"


def load_settings(
    spec: FunctionSpec,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Parse every declared setting; report all invalid ones at once."""
    env = os.environ if environ is None else environ
    overrides = overrides or {}
    values: dict[str, Any] = {}
    errors: list[SettingError] = []
    for setting in spec.all_settings:
        raw: str | None = (setting.render(overrides[setting.name]) if setting.name in overrides
                           else env.get(setting.env_name))
        if raw is None:
            values[setting.name] = setting.default
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except SettingError as exc:
            errors.append(exc)
    if errors:
        raise SettingsError(errors)
    return Settings(spec, values)


_CACHE: dict[tuple[str, tuple[str | None, ...]], Settings] = {}


def cached_settings(spec: FunctionSpec, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings parsed once per distinct environment (in Lambda: once per cold start)."""
    env = os.environ if environ is None else environ
    key = (spec.name, tuple(env.get(s.env_name) for s in spec.all_settings))
    if key not in _CACHE:
        _CACHE[key] = load_settings(spec, env)
    return _CACHE[key]


def clear_cache() -> None:
    _CACHE.clear()
