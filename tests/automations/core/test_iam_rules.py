"""The IAM rules a `Permission` must follow: refused at declaration, with a message that says why."""

from __future__ import annotations

import pytest

from automations.core import iam_rules
from automations.core.spec import Permission

ANY = ("*",)
PROTECT = {"StringNotEqualsIgnoreCase": {"aws:ResourceTag/caretaker:protect": "true"}}


@pytest.mark.parametrize("action", ["ec2:DeleteTags", "logs:UntagResource", "iam:UntagUser", "iam:UntagRole",
                                    "elasticloadbalancing:RemoveTags", "ssm:RemoveTagsFromResource",
                                    "s3:DeleteObjectTagging", "ec2:Delete*", "ec2:*", "*:Untag*"])
def test_tag_removing_actions_are_recognised(action: str) -> None:
    assert iam_rules.removes_tags(action)


@pytest.mark.parametrize("action", ["ec2:CreateTags", "ec2:DeleteSnapshot", "logs:TagResource",
                                    "ec2:Describe*", "iam:ListUserTags", "secretsmanager:TagResource"])
def test_other_actions_do_not_count_as_tag_removal(action: str) -> None:
    assert not iam_rules.removes_tags(action)


def test_delete_tags_limited_to_keys_without_the_null_guard_is_refused() -> None:
    with pytest.raises(ValueError, match="Null"):
        Permission(("ec2:CreateTags", "ec2:DeleteTags"), ANY,
                   condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["caretaker:cleanup-after"]}})


def test_delete_tags_without_any_key_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limit the keys"):
        Permission(("ec2:DeleteTags",), ANY, condition=PROTECT)
    with pytest.raises(ValueError, match="limit the keys"):
        Permission(("ec2:*",), ANY)


def test_only_tag_keys_builds_the_guarded_condition() -> None:
    condition = iam_rules.only_tag_keys("caretaker:cleanup-after")
    assert condition == {"ForAllValues:StringEquals": {"aws:TagKeys": ["caretaker:cleanup-after"]},
                         "Null": {"aws:TagKeys": "false"}}
    Permission(("ec2:CreateTags", "ec2:DeleteTags"), ANY, condition=condition)
    with pytest.raises(ValueError):
        iam_rules.only_tag_keys()


def test_create_access_key_without_an_opt_in_tag_is_refused() -> None:
    for condition in (None, PROTECT,  # negated: true for a user without tags
                      {"StringEqualsIfExists": {"aws:ResourceTag/caretaker:rotate": "true"}},
                      {"Null": {"aws:ResourceTag/caretaker:rotate": "true"}},
                      {"StringEquals": {"aws:RequestTag/caretaker:rotate": "true"}}):
        with pytest.raises(ValueError, match="opt-in tag"):
            Permission(("iam:CreateAccessKey",), ANY, condition=condition)
    with pytest.raises(ValueError, match="opt-in tag"):
        Permission(("iam:*AccessKey",), ANY, condition=PROTECT)


@pytest.mark.parametrize("condition", [
    {"StringEqualsIgnoreCase": {"aws:ResourceTag/caretaker:rotate": "true"}},
    {"StringLike": {"aws:ResourceTag/caretaker:rotation-secret": "caretaker/*"}, **PROTECT},
    {"Null": {"iam:ResourceTag/caretaker:rotate": "false"}},
])
def test_create_and_delete_access_key_with_an_opt_in_tag_are_accepted(condition: dict[str, dict[str, str]]) -> None:
    Permission(("iam:CreateAccessKey", "iam:DeleteAccessKey"), ANY, condition=condition)


def test_update_access_key_needs_a_condition_on_the_users_tags() -> None:
    with pytest.raises(ValueError, match="UpdateAccessKey"):
        Permission(("iam:UpdateAccessKey",), ANY)
    Permission(("iam:UpdateAccessKey",), ANY, condition=PROTECT)


def test_describe_actions_with_a_resource_type_must_be_scoped_to_it() -> None:
    image = "arn:aws:ec2:us-east-1::image/*"
    assert "image" in str(iam_rules.describe_scope_problem("ec2:DescribeImageAttribute", ["*"]))
    assert iam_rules.describe_scope_problem("ec2:DescribeImageAttribute", [image]) is None
    assert iam_rules.describe_scope_problem("kms:DescribeKey", ["import:StateKeyArn"]) is None  # an exact ARN
    assert iam_rules.describe_scope_problem("ec2:DescribeImages", ["*"]) is None  # AWS allows only *
    assert iam_rules.describe_scope_problem("s3:GetObject", ["*"]) is None
    assert "look up" in str(iam_rules.describe_scope_problem("ec2:DescribeVpcEndpoints", ["*"]))
    assert "look up" in str(iam_rules.describe_scope_problem("ec2:Describe*", ["*"]))
