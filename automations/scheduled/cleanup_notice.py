"""The one notification a cleanup run sends: counts and ids, what is pending and when, estimated savings.

Lists are capped at `LIST_LIMIT` ids each (SNS messages are limited to 256 KB); the run id in the
message finds everything in the state log (`python -m automations report --run <id>`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automations.core.runtime import Run
    from automations.scheduled.cleanup_flow import Candidate

LIST_LIMIT = 100
HOURS_PER_MONTH = 730  # AWS's convention for monthly prices


def monthly(size_gb: float, price_per_gb_month: float) -> float:
    return float(size_gb) * price_per_gb_month


def monthly_from_hourly(price_per_hour: float) -> float:
    return price_per_hour * HOURS_PER_MONTH


def _usd(amount: float) -> str:
    return f"~${amount:,.2f}/month"


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

    def counts(self) -> dict[str, int]:
        return {
            "acted": len(self.acted), "would_act": len(self.would_act), "failed": len(self.failed),
            "pending_new": sum(1 for _, _, new in self.pending if new), "pending": len(self.pending),
            "dropped": len(self.dropped), "refused": len(self.refused), "waiting": len(self.waiting),
            "reported": len(self.reported), "deferred": len(self.deferred),
        }

    def savings(self) -> dict[str, float]:
        return {
            "acted": round(sum(c.monthly_cost for c in self.acted), 2),
            "would_act": round(sum(c.monthly_cost for c in self.would_act), 2),
            "pending": round(sum(c.monthly_cost for c, _, _ in self.pending), 2),
            "reported": round(sum(c.monthly_cost for c in self.reported), 2),
        }

    def figures(self) -> dict[str, Any]:
        """For the run's return value."""
        key = self.noun.lower().replace(" ", "_")
        return {**{f"{key}_{k}": v for k, v in self.counts().items()},
                "estimated_monthly_saving_usd": self.savings()}

    def is_empty(self) -> bool:
        return not any(v for k, v in self.counts().items() if k != "pending_new")

    def body(self) -> dict[str, Any]:
        truncated: dict[str, int] = {}

        def capped(name: str, values: list[Any]) -> list[Any]:
            if len(values) > LIST_LIMIT:
                truncated[name] = len(values) - LIST_LIMIT
            return values[:LIST_LIMIT]

        def capped_map(name: str, values: Mapping[str, str]) -> dict[str, str]:
            return dict(capped(name, sorted(values.items())))

        pending = sorted(self.pending, key=lambda p: (p[1], p[0].resource_id))
        body: dict[str, Any] = {
            "resource": self.noun,
            "action": self.action,
            "counts": self.counts(),
            "estimated_monthly_saving_usd": self.savings() if self.priced else None,
            "acted": capped("acted", sorted(c.resource_id for c in self.acted)),
            "would_act": capped("would_act", sorted(c.resource_id for c in self.would_act)),
            "failed": capped_map("failed", self.failed),
            "pending": capped("pending", [
                {"id": c.resource_id, "due": due.date().isoformat(), "new": new, "reason": c.reason,
                 "estimated_monthly_usd": round(c.monthly_cost, 2)} for c, due, new in pending]),
            "dropped": capped_map("dropped", self.dropped),
            "refused": capped_map("refused", self.refused),
            "waiting": capped_map("waiting", self.waiting),
            "reported": capped("reported", [
                {"id": c.resource_id, "reason": c.reason, "estimated_monthly_usd": round(c.monthly_cost, 2)}
                for c in sorted(self.reported, key=lambda c: c.resource_id)]),
            "deferred": capped("deferred", sorted(self.deferred)),
        }
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
            first_due = min(due for _, due, _ in self.pending).date().isoformat()
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
        """One message per run, only when there is something to say."""
        if self.is_empty():
            return False
        return run.notify(self.subject(run.spec.name),
                          f"{run.spec.name} ({run.mode}{', dry-run' if self.dry_run else ''}): {self.summary()} "
                          f"To keep a resource, tag it caretaker:protect=true.",
                          self.body())
