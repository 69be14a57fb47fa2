"""Continuation: a scheduled run that outlives one Lambda invocation.

A function declared with `continues=True` walks its work through `Run.items` / `Run.batches`:
phases of deterministic, sorted work lists. Before each item (or batch), the first one of an
invocation included, the run checks `should_checkpoint()`: once less than
`continuation_margin_seconds` is left, `Checkpoint` unwinds the handler, and the entry point

1. flushes the state log's buffered outcomes,
2. writes the keys of the phase's remaining work in chunks (`CONT#<invocation>#<chunk>` items under
   the run's partition; `CHUNK_KEYS` keys per item keeps each far below DynamoDB's 400 KB),
3. records the progress (`checkpoint`: done phases, current phase, cursor) on the run summary, adds
   this invocation's counts, sets `status = continued` (conditional on still holding the run),
4. invokes its own function asynchronously with `{"caretaker": {"continue_run": "<run_id>"}}`.

If the state log cannot be written in steps 1-3, the run stops there and nothing is invoked.

An invocation whose survey (the listings before its first item) leaves less than the margin
checkpoints without handing out anything: it made no progress. `Progress.no_progress` counts such
invocations in a row; the `MAX_NO_PROGRESS`-th one ends the run as failed instead of continuing it
(a survey that does not fit in the invocation would otherwise re-invoke itself forever).

The continuation *claims* the run with a conditional UpdateItem (`status = continued`, or
`running` whose lease ran out: the invocation holding it died) before doing anything; a second
delivery of the same event then finds the run claimed or finished and does nothing. It recomputes
each phase from current AWS state (a fresh listing) and keeps only the keys recorded as remaining,
so no resource is acted on twice and none is skipped; phases already done are not entered again.

Standard library + boto3 types only; no handler imports this module's internals but `Checkpoint`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The key of a continuation event: `{"caretaker": {"continue_run": "<run_id>"}}`.
EVENT_KEY = "caretaker"
RUN_KEY = "continue_run"
#: Remaining-work keys per state-log item (a resource id is < 100 bytes: well under 400 KB).
CHUNK_KEYS = 1000
#: Consecutive invocations that checkpoint before their first item after which a run fails. Each repeats
#: the same survey and costs up to a whole timeout: one more try absorbs a transient slowdown (throttled
#: or slow listings, a cold start), a second miss in a row means the survey does not fit above the margin.
MAX_NO_PROGRESS = 2


def continuation_event(run_id: str) -> dict[str, Any]:
    return {EVENT_KEY: {RUN_KEY: run_id}}


def continued_run_id(event: Any) -> str | None:
    """The run id a continuation event carries, or None for any other event."""
    if not isinstance(event, Mapping):
        return None
    body = event.get(EVENT_KEY)
    if not isinstance(body, Mapping):
        return None
    run_id = body.get(RUN_KEY)
    return run_id if isinstance(run_id, str) and run_id else None


def unqualified_function_arn(context: Any, environ: Mapping[str, str], default_name: str) -> str:
    """This function's own name or unqualified ARN (what its role may invoke): the Lambda context's
    `invoked_function_arn` without alias/version, else its `function_name`, else the environment."""
    arn = getattr(context, "invoked_function_arn", None)
    if isinstance(arn, str) and arn.startswith("arn:"):
        return ":".join(arn.split(":")[:7])
    name = getattr(context, "function_name", None)
    if isinstance(name, str) and name:
        return name
    return environ.get("AWS_LAMBDA_FUNCTION_NAME") or default_name


class Checkpoint(BaseException):
    """Raised by `Run.items` / `Run.batches` when the run must continue in a new invocation.

    A `BaseException`, so that handlers' "one failing resource never stops the run" guards
    (`except Exception`) cannot swallow it.
    """

    def __init__(self, phase: str, remaining: Sequence[str], cursor: str | None) -> None:
        super().__init__(f"checkpoint in phase {phase!r}: {len(remaining)} items left")
        self.phase = phase
        self.remaining = list(remaining)
        self.cursor = cursor


@dataclass
class Progress:
    """Where a run stands between invocations (the summary's `checkpoint` attribute)."""

    invocation: int = 1
    done_phases: list[str] = field(default_factory=list)
    phase: str | None = None
    cursor: str | None = None
    remaining_count: int = 0
    chunks: int = 0
    #: invocations in a row, ending with this one, that checkpointed before handing out any item
    no_progress: int = 0
    #: this invocation's survey: milliseconds from its start to its first item (None: it reached none)
    survey_ms: int | None = None

    def as_item(self) -> dict[str, Any]:
        return {"invocation": self.invocation, "done_phases": list(self.done_phases), "phase": self.phase,
                "cursor": self.cursor, "remaining_count": self.remaining_count, "chunks": self.chunks,
                "no_progress": self.no_progress, "survey_ms": self.survey_ms}

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None) -> Progress:
        item = item or {}
        return cls(invocation=int(item.get("invocation", 1)), done_phases=list(item.get("done_phases") or []),
                   phase=item.get("phase"), cursor=item.get("cursor"),
                   remaining_count=int(item.get("remaining_count", 0)), chunks=int(item.get("chunks", 0)),
                   no_progress=int(item.get("no_progress", 0)),
                   survey_ms=int(item["survey_ms"]) if item.get("survey_ms") is not None else None)


class Continuation:
    """One invocation's view of a run's progress. Not thread-safe: phases run on the handler's thread."""

    def __init__(self, *, enabled: bool, margin_ms: int, resumed: Progress | None = None,
                 remaining: Sequence[str] | None = None) -> None:
        self.enabled = enabled
        self.margin_ms = margin_ms
        self.resumed = resumed
        self.invocation = resumed.invocation + 1 if resumed else 1
        self.done_phases: list[str] = list(resumed.done_phases) if resumed else []
        self._resume_phase = resumed.phase if resumed else None
        self._remaining = set(remaining or ())
        #: work items handed out by this invocation (0 at a checkpoint: it made no progress)
        self.progressed = 0
        #: milliseconds from the invocation's start to its first item, and what was left of it then
        self.survey_ms: int | None = None
        self.survey_left_ms: int | None = None
        #: keys recorded as remaining that the fresh work list no longer holds (no longer qualify)
        self.vanished: dict[str, int] = {}

    def phase_done(self, phase: str) -> bool:
        return phase in self.done_phases

    def resuming(self, phase: str) -> bool:
        """True when an earlier invocation of this run stopped inside `phase`."""
        return self._resume_phase == phase

    def select(self, phase: str, keyed: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """The phase's work list for this invocation: sorted; only the recorded remaining keys when resuming."""
        keyed = sorted(keyed, key=lambda pair: pair[0])
        keys = [k for k, _ in keyed]
        if len(set(keys)) != len(keys):
            raise ValueError(f"phase {phase!r}: work item keys must be unique")
        if not self.resuming(phase):
            return keyed
        kept = [(k, v) for k, v in keyed if k in self._remaining]
        self.vanished[phase] = len(self._remaining) - len(kept)
        return kept

    def finish_phase(self, phase: str) -> None:
        if phase not in self.done_phases:
            self.done_phases.append(phase)
        if self._resume_phase == phase:
            self._resume_phase = None
            self._remaining = set()

    def surveyed(self, elapsed_ms: int, remaining_ms: int) -> None:
        """Note, at the invocation's first item, how long its survey took and what it left."""
        self.survey_ms, self.survey_left_ms = max(0, elapsed_ms), remaining_ms

    def progress(self, checkpoint: Checkpoint) -> Progress:
        """What the checkpoint records; `no_progress` counts on from the last one when nothing was handed out."""
        no_progress = 0 if self.progressed else (self.resumed.no_progress if self.resumed else 0) + 1
        return Progress(invocation=self.invocation, done_phases=list(self.done_phases), phase=checkpoint.phase,
                        cursor=checkpoint.cursor, remaining_count=len(checkpoint.remaining),
                        chunks=-(-len(checkpoint.remaining) // CHUNK_KEYS), no_progress=no_progress,
                        survey_ms=self.survey_ms)
