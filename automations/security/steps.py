"""Remediations of several steps: each step written ahead and recorded under the outer resource.

A rule whose remedy takes several AWS calls (restore a trail, contain an exposed key, isolate an
instance) returns one `Remediate` whose call runs `run_steps`: every step gets its own `planned` and
`succeeded`/`failed` items (details `step_of`), and a failure fails the outer action with a reason that
names it and what was not done. In audit mode the outer call is never made: only its plan is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from automations.core.runtime import Run


class StepFailed(Exception):
    """A step failed (already recorded `failed`); the message names it and what was not done."""


Step = tuple[str, str, Callable[[], Any]]  # action, what it does, the call


def run_steps(run: Run, resource_id: str, steps: Sequence[Step], *, keep_going: bool = False,
              details: Mapping[str, Any] | None = None) -> list[str]:
    """Each step written ahead and recorded. By default the first failure stops the steps after it; with
    `keep_going` every step is tried (they do not depend on each other) and the failures are raised at the
    end. Returns the actions done."""
    done: list[str] = []
    failed: list[str] = []
    for index, (action, what, call) in enumerate(steps):
        outcome = run.executor.act([(resource_id, what, {"step_of": resource_id, **(details or {})})], action, call)
        if outcome.error is not None and not keep_going:
            raise StepFailed(f"{action} failed ({outcome.reason}); not done: "
                             f"{', '.join(a for a, _, _ in steps[index + 1:]) or 'nothing'}")
        if outcome.error is not None:
            failed.append(f"{action} ({outcome.reason})")
        else:
            done.append(action)
    if failed:
        raise StepFailed(f"failed: {'; '.join(failed)}; done: {', '.join(done) or 'nothing'}")
    return done
