"""Guarded trails: their last recorded configuration in the state log, and the steps that restore it.

The record (`pk = TRAIL#<trail ARN>`, `sk = CONFIGURATION`) is a versioned record
(`TableStore.put_versioned`) without TTL: a trail may be deleted years after it was recorded. It is
written from what `trail_config.read_trail` read in AWS, never from an event, and only while the
trail is not weaker than the record (or when there is none yet). Restoring is a sequence of steps,
each written ahead and recorded (`Run.act`) inside the outer `restore-trail` / `recreate-trail`
action; a failing step stops the steps after it and fails the outer action.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from automations.core import state_schema as schema
from automations.core.codec import iso
from automations.core.errors import VersionConflict
from automations.core.runtime import Run, describe_error
from automations.core.selection import GUARD_TRAIL_TAG
from automations.security.trail_config import TrailConfig, Weakening, read_trail, update_arguments

RECORD_PK_PREFIX = "TRAIL#"
RECORD_SK = "CONFIGURATION"
RECORD_TYPE = "trail-configuration"
#: The order restore steps run in: configuration first, logging last (it then logs what was restored).
FIX_ORDER = ("add-tags", "update-trail", "put-event-selectors", "start-logging")


def record_key(trail_arn: str) -> dict[str, str]:
    return {schema.PARTITION_KEY: RECORD_PK_PREFIX + trail_arn, schema.SORT_KEY: RECORD_SK}


@dataclass(frozen=True)
class Recorded:
    """The recorded configuration of one trail (None when there is none) and the record's version."""

    trail_arn: str
    config: TrailConfig | None
    version: int
    at: str = ""
    cause: str = ""

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "at": self.at, "cause": self.cause} if self.config else {"version": 0}


def load(run: Run, trail_arn: str) -> Recorded:
    item, version = run.state.get_versioned(record_key(trail_arn), what=f"recorded configuration of trail {trail_arn}")
    if item is None:
        return Recorded(trail_arn, None, 0)
    return Recorded(trail_arn, TrailConfig.from_record(item["configuration"]), version, str(item.get("at", "")),
                    str(item.get("cause", "")))


def save(run: Run, config: TrailConfig, previous: Recorded, cause: str) -> int | None:
    """Record `config` over `previous`; returns the new version, or None when another invocation recorded
    the trail since `previous` was read (its record is as recent as this one: it is kept)."""
    try:
        return run.state.put_versioned(record_key(config.arn), {
            "type": RECORD_TYPE, "automation": run.spec.name, "resource_id": config.arn, "run_id": run.run_id,
            "at": iso(run.clock()), "cause": cause, "configuration": config.as_record(),
        }, previous.version, what=f"recorded configuration of trail {config.arn}")
    except VersionConflict as exc:
        run.log.info("trail configuration recorded by another invocation meanwhile; keeping it",
                     extra={"trail": config.arn, "error": str(exc)})
        return None


class StepFailed(Exception):
    """A restore step failed (already recorded `failed`): the steps after it are not taken."""


Step = tuple[str, str, Callable[[], Any]]  # action, what it does, the call


def run_steps(run: Run, trail_arn: str, steps: Sequence[Step]) -> list[str]:
    """Each step written ahead and recorded; stops at the first failure (`StepFailed`). Returns the actions."""
    done: list[str] = []
    for action, what, call in steps:
        errors: list[str] = []

        def attempt(call: Callable[[], Any] = call, errors: list[str] = errors) -> Any:
            try:
                return call()
            except Exception as exc:
                errors.append(describe_error(exc))
                raise

        run.act(trail_arn, action, what, attempt, details={"step_of": trail_arn})
        if errors:
            raise StepFailed(f"{action} failed ({errors[0]}); not done: "
                             f"{', '.join(a for a, _, _ in steps[len(done) + 1:]) or 'nothing'}")
        done.append(action)
    return done


def recreate_steps(cloudtrail: Any, config: TrailConfig) -> list[Step]:
    """CreateTrail (with its tags), PutEventSelectors, StartLogging."""
    return [
        ("create-trail", f"re-create trail {config.name} from its recorded configuration",
         lambda: cloudtrail.create_trail(**config.create_arguments())),
        ("put-event-selectors", "put back the recorded event selectors",
         lambda: cloudtrail.put_event_selectors(TrailName=config.arn, **config.selector_arguments())),
        ("start-logging", f"start logging on trail {config.name}", lambda: cloudtrail.start_logging(Name=config.arn)),
    ]


def restore_steps(cloudtrail: Any, recorded: TrailConfig | None, found: Sequence[Weakening],
                  trail_arn: str) -> list[Step]:
    """The steps that undo `found`, in `FIX_ORDER`; UpdateTrail sets only the weakened attributes.
    Without a record only logging can be restored."""
    fixes = {w.fix for w in found}
    steps = [_step(fix, cloudtrail, recorded, found, trail_arn) for fix in FIX_ORDER if fix in fixes]
    return [step for step in steps if step is not None]


def _step(fix: str, cloudtrail: Any, recorded: TrailConfig | None, found: Sequence[Weakening],
          trail_arn: str) -> Step | None:
    if fix == "start-logging":
        return fix, "start logging again", lambda: cloudtrail.start_logging(Name=trail_arn)
    if recorded is None:
        return None
    if fix == "add-tags":
        tag = [{"Key": GUARD_TRAIL_TAG, "Value": recorded.tags[GUARD_TRAIL_TAG]}]
        return (fix, f"put back the {GUARD_TRAIL_TAG} tag",
                lambda: cloudtrail.add_tags(ResourceId=trail_arn, TagsList=tag))
    if fix == "update-trail":
        arguments = update_arguments(recorded, found)
        return (fix, "put back " + ", ".join(sorted(arguments)),
                lambda: cloudtrail.update_trail(Name=trail_arn, **arguments))
    return (fix, "put back the recorded event selectors",
            lambda: cloudtrail.put_event_selectors(TrailName=trail_arn, **recorded.selector_arguments()))


def carry_out(run: Run, cloudtrail: Any, trail_arn: str, steps: Sequence[Step], previous: Recorded,
              cause: str) -> dict[str, Any]:
    """Run the steps, then record the trail as it now is in AWS (the restored configuration)."""
    done = run_steps(run, trail_arn, steps)
    version = save(run, read_trail(cloudtrail, trail_arn), previous, cause)
    return {"steps": done, "recorded_version": version}
