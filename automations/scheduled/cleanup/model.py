"""What a cleanup family is made of: its survey (candidates, watched, refused, ineligible), the
exclusions, the run context, and the `Family` base class every resource family fills in.

The flow (`flow.py`) and the notice (`notice.py`) both import it; it imports neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from automations.core.notify import owner_of
from automations.core.pending import PendingRecord
from automations.core.runtime import Run
from automations.core.selection import CREATED_BY_TAG, is_protected
from automations.core.steps import Step

# ---------------------------------------------------------------------- survey


@dataclass(frozen=True)
class Candidate:
    resource_id: str
    reason: str  # why it qualifies, e.g. "unattached; created 40 days ago"
    monthly_cost: float = 0.0  # estimated USD a month that acting saves
    details: Mapping[str, Any] = field(default_factory=dict)
    #: its age counts from Caretaker's first sighting: keep that record even when only reporting
    sighted: bool = False


@dataclass(frozen=True)
class Exclusions:
    """The exclusion tag filter (`key` or `key=value` items) plus `caretaker:protect=true`."""

    rules: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def parse(cls, items: Sequence[str]) -> Exclusions:
        rules: list[tuple[str, str | None]] = []
        for item in items:
            key, sep, value = item.partition("=")
            rules.append((key.strip(), value.strip().lower() if sep else None))
        return cls(tuple(rules))

    def refusal(self, tags: Mapping[str, str]) -> str | None:
        """Why a resource with these tags must be left alone, or None."""
        if is_protected(tags):
            return "protected: tagged caretaker:protect=true"
        for key, value in self.rules:
            if key in tags and (value is None or tags[key].strip().lower() == value):
                return f"excluded: tagged {key}" + (f"={tags[key]}" if value is not None else "")
        return None


class Survey:
    """What a family found, sorted. Families call `consider` for resources that qualify."""

    def __init__(self, exclusions: Exclusions) -> None:
        self.exclusions = exclusions
        self.candidates: dict[str, Candidate] = {}
        self.watched: dict[str, str] = {}
        self.refused: dict[str, str] = {}
        self.ineligible: dict[str, str] = {}
        #: resource id -> `caretaker:owner`, for the resources whose tags the survey saw (owner routing)
        self.owners: dict[str, str] = {}

    def _note_owner(self, resource_id: str, tags: Mapping[str, str]) -> None:
        owner = owner_of(tags)
        if owner:
            self.owners[resource_id] = owner

    def consider(self, candidate: Candidate, tags: Mapping[str, str]) -> None:
        self._note_owner(candidate.resource_id, tags)
        refusal = self.exclusions.refusal(tags)
        if refusal:
            self.refused[candidate.resource_id] = refusal
        elif tags.get(CREATED_BY_TAG):  # the notice and the pending record name who to ask
            self.candidates[candidate.resource_id] = replace(
                candidate, details={**candidate.details, "created_by": tags[CREATED_BY_TAG]})
        else:
            self.candidates[candidate.resource_id] = candidate

    def watch(self, resource_id: str, tags: Mapping[str, str], reason: str) -> None:
        self._note_owner(resource_id, tags)
        refusal = self.exclusions.refusal(tags)
        if refusal:
            self.ineligible[resource_id] = refusal
        else:
            self.watched[resource_id] = reason

    def reject(self, resource_id: str, reason: str) -> None:
        self.ineligible[resource_id] = reason

    def refuse(self, resource_id: str, reason: str) -> None:
        """Would qualify, but cannot be acted on safely (recorded as skipped every run)."""
        self.refused[resource_id] = reason


@dataclass(frozen=True)
class Context:
    run: Run
    now: datetime
    records: Mapping[str, PendingRecord]

    def first_seen(self, resource_id: str) -> datetime:
        record = self.records.get(resource_id)
        return record.first_seen if record else self.now


class Family:
    """One resource family. Subclasses fill in the survey, the steps and the tagging calls."""

    #: the main action, e.g. "delete-volume" (also the action of `skipped` records)
    action = "cleanup"
    #: how the notification names the resources and what was done, e.g. "volumes", "deleted"
    noun = "resources"
    verb = "cleaned up"
    #: whether candidates carry a monthly cost (the notification then shows savings)
    priced = True
    #: resources per tagging call (EC2 CreateTags takes many ids; CloudWatch Logs one)
    tag_batch = 1000

    def survey(self, ctx: Context) -> Survey:
        raise NotImplementedError

    def prepare(self, ctx: Context, due: list[Candidate]) -> None:
        """Batch look-ups the steps of the due candidates need (one call for all, not one each)."""

    def steps(self, ctx: Context, candidate: Candidate, record: PendingRecord | None) -> list[Step] | str:
        """The calls that act on a due candidate, or why it must wait (e.g. its final snapshot is pending)."""
        raise NotImplementedError

    def explain(self, ctx: Context, ids: list[str]) -> dict[str, tuple[str, bool]]:
        """For pending resources the survey did not list: why they no longer qualify, and whether they
        still exist (so their tag can be removed)."""
        return {resource_id: ("no longer found", False) for resource_id in ids}

    def tag(self, ctx: Context, ids: list[str], tags: Mapping[str, str]) -> None:
        raise NotImplementedError

    def untag(self, ctx: Context, ids: list[str], keys: list[str]) -> None:
        raise NotImplementedError

    def report_only(self, ctx: Context) -> str | None:
        """A reason when candidates are only reported, never announced or acted on."""
        return None
