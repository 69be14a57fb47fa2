"""Permissions: the IAM actions a declared function calls and the resources they are scoped to, what every
role gets besides (`BASELINE_PERMISSIONS`), and how Caretaker's own roles are named and found (`ROLE_PATH`, the
own-role environment). Declaring does no I/O; standard library only (and `iam_rules`, pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from automations.core import iam_rules

__all__ = [
    "BASELINE_PERMISSIONS", "CONTINUATION_PERMISSION", "OWN_ROLE_ARN_PREFIX_ENV", "OWN_ROLE_NAMES_ENV",
    "RESOURCE_VARIABLES", "ROLE_PATH", "Permission",
]

#: Resource placeholders a permission may use. Templates bind each to a value
#: (`Fn::Sub` variables); `${AWS::Partition}`, `${AWS::Region}` and
#: `${AWS::AccountId}` are CloudFormation pseudo parameters.
RESOURCE_VARIABLES = ("StateTableArn", "AlertTopicArn", "AlertKeyArn", "StateKeyArn", "DeadLetterQueueArn",
                      "LogGroupArn", "FunctionArn")


@dataclass(frozen=True)
class Permission:
    """IAM actions and the resources they are scoped to (Fn::Sub strings)."""

    actions: tuple[str, ...]
    resources: tuple[str, ...] = ("*",)
    why: str = ""
    #: an IAM Condition block, e.g. {"StringEquals": {"aws:ResourceTag/caretaker:automation": "x"}}
    condition: Mapping[str, Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        if not self.actions:
            raise ValueError("a permission needs at least one action")
        for action in self.actions:
            if not re.match(r"^[a-z0-9-]+:[A-Za-z0-9*]+$", action):
                raise ValueError(f"malformed IAM action {action!r}")
        for resource in self.resources:
            for var in re.findall(r"\$\{([^}]+)\}", resource):
                if not var.startswith("AWS::") and var not in RESOURCE_VARIABLES:
                    raise ValueError(f"unknown resource variable ${{{var}}} in {resource!r}")
        if self.condition is not None and "${" in repr(self.condition):
            raise ValueError("condition values are literal: templates do not substitute ${...} in them")
        problems = iam_rules.refusals(self.actions, self.condition)  # docs/security-model.md section 6
        if problems:
            raise ValueError("; ".join(problems))


#: The IAM path of every role Caretaker creates: it groups them, and an SCP can reserve it for the
#: deployment (docs/security-model.md). It proves nothing about who made a call: anyone allowed to
#: create roles can create one under it.
ROLE_PATH = "/caretaker/"

#: How the reactive rules know Caretaker's own roles: their names and the ARN prefix they share
#: (`arn:<partition>:iam::<account>:role/caretaker/`, deploy-time values), which together give each role's exact
#: ARN, DESIGN.md's contract. Names, not whole ARNs: every role ARN at its longest would not fit Lambda's 4 KB
#: environment.
OWN_ROLE_NAMES_ENV = "CARETAKER_OWN_ROLE_NAMES"
OWN_ROLE_ARN_PREFIX_ENV = "CARETAKER_OWN_ROLE_ARN_PREFIX"

#: What every function may do on Caretaker's own resources. Added to each role.
BASELINE_PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
         "dynamodb:BatchWriteItem", "dynamodb:Query"),
        ("${StateTableArn}", "${StateTableArn}/index/*"),
        why="state log, run-time mode override, idempotency records",
    ),
    Permission(("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"), ("${StateKeyArn}",),
               condition={"StringLike": {"kms:ViaService": ["dynamodb.*.amazonaws.com", "sqs.*.amazonaws.com"]}},
               why="the state table and the dead-letter queue are encrypted with Caretaker's state key; "
                   "Lambda writes the DLQ with this role; only through DynamoDB and SQS"),
    Permission(("sns:Publish",), ("${AlertTopicArn}", "${AlertTopicArn}-chat"),
               why="notifications: the alert topic, and the chat topic named after it (AWS Chatbot's format)"),
    Permission(("kms:GenerateDataKey", "kms:Decrypt"), ("${AlertKeyArn}",),
               condition={"StringLike": {"kms:ViaService": "sns.*.amazonaws.com"}},
               why="publish to the alert and chat topics, encrypted with their own key; only through SNS"),
    Permission(("sqs:SendMessage",), ("${DeadLetterQueueArn}",), why="dead-letter queue"),
    Permission(("logs:CreateLogStream", "logs:PutLogEvents"), ("${LogGroupArn}",), why="own log group"),
)

#: Added to the role of every function declared with `continues=True`: its own function, nothing else.
CONTINUATION_PERMISSION = Permission(("lambda:InvokeFunction",), ("${FunctionArn}",),
                                     why="continue a long run in a new invocation of this function")
