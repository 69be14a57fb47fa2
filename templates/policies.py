"""Pure functions turning `Permission` declarations into IAM policy documents.

A permission's resources are `Fn::Sub` strings. The placeholders listed in
`spec.RESOURCE_VARIABLES` are bound per function through Sub's variable map;
`${AWS::...}` pseudo parameters are left for CloudFormation to fill in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from troposphere import AWSHelperFn, Sub

from automations.core.spec import Permission

POLICY_VERSION = "2012-10-17"
_VARIABLE_RE = re.compile(r"\$\{([^}!]+)\}")

#: What a resource variable may be bound to: an intrinsic function (GetAtt, ImportValue, Ref...) or a string.
Binding: TypeAlias = AWSHelperFn | str


def resource_variables(resource: str) -> list[str]:
    """The non-pseudo placeholders a resource string uses, in order of first appearance."""
    names: list[str] = []
    for name in _VARIABLE_RE.findall(resource):
        if not name.startswith("AWS::") and name not in names:
            names.append(name)
    return names


def resource_value(resource: str, bindings: Mapping[str, Binding]) -> str | Sub:
    """A resource string as template value: literal when it has no placeholder, else `Fn::Sub`.

    Only the variables the string uses go into Sub's variable map (cfn-lint flags unused ones).
    """
    if "${" not in resource:
        return resource
    names = resource_variables(resource)
    missing = [name for name in names if name not in bindings]
    if missing:
        raise KeyError(f"resource {resource!r} uses unbound variables {missing}")
    return Sub(resource, **{name: bindings[name] for name in names})


def statement(permission: Permission, bindings: Mapping[str, Binding]) -> dict[str, Any]:
    """One Allow statement: the permission's actions on its resources, under its condition."""
    result: dict[str, Any] = {
        "Effect": "Allow",
        "Action": list(permission.actions),
        "Resource": [resource_value(resource, bindings) for resource in permission.resources],
    }
    if permission.condition:
        result["Condition"] = {operator: dict(values) for operator, values in permission.condition.items()}
    return result


def policy_document(permissions: Iterable[Permission], bindings: Mapping[str, Binding]) -> dict[str, Any]:
    """A policy document with one statement per permission, in declaration order."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [statement(permission, bindings) for permission in permissions],
    }


def assume_role_document(service: str) -> dict[str, Any]:
    """The trust policy that lets one AWS service principal assume a role."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": [service]},
            "Action": ["sts:AssumeRole"],
        }],
    }
