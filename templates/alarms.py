"""The alarms of one function, derived from its declaration: a new function gets all of them.

Per function, all to the alert topic, each with a description that says what to look at:
- Errors: an invocation failed or timed out (Lambda's own metric);
- Throttles: Lambda refused invocations (account or reserved concurrency);
- Duration: the slowest invocation took more than 80% of the declared timeout (a timeout is near);
- DeadLetters: messages wait in its dead-letter queue (async invocations that failed after their retries);
- ActionsFailed / RunsFailed: Caretaker's own EMF metrics (automations/core/observability.py), namespace
  `Caretaker`, dimensions `automation` and `service`, as the runtime and the providers publish them.
"""

from __future__ import annotations

from dataclasses import dataclass

from troposphere import AWSHelperFn, GetAtt, Ref
from troposphere.awslambda import Function
from troposphere.cloudwatch import Alarm, MetricDimension
from troposphere.sqs import Queue

from automations.core.observability import METRICS_NAMESPACE, SERVICE
from automations.core.spec import FunctionSpec, pascal

ALARM_PERIOD_SECONDS = 300
#: The Duration alarm fires above this share of the declared timeout.
DURATION_SHARE = 0.8


@dataclass(frozen=True)
class AlarmKind:
    """One alarm every function gets: suffix of its logical id and name, the metric, what to look at."""

    suffix: str
    namespace: str
    metric: str
    statistic: str
    look_at: str


LAMBDA_ERRORS = AlarmKind("Errors", "AWS/Lambda", "Errors", "Sum",
                          "An invocation failed or timed out. Look at the function's log group for the error "
                          "and at its latest run in `python -m automations report`.")
LAMBDA_THROTTLES = AlarmKind("Throttles", "AWS/Lambda", "Throttles", "Sum",
                             "Lambda refused invocations: the account's (or the function's reserved) concurrency "
                             "is exhausted. Scheduled runs and events may be delayed or lost to the DLQ.")
LAMBDA_DURATION = AlarmKind("Duration", "AWS/Lambda", "Duration", "Maximum",
                            f"The slowest invocation took more than {int(DURATION_SHARE * 100)}% of the declared "
                            "timeout: the next one may time out. Look at what the run worked on (report --run) "
                            "and whether it continued past its invocation.")
DEAD_LETTERS = AlarmKind("DeadLetters", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum",
                         "Messages wait in the function's dead-letter queue: asynchronous invocations (events, "
                         "schedules, continuations) failed after their retries and were not handled. Read them, "
                         "fix the cause, and redrive or delete them.")
ACTIONS_FAILED = AlarmKind("ActionsFailed", METRICS_NAMESPACE, "ActionsFailed", "Sum",
                           "Caretaker recorded failed actions: the state log says which resource and why "
                           "(`python -m automations report --since 1h`).")
RUNS_FAILED = AlarmKind("RunsFailed", METRICS_NAMESPACE, "RunsFailed", "Sum",
                        "A Caretaker run failed as a whole (settings, state table, an unexpected error): its run "
                        "summary carries the error (`python -m automations report --since 1h`).")

#: Every function gets one alarm of each kind.
ALARM_KINDS: tuple[AlarmKind, ...] = (LAMBDA_ERRORS, LAMBDA_THROTTLES, LAMBDA_DURATION, DEAD_LETTERS,
                                      ACTIONS_FAILED, RUNS_FAILED)


def _dimensions(kind: AlarmKind, spec: FunctionSpec, function: Function, queue: Queue) -> list[MetricDimension]:
    if kind.namespace == "AWS/Lambda":
        return [MetricDimension(Name="FunctionName", Value=Ref(function))]
    if kind.namespace == "AWS/SQS":
        return [MetricDimension(Name="QueueName", Value=GetAtt(queue, "QueueName"))]
    return [MetricDimension(Name="automation", Value=spec.name), MetricDimension(Name="service", Value=SERVICE)]


def threshold(kind: AlarmKind, spec: FunctionSpec) -> float:
    """Above what the alarm fires: a share of the timeout (ms) for Duration, else any at all."""
    return round(spec.timeout * 1000 * DURATION_SHARE) if kind is LAMBDA_DURATION else 0


def function_alarms(spec: FunctionSpec, function: Function, queue: Queue,
                    topic: AWSHelperFn | str) -> list[Alarm]:
    """One alarm per `ALARM_KINDS` entry for `spec`'s function, all notifying `topic`."""
    return [
        Alarm(
            f"{pascal(spec.name)}{kind.suffix}Alarm",
            AlarmName=f"{spec.function_name}-{kind.suffix.lower()}",
            AlarmDescription=f"{spec.function_name}: {kind.look_at}",
            Namespace=kind.namespace,
            MetricName=kind.metric,
            Dimensions=_dimensions(kind, spec, function, queue),
            Statistic=kind.statistic,
            Period=ALARM_PERIOD_SECONDS,
            EvaluationPeriods=1,
            Threshold=threshold(kind, spec),
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
            AlarmActions=[topic],
        )
        for kind in ALARM_KINDS
    ]
