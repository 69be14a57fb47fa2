"""Rules every IAM statement Caretaker declares must follow.

Standard library only, like `spec`: it runs inside Lambda when handler modules are imported.
`spec.Permission` refuses a declaration that breaks the tag-removal or access-key rule (`refusals`),
so no function can be declared (or deployed) with such a statement; the registry meta-test in
`tests/adversarial/templates/` checks every function's rendered policy against all three rules,
the Describe rule included (`describe_scope_problem`: a test failure rather than an import error,
because classifying a new Describe action needs the service authorization reference, not a code
change). See docs/security-model.md section 6.

- **Tag removal.** A statement that removes tags must limit the keys it removes
  (`ForAllValues:...` on `aws:TagKeys`) *and* carry `Null: {aws:TagKeys: "false"}`. `ForAllValues`
  is true for an empty set of keys, and a DeleteTags call with no tag list removes *every* tag of
  the resource, `caretaker:protect` included; the `Null` guard refuses the call without keys.
  `only_tag_keys()` builds the condition.
- **Access-key lifecycle.** `iam:CreateAccessKey` and `iam:DeleteAccessKey` need an opt-in: a
  positive condition on a tag of the user (`aws:ResourceTag/...` with a non-negated operator, which
  is false for a user without the tag). `iam:UpdateAccessKey` needs at least a condition on the
  user's tags (e.g. not `caretaker:protect=true`). So no role may mint or delete keys of every user.
- **Describe actions** that AWS lets scope to a resource type are scoped to it (not `*`): see
  `SCOPABLE_DESCRIBE_ACTIONS`; `UNSCOPED_DESCRIBE_ACTIONS` lists the ones AWS only allows on `*`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Any

TAG_KEYS = "aws:TagKeys"
#: The condition that refuses a tag-removing call without a tag list (which would remove every tag).
TAG_KEYS_PRESENT: Mapping[str, Mapping[str, str]] = {"Null": {TAG_KEYS: "false"}}

#: Action names (after the service prefix) that remove tags: ec2:DeleteTags, logs:UntagResource,
#: iam:UntagUser, elasticloadbalancing:RemoveTags, ssm:RemoveTagsFromResource, s3:DeleteObjectTagging...
_TAG_REMOVING = re.compile(r"^(Untag[A-Za-z]*|RemoveTags[A-Za-z]*|Delete[A-Za-z]*Tags|Delete[A-Za-z]*Tagging)$")
#: Examples a wildcard action (`ec2:Delete*`, `*:Untag*`, `*`) is matched against.
_TAG_REMOVING_EXAMPLES = ("DeleteTags", "UntagResource", "UntagUser", "UntagRole", "RemoveTags",
                          "RemoveTagsFromResource", "DeleteObjectTagging", "DeleteBucketTagging")

#: The IAM access-key lifecycle. Creating or deleting needs an opt-in tag of the user; updating
#: (deactivating) needs at least a condition on its tags.
KEY_OPT_IN_ACTIONS = ("iam:CreateAccessKey", "iam:DeleteAccessKey")
KEY_LIFECYCLE_ACTIONS = (*KEY_OPT_IN_ACTIONS, "iam:UpdateAccessKey")
_RESOURCE_TAG = re.compile(r"^(aws|iam):ResourceTag/.+$", re.IGNORECASE)

#: Describe actions with a resource type in the service authorization reference -> the ARN fragment
#: of that type (or the fragments, when it lists several). Granting them on `*` gives more than the handler needs.
SCOPABLE_DESCRIBE_ACTIONS: Mapping[str, str | tuple[str, ...]] = {
    "ec2:DescribeImageAttribute": ":image/",
    "ec2:DescribeInstanceAttribute": ":instance/",
    "ec2:DescribeSnapshotAttribute": ":snapshot/",
    "ec2:DescribeVolumeAttribute": ":volume/",
    "ec2:DescribeNetworkInterfaceAttribute": ":network-interface/",
    "kms:DescribeKey": ":key/",
    "secretsmanager:DescribeSecret": ":secret:",
    "logs:DescribeLogGroups": ":log-group:",
    "dynamodb:DescribeTable": ":table/",
    "events:DescribeRule": ":rule/",
    "cloudformation:DescribeStacks": ":stack/",
    "cloudformation:DescribeStackResource": ":stack/",
    "cloudformation:DescribeStackResources": ":stack/",
    "rds:DescribeDBInstances": ":db:",
    "rds:DescribeDBClusters": ":cluster:",
    "rds:DescribeDBSnapshots": (":db:", ":snapshot:"),
    "rds:DescribeDBClusterSnapshots": (":cluster:", ":cluster-snapshot:"),
    "elasticfilesystem:DescribeFileSystems": ":file-system/",
}
#: Describe actions the reference lists without a resource type: `*` is the only resource AWS accepts.
#: A Describe action in neither table is refused by the registry tests until someone looks it up.
UNSCOPED_DESCRIBE_ACTIONS = frozenset({
    "ec2:DescribeAddresses", "ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeLaunchTemplates",
    "ec2:DescribeLaunchTemplateVersions", "ec2:DescribeNatGateways", "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeRegions",
    "ec2:DescribeSecurityGroupRules", "ec2:DescribeSecurityGroups", "ec2:DescribeSnapshots", "ec2:DescribeVolumes",
    "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "cloudtrail:DescribeTrails",
    "elasticloadbalancing:DescribeTags",  # Elastic Load Balancing's Describe* actions take only "*"
    "organizations:DescribeOrganization",  # an account-level read: no resource type
})


def only_tag_keys(*keys: str) -> dict[str, dict[str, Any]]:
    """The condition of a tagging statement that may add or remove only `keys`, never a call without keys."""
    if not keys:
        raise ValueError("name the tag keys the statement may change")
    return {"ForAllValues:StringEquals": {TAG_KEYS: list(keys)}, **{op: dict(v) for op, v in TAG_KEYS_PRESENT.items()}}


def removes_tags(action: str) -> bool:
    """Whether an IAM action (or a wildcard pattern such as `ec2:Delete*`) can remove tags."""
    _, _, name = action.partition(":")
    if action == "*":
        name = "*"
    if "*" in name:
        return any(fnmatch.fnmatchcase(example, name) for example in _TAG_REMOVING_EXAMPLES)
    return bool(_TAG_REMOVING.match(name))


def _covers(action: str, wanted: str) -> bool:
    return fnmatch.fnmatchcase(wanted.lower(), action.lower())


def tag_removal_problem(condition: Mapping[str, Mapping[str, Any]] | None) -> str | None:
    """Why a condition does not make a tag-removing statement safe, or None when it does."""
    condition = condition or {}
    limited = any(op.lower().startswith("forallvalues:") and TAG_KEYS in values for op, values in condition.items())
    if not limited:
        return (f"a statement that removes tags must limit the keys (ForAllValues:... on {TAG_KEYS}); "
                "use iam_rules.only_tag_keys()")
    guard = condition.get("Null", {}).get(TAG_KEYS)
    if str(guard).lower() != "false":
        return (f"a statement that removes tags must carry Null {{{TAG_KEYS}: false}}: ForAllValues is true "
                "for a call without a tag list, which removes every tag (caretaker:protect included); "
                "use iam_rules.only_tag_keys()")
    return None


def _positive_tag_condition(condition: Mapping[str, Mapping[str, Any]]) -> bool:
    """A non-negated test of a resource tag: false for a resource without the tag."""
    for operator, values in condition.items():
        op = operator.lower()
        tagged = [key for key in values if _RESOURCE_TAG.match(key)]
        if not tagged or op.endswith("ifexists") or op.startswith("forallvalues:"):
            continue  # these match a resource without the tag
        if op == "null":
            if any(str(values[key]).lower() == "false" for key in tagged):
                return True
        elif "not" not in op:
            return True
    return False


def key_lifecycle_problem(actions: Iterable[str], condition: Mapping[str, Mapping[str, Any]] | None) -> str | None:
    """Why a statement with these actions may not change access keys as declared, or None."""
    actions = tuple(actions)
    condition = condition or {}
    opt_in = [a for a in KEY_OPT_IN_ACTIONS if any(_covers(action, a) for action in actions)]
    if opt_in and not _positive_tag_condition(condition):
        return (f"{', '.join(opt_in)} need an opt-in tag of the user: a non-negated condition on "
                "aws:ResourceTag/<key> (a user without the tag must not match)")
    lifecycle = [a for a in KEY_LIFECYCLE_ACTIONS if any(_covers(action, a) for action in actions)]
    if lifecycle and not any(_RESOURCE_TAG.match(key) for values in condition.values() for key in values):
        return f"{', '.join(lifecycle)} need a condition on the user's tags (aws:ResourceTag/<key>)"
    return None


def describe_scope_problem(action: str, resources: Iterable[str]) -> str | None:
    """Why a Describe action is granted wider than AWS allows to scope it, or None (registry tests)."""
    _, _, name = action.partition(":")
    if not name.startswith("Describe"):
        return None
    resources = tuple(resources)
    scoped = SCOPABLE_DESCRIBE_ACTIONS.get(action)
    if scoped is not None:
        fragments = (scoped,) if isinstance(scoped, str) else scoped
        wide = [r for r in resources if "*" in r and not any(f in r for f in fragments)]  # an exact ARN is scoped
        shown = " or ".join(f"'*{f}*'" for f in fragments)
        return f"{action} can be scoped to resources {shown}, not {wide}" if wide else None
    if action not in UNSCOPED_DESCRIBE_ACTIONS:
        return (f"{action}: look up its resource types in the service authorization reference and list it in "
                "iam_rules.SCOPABLE_DESCRIBE_ACTIONS or UNSCOPED_DESCRIBE_ACTIONS")
    return None


def refusals(actions: Iterable[str], condition: Mapping[str, Mapping[str, Any]] | None) -> list[str]:
    """What is wrong with an Allow statement of these actions under this condition (empty: nothing)."""
    actions = tuple(actions)
    problems: list[str] = []
    removing = [a for a in actions if removes_tags(a)]
    if removing:
        problem = tag_removal_problem(condition)
        if problem:
            problems.append(f"{', '.join(removing)}: {problem}")
    problem = key_lifecycle_problem(actions, condition)
    if problem:
        problems.append(problem)
    return problems
