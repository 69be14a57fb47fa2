"""Fitting a record into a size limit: its largest fields are cut, each with a marker, and the record is kept.

Input Caretaker records (a CloudTrail event's user agent, request parameters, an AWS error message) is
chosen by whoever made the call, and has no useful upper bound. A state-log item must stay under
DynamoDB's 400 KB and a notification under SNS's 256 KB, or the write fails and the record is lost.
`fit` cuts the largest string (to a prefix ending in `...[truncated N bytes]`) or the largest list (to
its first elements and a marker) until the record fits, and says which fields it cut (`truncated`:
their paths, e.g. `details.user_agent`). The fields named in `keep` (keys, the action contract) are
never cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Appended to what is kept of a cut string, and the last element of a cut list (for a list, N is the
#: size of the elements dropped, estimated).
MARKER = "...[truncated {n} bytes]"
#: The key that holds the marker of a map whose last entries were dropped.
CUT_KEY = "_truncated"
#: Longest string or list cut in one round (bounds the work; more rounds cut the rest).
MAX_ROUNDS = 64
#: A list or map is cut before the heaviest string only when it weighs more than this many times that string.
LIST_FIRST = 4
#: At most this many paths are listed in `truncated` (the rest are counted in the last entry).
MAX_PATHS = 20

Size = Callable[[Mapping[str, Any]], int]
Path = tuple[str | int, ...]


_MARKED = re.compile(r"\.\.\.\[truncated (\d+) bytes\]$")


def marker(cut_bytes: int) -> str:
    return MARKER.format(n=cut_bytes)


def _unmarked(text: str) -> tuple[str, int]:
    """`text` without a marker it ends with, and the bytes that marker says were cut before."""
    found = _MARKED.search(text)
    return (text[:found.start()], int(found.group(1))) if found else (text, 0)


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` bytes (UTF-8), the marker included, when it is longer. Cutting a cut
    text again adds up: the marker always counts every byte cut from the original."""
    if len(text.encode()) <= limit:
        return text
    body, before = _unmarked(text)
    data = body.encode()
    room = max(0, limit - len(marker(len(data) + before)))
    kept = data[:room].decode("utf-8", "ignore")
    return kept + marker(len(data) - len(kept.encode()) + before)


@dataclass
class Fitted:
    value: dict[str, Any]
    #: paths of the fields that were cut, e.g. "details.user_agent", "details.rules"; empty when none
    truncated: list[str] = field(default_factory=list)


def fit(record: Mapping[str, Any], size: Size, budget: int, *, keep: Collection[str] = ()) -> Fitted:
    """`record` itself when `size(record) <= budget`, else a copy whose largest fields are cut until it fits
    (or nothing is left to cut: then the caller's write fails as it would have). Top-level fields in `keep`
    are never cut."""
    current = size(record)
    if current <= budget:
        return Fitted(dict(record))
    value: dict[str, Any] = _copy(record)
    cut: list[str] = []
    for _ in range(MAX_ROUNDS):
        excess = current - budget
        if excess <= 0:
            break
        target = _largest(value, keep)
        if target is None:
            break
        path, node, node_size = target
        # `size` and `_weight` count differently (DynamoDB's rules, JSON's): scale the excess to weight
        excess_weight = excess * _weight(value) // max(current, 1) + 1
        smaller = _cut(node, max(0, node_size - excess_weight))
        if _weight(smaller) >= node_size:
            break  # nothing left worth cutting
        _replace(value, path, smaller)
        name = _path_text(path)
        if name not in cut:
            cut.append(name)
        current = size(value)
    if len(cut) > MAX_PATHS:
        cut = [*cut[:MAX_PATHS - 1], f"... and {len(cut) - MAX_PATHS + 1} more"]
    return Fitted(value, cut)


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    return value


def _weight(value: Any) -> int:
    """A quick size in bytes, the same order as DynamoDB's and JSON's (only used to choose what to cut)."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, Mapping):
        return 2 + sum(len(str(k).encode()) + 4 + _weight(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return 2 + sum(2 + _weight(v) for v in value)
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    return len(str(value))


def _nodes(value: Any, path: Path) -> Any:
    """(path, node, weight) of every string, list and map from `value` down."""
    if isinstance(value, Mapping):
        yield path, value, _weight(value)
        for key, child in value.items():
            yield from _nodes(child, (*path, str(key)))
    elif isinstance(value, list):
        yield path, value, _weight(value)
        for index, child in enumerate(value):
            yield from _nodes(child, (*path, index))
    elif isinstance(value, str):
        yield path, value, _weight(value)


def _largest(value: dict[str, Any], keep: Collection[str]) -> tuple[Path, Any, int] | None:
    """What to cut next, outside `keep`: the heaviest string, unless the heaviest list or map is more than
    `LIST_FIRST` times heavier (many small elements: cut it, keeping its first elements)."""
    string: tuple[Path, Any, int] | None = None
    listed: tuple[Path, Any, int] | None = None
    for key, child in value.items():
        if key in keep:
            continue
        for path, node, weight in _nodes(child, (key,)):
            if weight <= len(marker(weight)):
                continue  # cutting it would not make it smaller
            if isinstance(node, str):
                if string is None or weight > string[2]:
                    string = (path, node, weight)
            elif listed is None or weight > listed[2]:
                listed = (path, node, weight)
    if string is None or (listed is not None and listed[2] > LIST_FIRST * string[2]):
        return _innermost(listed)
    return string


def _innermost(target: tuple[Path, Any, int] | None) -> tuple[Path, Any, int] | None:
    """Down from a container to the list or map inside it that holds most of its weight (cut `rules`, not
    the `details` around it)."""
    while target is not None:
        path, node, weight = target
        children = node.items() if isinstance(node, Mapping) else enumerate(node)
        inner = [((*path, str(k) if isinstance(node, Mapping) else k), c, _weight(c)) for k, c in children
                 if isinstance(c, (Mapping, list))]
        heaviest = max(inner, key=lambda t: t[2], default=None)
        if heaviest is None or heaviest[2] * 2 < weight:
            return target
        target = heaviest
    return target


def _cut(node: Any, room: int) -> Any:
    """`node` (a string, list or map) cut to about `room` bytes, ending in the marker (a map's under the key
    `CUT_KEY`)."""
    if isinstance(node, str):
        return clip(node, room)
    if isinstance(node, Mapping):
        entries = dict(node)
        before = _unmarked(str(entries.pop(CUT_KEY, "")))[1]
        kept_map: dict[str, Any] = {}
        used = 2 + len(CUT_KEY) + 4 + len(marker(_weight(entries) + before))
        for key, child in entries.items():
            weight = len(str(key).encode()) + 4 + _weight(child)
            if used + weight > room:
                break
            kept_map[key] = child
            used += weight
        return {**kept_map, CUT_KEY: marker(max(_weight(entries) - _weight(kept_map), 1) + before)}
    before = 0
    if node and isinstance(node[-1], str) and _MARKED.fullmatch(node[-1]):
        node, before = node[:-1], _unmarked(node[-1])[1]
    kept: list[Any] = []
    used = 2 + 2 + len(marker(_weight(node) + before))  # the brackets, and the marker that ends the list
    for element in node:
        weight = 2 + _weight(element)
        if used + weight > room:
            break
        kept.append(element)
        used += weight
    dropped = _weight(node) - _weight(kept)
    return [*kept, marker(max(dropped, 1) + before)]


def _replace(value: dict[str, Any], path: Path, new: Any) -> None:
    parent: Any = value
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = new


def _path_text(path: Path) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text
