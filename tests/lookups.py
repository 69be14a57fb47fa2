"""Whether AWS still has something: a read that answers, or fails with the service's "no such ..." error."""

from __future__ import annotations

from collections.abc import Callable


def found(read: Callable[[], object], missing: type[Exception]) -> bool:
    """True when `read()` answers; False when it raises `missing` (any other error propagates)."""
    try:
        read()
    except missing:
        return False
    return True
