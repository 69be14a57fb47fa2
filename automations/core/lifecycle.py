"""The lifecycle every entry point shares, whatever triggered it (a schedule, an event, a CloudFormation
request): its settings (validated, the rate limiter's share set), its state log (table from
`CARETAKER_STATE_TABLE`, TTL from `state_ttl_days`), its mode (the run-time override in the state table
wins over `CARETAKER_MODE`; a dry-run request lowers it), its alerts (`Notifier`) and the end of its run
(the summary, then the EMF run metrics the `ActionsFailed` / `RunsFailed` alarms read).

`Entrypoint.invoke` (runtime.py, scheduled and reactive functions) and `Provider` (custom_resources/
provider.py) both go through one `Lifecycle`; what differs between them (continuation, crhelper's one
response) stays theirs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from automations.core.aws import Clients
from automations.core.codec import Clock, utcnow
from automations.core.mode_override import read_mode_override
from automations.core.notify import Notifier, Origin, chat_topic_arn
from automations.core.observability import get_logger, publish_run_metrics
from automations.core.run import ModeDecision, resolve_mode
from automations.core.settings import Settings, cached_settings
from automations.core.spec import FunctionSpec
from automations.core.state_log import StateLog

#: Set by the operator CLI (`invoke --dry-run`): forces audit whatever the mode says.
DRY_RUN_ENV = "CARETAKER_DRY_RUN"
STATE_TABLE_ENV = "CARETAKER_STATE_TABLE"
ALERT_TOPIC_ENV = "CARETAKER_ALERT_TOPIC_ARN"
#: The state log's TTL before the settings are read (a run whose settings are invalid).
DEFAULT_TTL_DAYS = 90


class Lifecycle:
    """One invocation of one function: its injected environment, clients and clock, and the steps every
    entry point takes around its work."""

    def __init__(self, spec: FunctionSpec, *, environ: Mapping[str, str] | None = None,
                 clients: Clients | None = None, clock: Clock = utcnow) -> None:
        self.spec = spec
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.clients = clients or Clients()
        self.clock = clock
        self.log = get_logger()

    @property
    def table(self) -> str:
        return self.environ.get(STATE_TABLE_ENV, "")

    @property
    def dry_run_requested(self) -> bool:
        return self.environ.get(DRY_RUN_ENV, "").lower() in ("1", "true", "yes")

    def begin(self, run_id: str) -> None:
        """Every log line of this invocation names the function and the run."""
        self.log.append_keys(automation=self.spec.name, run_id=run_id)
        self.log.set_correlation_id(run_id)

    def settings(self) -> Settings:
        """The function's settings (all invalid ones in one `SettingsError`); sets the limiter's share."""
        settings = cached_settings(self.spec, self.environ)
        self.clients.limiter.share = float(settings["api_rate_share"])
        return settings

    def state_log(self, run_id: str, settings: Settings | None) -> StateLog:
        ttl_days = int(settings["state_ttl_days"]) if settings is not None else DEFAULT_TTL_DAYS
        return StateLog(self.table, self.clients("dynamodb"), automation=self.spec.name, run_id=run_id,
                        ttl_days=ttl_days, clock=self.clock)

    def mode(self, settings: Settings, state: StateLog, *, dry_run_requested: bool = False) -> ModeDecision:
        """The mode of this run: one read of the override (a `StateLogError` propagates: do not act)."""
        override = read_mode_override(state)
        decision = resolve_mode(settings, override, dry_run_requested)
        if override is not None:
            self.log.info("mode override in effect", extra={"mode": decision.mode, "override": dict(override)})
        return decision

    def notifier(self, context: Any = None) -> Notifier:
        """The alert topic's notifier, with the chat topic when chat notifications are on, and the message's
        account and region from the Lambda context."""
        topic = self.environ.get(ALERT_TOPIC_ENV, "")
        return Notifier(topic, self.clients("sns"), chat_topic_arn=chat_topic_arn(topic, self.environ),
                        origin=Origin.of(context, self.environ, topic))

    def metrics(self, state: StateLog, status: str, savings: Mapping[str, float] | None = None,
                counts: Mapping[str, int] | None = None) -> None:
        """The run's EMF metrics (this invocation's counts unless `counts` are given)."""
        publish_run_metrics(self.spec.name, dict(counts if counts is not None else state.counts.as_dict()),
                            status, dict(savings) if savings is not None else None)

    def finish(self, state: StateLog, status: str, **attributes: Any) -> dict[str, Any]:
        """End the run summary, then publish the run's metrics. A summary that cannot be written raises
        `StateLogError` before the metrics (the caller decides what its failure publishes)."""
        summary = state.finish_run(status, **attributes)
        self.metrics(state, status, attributes.get("savings"))
        return summary
