"""The one notification a cleanup run sends: counts and ids, what is pending and when, estimated savings.

Lists are capped at `LIST_LIMIT` ids each (SNS messages are limited to 256 KB); the run id in the
message finds everything in the state log (`python -m automations report --run <id>`).

A run that continues over several invocations sends it once, at its end: at each checkpoint the
notice is `carried()` to the next invocation (run-wide counts and savings, the capped lists), which
makes its notice with it as `prior` and adds its own part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from automations.core.notify import LIST_LIMIT

if TYPE_CHECKING:
    from automations.core.runtime import Run
    from automations.scheduled.cleanup.model import Candidate

HOURS_PER_MONTH = 730  # AWS's convention for monthly prices


def monthly(size_gb: float, price_per_gb_month: float) -> float:
    return float(size_gb) * price_per_gb_month


def monthly_from_hourly(price_per_hour: float) -> float:
    return price_per_hour * HOURS_PER_MONTH


def _usd(amount: float) -> str:
    return f"~${amount:,.2f}/month"


def _by_id(entry: Any) -> Any:
    """Lists of ids, (id, reason) pairs or dicts with an `id`: ordered by id."""
    return entry["id"] if isinstance(entry, Mapping) else entry[0] if isinstance(entry, list) else entry


#: how each list of the body is ordered (pending: by due date first)
_ENTRY_ORDER: dict[str, Any] = {
    "acted": _by_id, "would_act": _by_id, "failed": _by_id, "dropped": _by_id, "refused": _by_id,
    "waiting": _by_id, "reported": _by_id, "deferred": _by_id,
    "pending": lambda entry: (entry["due"], entry["id"]),
}
#: lists of (id, reason) pairs, sent as objects
_MAPS = ("failed", "dropped", "refused", "waiting")


@dataclass
class Notice:
    noun: str
    action: str
    verb: str
    dry_run: bool
    priced: bool = True  # False: the family estimates no saving (log retention)
    acted: list[Candidate] = field(default_factory=list)
    would_act: list[Candidate] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    pending: list[tuple[Candidate, datetime, bool]] = field(default_factory=list)  # (candidate, due, new)
    dropped: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)
    reported: list[Candidate] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    #: what earlier invocations of the same run carried (`carried()`): counted and listed with this one's
    prior: Mapping[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        own = {
            "acted": len(self.acted), "would_act": len(self.would_act), "failed": len(self.failed),
            "pending_new": sum(1 for _, _, new in self.pending if new), "pending": len(self.pending),
            "dropped": len(self.dropped), "refused": len(self.refused), "waiting": len(self.waiting),
            "reported": len(self.reported), "deferred": len(self.deferred),
        }
        prior = self.prior.get("counts", {})
        return {k: v + int(prior.get(k, 0)) for k, v in own.items()}

    def savings(self) -> dict[str, float]:
        own = {
            "acted": sum(c.monthly_cost for c in self.acted),
            "would_act": sum(c.monthly_cost for c in self.would_act),
            "pending": sum(c.monthly_cost for c, _, _ in self.pending),
            "reported": sum(c.monthly_cost for c in self.reported),
        }
        prior = self.prior.get("savings", {})
        return {k: round(v + float(prior.get(k, 0.0)), 2) for k, v in own.items()}

    def first_due(self) -> str | None:
        dues = [due.date().isoformat() for _, due, _ in self.pending]
        if self.prior.get("first_due"):
            dues.append(str(self.prior["first_due"]))
        return min(dues) if dues else None

    def _entries(self) -> dict[str, list[Any]]:
        """Every list of the body, this invocation's and the carried ones merged, sorted, capped."""
        own: dict[str, list[Any]] = {
            "acted": [c.resource_id for c in self.acted],
            "would_act": [c.resource_id for c in self.would_act],
            "failed": [list(kv) for kv in self.failed.items()],
            "pending": [{"id": c.resource_id, "due": due.date().isoformat(), "new": new, "reason": c.reason,
                         "estimated_monthly_usd": round(c.monthly_cost, 2)} for c, due, new in self.pending],
            "dropped": [list(kv) for kv in self.dropped.items()],
            "refused": [list(kv) for kv in self.refused.items()],
            "waiting": [list(kv) for kv in self.waiting.items()],
            "reported": [{"id": c.resource_id, "reason": c.reason, "estimated_monthly_usd": round(c.monthly_cost, 2)}
                         for c in self.reported],
            "deferred": list(self.deferred),
        }
        prior = self.prior.get("entries", {})
        return {name: sorted([*prior.get(name, []), *values], key=_ENTRY_ORDER[name])[:LIST_LIMIT]
                for name, values in own.items()}

    def carried(self) -> dict[str, Any]:
        """What the next invocation of this run needs to send one notification for the whole run."""
        return {"counts": self.counts(), "savings": self.savings(), "entries": self._entries(),
                "first_due": self.first_due()}

    def figures(self) -> dict[str, Any]:
        """For the run's return value."""
        key = self.noun.lower().replace(" ", "_")
        return {**{f"{key}_{k}": v for k, v in self.counts().items()},
                "estimated_monthly_saving_usd": self.savings()}

    def is_empty(self) -> bool:
        return not any(v for k, v in self.counts().items() if k != "pending_new")

    def body(self) -> dict[str, Any]:
        counts, entries = self.counts(), self._entries()
        body: dict[str, Any] = {
            "resource": self.noun,
            "action": self.action,
            "counts": counts,
            "estimated_monthly_saving_usd": self.savings() if self.priced else None,
            **{name: dict(values) if name in _MAPS else values for name, values in entries.items()},
        }
        truncated = {name: counts[name] - len(values) for name, values in entries.items()
                     if counts[name] > len(values)}
        if truncated:
            body["truncated"] = truncated
        return {k: v for k, v in body.items() if v or k == "counts"}

    def summary(self) -> str:
        counts, savings = self.counts(), self.savings()

        def usd(key: str) -> str:
            return f" ({_usd(savings[key])})" if self.priced else ""

        parts: list[str] = []
        if counts["acted"]:
            parts.append(f"{self.verb} {self.noun}: {counts['acted']}{usd('acted')}")
        if counts["would_act"]:
            parts.append(f"audit mode, would have {self.verb} {self.noun}: {counts['would_act']}{usd('would_act')}")
        if counts["pending"]:
            first_due = self.first_due()
            parts.append(f"{counts['pending']} pending ({counts['pending_new']} new), acted on from "
                         f"{first_due} if they still qualify{usd('pending')}")
        if counts["reported"]:
            parts.append(f"{counts['reported']} reported only{usd('reported')}")
        for key, label in (("waiting", "waiting for a final snapshot"), ("dropped", "spared (no longer qualify)"),
                           ("refused", "protected or excluded"), ("failed", "failed"),
                           ("deferred", "left for the next run")):
            if counts[key]:
                parts.append(f"{counts[key]} {label}")
        return "; ".join(parts) + "." if parts else "nothing to clean up."

    def subject(self, automation: str) -> str:
        counts = self.counts()
        labels = (("acted", self.verb), ("would_act", "would act"), ("pending", "pending"),
                  ("waiting", "waiting"), ("dropped", "spared"), ("reported", "reported"), ("failed", "failed"))
        shown = [f"{counts[k]} {label}" for k, label in labels if counts[k]]
        return f"Caretaker {automation}: " + (", ".join(shown) or "report")

    def send(self, run: Run) -> bool:
        """One message per run (at its end, for all its invocations), only when there is something to say."""
        if self.is_empty():
            return False
        return run.notify(self.subject(run.spec.name),
                          f"{run.spec.name} ({run.mode}{', dry-run' if self.dry_run else ''}): {self.summary()} "
                          f"To keep a resource, tag it caretaker:protect=true.",
                          self.body())
