"""What a cleanup family is made of: its survey (candidates, watched, refused, ineligible), the
exclusions, the run context, and the `Family` base class every resource family fills in (a family
module declares only its own part: see `Family`).

The flow (`flow.py`) and the notice (`notice.py`) both import it; it imports neither.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar

from automations.core.aws import ServiceName
from automations.core.notify import owner_of
from automations.core.pending import PendingRecord
from automations.core.runtime import Run
from automations.core.selection import CREATED_BY_TAG, is_protected
from automations.core.steps import Next, Step, single_call_step

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
    #: the pending records of earlier runs (`PendingStore.load`), read while the family surveys AWS
    loading: Future[dict[str, PendingRecord]]

    @property
    def records(self) -> Mapping[str, PendingRecord]:
        """The pending records by resource id; the first look waits for the read (and re-raises what it raised)."""
        return self.loading.result()

    def first_seen(self, resource_id: str) -> datetime:
        record = self.records.get(resource_id)
        return record.first_seen if record else self.now


@dataclass(eq=False)
class Family:
    """One resource family, built once per run from the run's settings.

    The base supplies the plumbing every family shares (its client, the survey with the exclusions, the
    one-call act step where "already gone" is done, the explanation of pending resources the survey no longer
    lists). A family declares what is its own: its names, its service and how "already gone" looks as class
    keywords (`class Volumes(Ec2Family, action="delete-volume", noun="volumes", verb="deleted", gone=(...))`),
    what it remembers during a run as dataclass fields, and its survey, act call and details as methods.
    """

    settings: Mapping[str, Any]

    #: the main action, e.g. "delete-volume" (also the action of `skipped` records)
    action: ClassVar[str] = "cleanup"
    #: how the notification names the resources and what was done, e.g. "volumes", "deleted"
    noun: ClassVar[str] = "resources"
    verb: ClassVar[str] = "cleaned up"
    #: whether candidates carry a monthly cost (the notification then shows savings)
    priced: ClassVar[bool] = True
    #: resources per tagging call (EC2 CreateTags takes many ids; CloudWatch Logs one)
    tag_batch: ClassVar[int] = 1000
    #: the AWS service of `client()`: the one the survey lists and the act call goes to
    service: ClassVar[ServiceName]
    #: error codes of the act call that mean the resource is already gone (which counts as done)
    gone: ClassVar[tuple[str, ...]] = ()
    #: why a pending resource the survey no longer lists was dropped, when `still_there` does not list it
    vanished: ClassVar[str] = "no longer exists"

    def __init_subclass__(cls, *, action: str | None = None, noun: str | None = None, verb: str | None = None,
                          service: ServiceName | None = None, gone: tuple[str, ...] | None = None,
                          vanished: str | None = None, priced: bool | None = None, tag_batch: int | None = None,
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        given = {"action": action, "noun": noun, "verb": verb, "service": service, "gone": gone,
                 "vanished": vanished, "priced": priced, "tag_batch": tag_batch}
        for name, value in given.items():
            if value is not None:  # what is not given is inherited (and a test may patch it on the base)
                setattr(cls, name, value)

    def client(self, ctx: Context) -> Any:
        return ctx.run.clients(self.service)

    def new_survey(self) -> Survey:
        """An empty survey with the family's exclusions (`exclude_tags` + `caretaker:protect=true`)."""
        return Survey(Exclusions.parse(self.settings["exclude_tags"]))

    def too_young(self, age_days: float) -> str | None:
        """Why a resource created `age_days` ago does not qualify yet (`min_age_days`), or None."""
        min_age = int(self.settings["min_age_days"])
        return f"created {age_days:.0f} days ago (min_age_days {min_age})" if age_days <= min_age else None

    def survey(self, ctx: Context) -> Survey:
        raise NotImplementedError

    def prepare(self, ctx: Context, due: list[Candidate]) -> None:
        """Batch look-ups the steps of the due candidates need (one call for all, not one each)."""

    def act_call(self, client: Any, candidate: Candidate) -> Any:
        """The one call that acts on a due candidate (delete, release, set a retention ...)."""
        raise NotImplementedError

    def act_details(self, candidate: Candidate) -> Mapping[str, Any]:
        """The details of the act's `planned` record."""
        return dict(candidate.details)

    def act_step(self, ctx: Context, candidate: Candidate, *, then: Callable[[Any], Next] | None = None) -> Step:
        """The act call as a step: an error code in `gone` counts as done (`already_gone: true`)."""
        client = self.client(ctx)
        return single_call_step(candidate.resource_id, self.action, candidate.reason,
                                lambda: self.act_call(client, candidate), self.gone,
                                details=self.act_details(candidate), then=then)

    def steps(self, ctx: Context, candidate: Candidate, record: PendingRecord | None) -> list[Step] | str:
        """The calls that act on a due candidate, or why it must wait (e.g. its final snapshot is pending)."""
        return [self.act_step(ctx, candidate)]

    def explain(self, ctx: Context, ids: list[str]) -> dict[str, tuple[str, bool]]:
        """For pending resources the survey did not list: why they no longer qualify, and whether they
        still exist (so their tag can be removed)."""
        reasons = {resource_id: (self.vanished, False) for resource_id in ids}
        reasons.update(self.still_there(ctx, ids))
        return reasons

    def still_there(self, ctx: Context, ids: list[str]) -> Mapping[str, tuple[str, bool]]:
        """Those of `ids` that AWS still lists: why they no longer qualify, and whether they exist. By default
        none: the survey lists every resource of the family, so one it did not list is gone."""
        return {}

    def tag(self, ctx: Context, ids: list[str], tags: Mapping[str, str]) -> None:
        raise NotImplementedError

    def untag(self, ctx: Context, ids: list[str], keys: list[str]) -> None:
        raise NotImplementedError

    def report_only(self, ctx: Context) -> str | None:
        """A reason when candidates are only reported, never announced or acted on."""
        return None
