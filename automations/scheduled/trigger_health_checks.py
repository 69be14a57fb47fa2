"""trigger-health's checks in AWS: which functions are expected here, and what is wrong with each one deployed.

A function is expected in this region unless it is account-scoped (`member_scope`) in an organization member
whose home region is another one (`home_region` setting, set by the member templates; empty in a single account:
every function is expected). Of those, the functions of a stack with at least one function deployed are checked:
the function and its dead-letter queue exist, the queue is empty, an enabled rule targets it with the declared
schedule kind or event pattern. The run checks and the alerting are `trigger_health`'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from automations.core import registry
from automations.core.errors import error_code
from automations.core.member_scope import member_scope
from automations.core.runtime import Run, describe_error
from automations.core.spec import Cron, EventTrigger, FunctionSpec, Rate


@dataclass(frozen=True)
class Problem:
    function: str
    kind: str  # function-missing, dead-letter-queue-missing, dead-letters, no-rule, rule-disabled,
    #            pattern-changed, schedule-unreadable, missed-run, last-run-failed, check-failed, run-abandoned
    detail: str
    #: reported once and then gone by itself (an abandoned run the canary closed): never kept as open
    transient: bool = False

    @property
    def key(self) -> str:
        return f"{self.function}#{self.kind}"

    def as_dict(self) -> dict[str, str]:
        return {"function": self.function, "kind": self.kind, "detail": self.detail}


@dataclass
class Observed:
    """What the AWS checks found for one deployed function (read before the state log is consulted)."""

    spec: FunctionSpec
    problems: list[Problem]
    schedule: str | None = None  # the enabled rule's expression, for the run check
    deployed_at: datetime | None = None


def _canonical(value: Any) -> Any:
    """A pattern with its lists of scalars sorted, so that equal patterns compare equal."""
    if isinstance(value, Mapping):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        return sorted(items, key=json.dumps) if all(not isinstance(i, dict | list) for i in items) else items
    return value


def _rule_names(events: Any, function_arn: str) -> Iterator[str]:
    token: str | None = None
    while True:
        page = events.list_rule_names_by_target(TargetArn=function_arn, **({"NextToken": token} if token else {}))
        yield from page.get("RuleNames", [])
        token = page.get("NextToken")
        if not token:
            return


def check_rules(events: Any, spec: FunctionSpec, function_arn: str) -> tuple[list[Problem], str | None]:
    """Problems with the rules that should trigger `spec`, and the enabled schedule expression if any."""
    trigger = spec.trigger
    if not isinstance(trigger, Rate | Cron | EventTrigger):
        return [], None  # custom resources and rotation functions are invoked by their service
    rules = [events.describe_rule(Name=name) for name in _rule_names(events, function_arn)]
    if not rules:
        return [Problem(spec.name, "no-rule", f"no EventBridge rule targets {spec.function_name}: deleted, or "
                                              "retargeted to something else")], None
    enabled = [r for r in rules if r.get("State") == "ENABLED"]
    if not enabled:
        names = ", ".join(str(r.get("Name")) for r in rules)
        return [Problem(spec.name, "rule-disabled", f"the rule(s) targeting {spec.function_name} are disabled: "
                                                    f"{names}")], None
    if isinstance(trigger, Rate | Cron):
        scheduled = [r for r in enabled if r.get("ScheduleExpression")]
        if not scheduled:
            return [Problem(spec.name, "no-rule", f"no enabled rule schedules {spec.function_name}")], None
        return [], str(scheduled[0]["ScheduleExpression"])
    declared = _canonical(trigger.pattern())
    patterns = [_canonical(json.loads(r["EventPattern"])) for r in enabled if r.get("EventPattern")]
    if declared not in patterns:
        return [Problem(spec.name, "pattern-changed",
                        f"no enabled rule targeting {spec.function_name} carries the declared event pattern; "
                        f"found: {json.dumps(patterns, sort_keys=True)[:400]}")], None
    return [], None


def check_dead_letters(sqs: Any, spec: FunctionSpec, config: Mapping[str, Any]) -> list[Problem]:
    target = str((config.get("DeadLetterConfig") or {}).get("TargetArn") or "")
    parts = target.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        return [Problem(spec.name, "dead-letter-queue-missing",
                        f"{spec.function_name} has no SQS dead-letter queue: failed async invocations are lost")]
    url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    depth = int(attributes.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))
    if depth:
        return [Problem(spec.name, "dead-letters", f"{depth} message(s) in the dead-letter queue {parts[5]}: "
                                                   "invocations that failed after their retries")]
    return []


def observe(run: Run, specs: Sequence[FunctionSpec]) -> tuple[list[Observed], list[str]]:
    """Check each function in AWS. Returns the deployed ones and the stacks found not deployed."""
    lam, events, sqs = run.clients("lambda"), run.clients("events"), run.clients("sqs")
    configs: dict[str, Mapping[str, Any] | None] = {}
    failures: dict[str, Problem] = {}
    for spec in specs:
        try:
            configs[spec.name] = lam.get_function_configuration(FunctionName=spec.function_name)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                failures[spec.name] = Problem(spec.name, "check-failed", describe_error(exc))
            configs[spec.name] = None
        except BotoCoreError as exc:
            failures[spec.name] = Problem(spec.name, "check-failed", describe_error(exc))
            configs[spec.name] = None
    stacks = {registry.stack_of(s) for s in specs if configs[s.name] is not None or s.name in failures}
    observed: list[Observed] = []
    for spec in specs:
        if registry.stack_of(spec) not in stacks:
            continue
        config = configs[spec.name]
        if spec.name in failures:
            observed.append(Observed(spec, [failures[spec.name]]))
            continue
        if config is None:
            observed.append(Observed(spec, [Problem(spec.name, "function-missing",
                                                    f"{spec.function_name} does not exist, but its stack's other "
                                                    "functions do: deleted outside CloudFormation?")]))
            continue
        try:
            problems, schedule = check_rules(events, spec, str(config["FunctionArn"]))
            problems += check_dead_letters(sqs, spec, config)
        except (ClientError, BotoCoreError) as exc:
            problems, schedule = [Problem(spec.name, "check-failed", describe_error(exc))], None
        deployed = str(config.get("LastModified") or "")
        observed.append(Observed(spec, problems, schedule, parse_time(deployed.replace("+0000", "+00:00"))))
    not_deployed = sorted({str(registry.stack_of(s)) for s in specs} - {str(s) for s in stacks})
    return observed, not_deployed


def parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def expected_here(specs: Sequence[FunctionSpec], region: str, home_region: str) -> tuple[list[FunctionSpec], list[str]]:
    """The functions expected in `region`, and the names of the account-scoped ones left to the home region.

    With no home region (a single account) every function is expected; in a member, an account-scoped function
    (rotation, IAM rules and schedules: `member_scope`) lives in the home region only."""
    if not home_region or region == home_region:
        return list(specs), []
    home_only = {s.name for s in specs if member_scope(s) == "account"}
    return [s for s in specs if s.name not in home_only], sorted(home_only)
