"""Where a run's wall time goes, call by call: each AWS call's start and end on the run's clock.

`CallTimeline.attach(session)` hooks botocore's `before-call` and `after-call` events (so a call's span
includes the simulator's latency and botocore's own work around it, retries included); `report()` prints
the calls in the order they started, consecutive calls of one operation folded into one line, and the
gaps between them (the run's own CPU time and the waits in between).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from itertools import groupby
from typing import Any


@dataclass
class Span:
    operation: str
    start: float
    end: float | None = None


class CallTimeline:
    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.origin = time.perf_counter()
        self.wall_s = 0.0  # the timed run's wall time, set by whoever runs it
        self._lock = threading.Lock()

    def attach(self, session: Any) -> None:
        """Time every call of the clients built from `session` (a boto3 session) from now on."""
        events = session.events
        events.register("before-call", self._before, unique_id=f"call-timeline-before-{id(self)}")
        events.register("after-call", self._after, unique_id=f"call-timeline-after-{id(self)}")

    def start(self) -> None:
        """Forget what was timed so far; offsets count from now."""
        with self._lock:
            self.spans = []
            self.origin = time.perf_counter()

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        span = Span(f"{model.service_model.service_name}:{model.name}", time.perf_counter())
        context["call_timeline_span"] = span
        with self._lock:
            self.spans.append(span)

    def _after(self, context: dict[str, Any], **_: Any) -> None:
        span: Span | None = context.get("call_timeline_span")
        if span is not None:
            span.end = time.perf_counter()

    def report(self, indent: str = "   ") -> None:
        """Print the folded timeline of what was timed since `start()`, and the run's wall time."""
        with self._lock:
            spans = sorted(self.spans, key=lambda s: s.start)
        groups = [list(run) for _, run in groupby(spans, key=lambda s: s.operation)]

        def ms(t: float) -> float:
            return (t - self.origin) * 1000

        busy_until = self.origin
        print(f"{indent}{'call':32} {'count':>5} {'start ms':>9} {'end ms':>8} {'gap before ms':>14}")
        for group in groups:
            first = min(s.start for s in group)
            last = max(s.end or s.start for s in group)
            gap = max(0.0, ms(first) - ms(busy_until))
            print(f"{indent}{group[0].operation:32} {len(group):>5} {ms(first):>9.0f} {ms(last):>8.0f} {gap:>14.0f}")
            busy_until = max(busy_until, last)
        print(f"{indent}{'after the last call':32} {'':>5} {'':>9} {self.wall_s * 1000:>8.0f} "
              f"{max(0.0, self.wall_s * 1000 - ms(busy_until)):>14.0f}")
