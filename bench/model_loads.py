"""What was built and parsed in a warm invocation (bench/warm_invoke.py): boto3 sessions, botocore clients and the
model files botocore read, counted by wrapping their constructors and botocore's file loader for the whole process;
and the time moto spent serving requests (the AWS side), so that the bench can take it out of its figures.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import pytest


@dataclass
class Parses:
    """What was built and parsed, per phase."""

    sessions: int = 0
    clients: Counter[str] = field(default_factory=Counter)
    files: Counter[str] = field(default_factory=Counter)


def from_moto() -> bool:
    """True when moto (the emulated AWS side, not the Lambda process) is on the call stack."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        if f"{os.sep}moto{os.sep}" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


class BuildCounter:
    """Wraps session and client construction, botocore's file loader and moto's request handling for the
    whole process; counts only inside `measuring()` (a handler's invocation), and never moto's own work."""

    def __init__(self) -> None:
        import boto3.session
        import botocore.loaders
        import botocore.session
        from moto.core.botocore_stubber import BotocoreStubber

        self.phase = Parses()
        self.active = False
        self.process: Counter[str] = Counter()
        self.aws_intervals: list[tuple[float, float]] = []
        self.aws_cpu_s = 0.0  # CPU time moto spent serving requests, all threads
        self._lock = threading.Lock()
        session_init = boto3.session.Session.__init__
        create_client = botocore.session.Session.create_client
        load_file = botocore.loaders.JSONFileLoader.load_file
        serve = BotocoreStubber.__call__
        counter = self

        def counted_session(self: Any, *args: Any, **kwargs: Any) -> None:
            if counter.active and not from_moto():
                counter.phase.sessions += 1
            session_init(self, *args, **kwargs)

        def counted_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
            if counter.active and not from_moto():
                counter.phase.clients[service_name] += 1
            return create_client(self, service_name, *args, **kwargs)

        def counted_load(self: Any, file_path: str) -> Any:
            found = load_file(self, file_path)
            # None: no such file (botocore tries several extensions)
            if found is not None and counter.active and not from_moto():
                name = "/".join(Path(file_path).parts[-3:])
                counter.phase.files[name] += 1
                counter.process[name] += 1
            return found

        def timed_serve(self: Any, *args: Any, **kwargs: Any) -> Any:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return serve(self, *args, **kwargs)
            finally:
                with counter._lock:
                    counter.aws_intervals.append((started, time.perf_counter()))
                    counter.aws_cpu_s += time.thread_time() - cpu

        self.patch = pytest.MonkeyPatch()  # for the life of the process
        self.patch.setattr(boto3.session.Session, "__init__", counted_session)
        self.patch.setattr(botocore.session.Session, "create_client", counted_client)
        self.patch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted_load)
        self.patch.setattr(BotocoreStubber, "__call__", timed_serve)

    def time_aws_side(self, cls: type, method: str) -> None:
        """Count the time in `cls.method` as the AWS side too (the simulator's latency)."""
        original = getattr(cls, method)
        counter = self

        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                with counter._lock:
                    counter.aws_intervals.append((started, time.perf_counter()))

        self.patch.setattr(cls, method, timed)

    @contextmanager
    def measuring(self) -> Iterator[Parses]:
        self.phase = Parses()
        self.active = True
        try:
            yield self.phase
        finally:
            self.active = False
            self.phase = Parses()

    def aws_time(self, start: float, end: float) -> float:
        """Wall time within [start, end] during which moto was serving a request (calls on several threads
        overlap: the union of their intervals)."""
        with self._lock:
            intervals = sorted((max(a, start), min(b, end)) for a, b in self.aws_intervals if b > start and a < end)
        total, reach = 0.0, start
        for a, b in intervals:
            if b > reach:
                total += b - max(a, reach)
                reach = b
        return total

    def parsed_twice(self) -> list[str]:
        return sorted(name for name, n in self.process.items() if n > 1 and name.endswith("service-2"))
