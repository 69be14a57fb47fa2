"""How values travel to and from the state table: DynamoDB's typed attribute values, ISO 8601 UTC times.

Floats become Decimals, times ISO 8601 strings, sets sorted lists, `None` attributes are left out; on the
way back Decimals become ints or floats. Every store (`automations/core/store.py`) and every report query
uses these, so an item reads the same whoever wrote it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(at: datetime) -> str:
    """ISO 8601 UTC with a Z suffix and millisecond precision."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain item as DynamoDB attribute values (`None` attributes left out)."""
    return {k: attribute_value(v) for k, v in item.items() if v is not None}


def attribute_value(value: Any) -> dict[str, Any]:
    """One plain value as a DynamoDB attribute value."""
    return dict(_SERIALIZER.serialize(_ddb_value(value)))


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(_DESERIALIZER.deserialize(v)) for k, v in item.items()}


def _ddb_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {str(k): _ddb_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_ddb_value(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [_ddb_value(v) for v in sorted(value)]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
