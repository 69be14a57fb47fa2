"""What the entry point does when a run checkpoints (`Checkpoint` raised by `Run.items` / `Run.batches`):
persist the remaining work and re-invoke the function asynchronously, or end a run that makes no progress.
See docs/continuation.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from automations.core.continuation import (
    CHUNK_KEYS,
    MAX_NO_PROGRESS,
    Checkpoint,
    Progress,
    continuation_event,
    unqualified_function_arn,
)
from automations.core.errors import StateLogError, describe_error
from automations.core.observability import publish_run_metrics
from automations.core.run import Run, try_finish
from automations.core.state_log import RunCounts, conditional_failed


def continue_run(run: Run, checkpoint: Checkpoint, holder: str, context: Any, env: Mapping[str, str],
                 prior: RunCounts) -> dict[str, Any]:
    """Persist the progress, then re-invoke this function asynchronously with only the run id."""
    log, state = run.log, run.state
    progress = run.continuation.progress(checkpoint)
    if progress.no_progress >= MAX_NO_PROGRESS:
        return fail_without_progress(run, checkpoint, progress, prior)
    counts = state.counts.as_dict()
    try:
        summary = state.checkpoint_run(holder=holder, progress=progress.as_item(), phase=checkpoint.phase,
                                       remaining=checkpoint.remaining, chunk_size=CHUNK_KEYS,
                                       invocation=progress.invocation, carried=run.carrying())
    except StateLogError as exc:
        error = (f"the state log could not be written at a checkpoint, so the run stopped and was not "
                 f"continued ({len(checkpoint.remaining)} items of phase {checkpoint.phase!r} not done): {exc}")
        log.error("checkpoint failed; run stopped, not continued", extra={"error": error})
        if not conditional_failed(exc):
            try_finish(state, "failed", error, accumulate=True)
        run.alert("failed", error)
        raise StateLogError(error) from exc
    publish_run_metrics(run.spec.name, counts, "continued")
    target = unqualified_function_arn(context, env, run.spec.function_name)
    payload = continuation_event(run.run_id)
    result = run.result("continued", {"invocation": progress.invocation, "phase": checkpoint.phase,
                                              "remaining": len(checkpoint.remaining),
                                              "survey_ms": progress.survey_ms,
                                              "no_progress": progress.no_progress}, summary)
    try:
        run.clients("lambda").invoke(FunctionName=target, InvocationType="Event",
                                     Payload=json.dumps(payload).encode())
    except Exception as exc:  # the progress is saved: an operator can re-drive with the same event
        error = (f"could not invoke {target} to continue the run: {describe_error(exc)}; "
                 f"invoke it with {json.dumps(payload)} to resume")
        log.error("continuation not started", extra={"error": error})
        try:
            state.finish_run("continued", accumulate=True, error=error)  # counts already added: adds 0
        except StateLogError:
            log.error("could not record the failed continuation in the state log")
        run.alert("stalled", error, RunCounts.from_item(summary))
        return {**result, "error": error}
    log.info("run continues in a new invocation", extra={"invocation": progress.invocation,
                                                         "phase": checkpoint.phase,
                                                         "remaining": len(checkpoint.remaining),
                                                         "survey_ms": progress.survey_ms,
                                                         "no_progress": progress.no_progress})
    return result

def fail_without_progress(run: Run, checkpoint: Checkpoint, progress: Progress,
                          prior: RunCounts) -> dict[str, Any]:
    """End a run whose invocations checkpointed before their first item `MAX_NO_PROGRESS` times in a
    row: continuing it again would repeat the same survey without acting on anything. The summary's
    `checkpoint` stays the last one written (its keys are still the work left)."""
    log, state, cont = run.log, run.state, run.continuation
    survey_s = (progress.survey_ms or 0) / 1000
    left_s = (cont.survey_left_ms or 0) / 1000
    error = (f"the survey before the first item takes longer than the time left above the margin: it took "
             f"{survey_s:.1f} s and left {left_s:.1f} s, under continuation_margin_seconds "
             f"({cont.margin_ms // 1000} s), in {progress.no_progress} invocations in a row without "
             f"acting on anything ({len(checkpoint.remaining)} items of phase {checkpoint.phase!r} not "
             f"done); raise the function timeout or lower continuation_margin_seconds")
    log.error("run failed: no progress", extra={"error": error, "invocation": progress.invocation,
                                                "survey_ms": progress.survey_ms,
                                                "no_progress": progress.no_progress})
    run.alert("failed", error, prior)  # first, so a lost alert is recorded in the summary
    summary: dict[str, Any] | None = None
    try:
        summary = state.finish_run("failed", accumulate=True, error=error, no_progress=progress.no_progress,
                                   survey_ms=progress.survey_ms,
                                   notifications_failed=run.notifier.failures or None)
    except StateLogError:
        log.error("could not record the run's failure in the state log")
    publish_run_metrics(run.spec.name, state.counts.as_dict(), "failed")
    return run.result("failed", {"invocation": progress.invocation, "error": error,
                                         "survey_ms": progress.survey_ms, "no_progress": progress.no_progress},
                         summary)
