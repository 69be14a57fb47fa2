"""The providers' rendered IAM policies, evaluated: a provider's role cannot adopt a foreign secret or parameter
by tagging it, cannot read or change one it did not create, and EmptyBucket's polling touches only its own
EventBridge rules (docs/security-model.md, section 2).

moto does not evaluate IAM, so the statements of the rendered template are evaluated here for the condition
operators they use (an operator this evaluator does not know fails the test rather than passing it).
Assumption, stated in the docs: when a create call carries tags, AWS authorises the tagging with the new
resource's tags being those of the request.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from automations.core.spec import pascal
from custom_resources import empty_bucket, random_secret, secure_string_parameter
from templates.stacks import StackDef, render_all

ACCOUNT, REGION = "123456789012", "us-east-1"
PSEUDO = {"${AWS::Partition}": "aws", "${AWS::Region}": REGION, "${AWS::AccountId}": ACCOUNT}
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:team/db-password-AbCdEf"
PARAMETER = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/team/api-key"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/app/6b1e1b40-0000-4000-8000-000000000000"
KEYS = ["caretaker:automation", "caretaker:stack", "caretaker:stack-id"]


@pytest.fixture(scope="module")
def stacks() -> list[StackDef]:
    return render_all("caretaker-code-000000000000.zip", "caretaker-deps-000000000000.zip",
                      "caretaker-bytecode-000000000000.zip")


def statements(stacks: list[StackDef], module: Any) -> list[dict[str, Any]]:
    (stack,) = [s for s in stacks if any(f.spec.name == module.SPEC.name for f in s.functions)]
    role = stack.template.to_dict()["Resources"][f"{pascal(module.SPEC.name)}Role"]
    (policy,) = role["Properties"]["Policies"]
    own_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{module.SPEC.function_name}"
    return [{**s, "Resource": [resource_text(r).replace("${FunctionArn}", own_arn) for r in s["Resource"]]}
            for s in policy["PolicyDocument"]["Statement"]]


def resource_text(value: Any) -> str:
    """A rendered resource as an ARN pattern: pseudo parameters substituted (other variables are left)."""
    text = value if isinstance(value, str) else value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) \
        else value["Fn::Sub"][0]
    for variable, replacement in PSEUDO.items():
        text = text.replace(variable, replacement)
    return str(text)


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def condition_holds(operator: str, key: str, expected: Any, context: dict[str, Any]) -> bool:
    wanted = _as_list(expected)
    present = key in context
    actual = _as_list(context[key]) if present else []
    if operator == "StringEquals":
        return present and any(a in wanted for a in actual)
    if operator == "StringLike":
        return present and any(fnmatch.fnmatchcase(a, w) for a in actual for w in wanted)
    if operator == "Null":
        return (not present) == (wanted == ["true"])
    if operator == "ForAllValues:StringEquals":
        return all(a in wanted for a in actual)
    raise AssertionError(f"this evaluator does not know the condition operator {operator}")


def allowed(policy: list[dict[str, Any]], action: str, resource: str, context: dict[str, Any] | None = None) -> bool:
    """Whether some Allow statement grants the action on the resource in this request context (no Deny is
    rendered: the test would have to learn it)."""
    context = context or {}
    for statement in policy:
        assert statement["Effect"] == "Allow"
        if not any(fnmatch.fnmatchcase(action, a) for a in _as_list(statement["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in statement["Resource"]):
            continue
        if all(condition_holds(op, key, value, context)
               for op, values in statement.get("Condition", {}).items() for key, value in values.items()):
            return True
    return False


def request_tags(automation: str, *, stack_id: str | None = STACK_ID, extra: dict[str, str] | None = None
                 ) -> dict[str, Any]:
    tags = {"caretaker:automation": automation, "caretaker:stack": "app", **(extra or {})}
    if stack_id:
        tags["caretaker:stack-id"] = stack_id
    return {**{f"aws:RequestTag/{k}": v for k, v in tags.items()}, "aws:TagKeys": list(tags)}


def resource_tags(tags: dict[str, str]) -> dict[str, Any]:
    return {f"aws:ResourceTag/{k}": v for k, v in tags.items()}


OWN = {"caretaker:automation": "random-secret", "caretaker:stack-id": STACK_ID}


# ---------------------------------------------------------------------------- adoption by tagging


#: the tagging actions of the stored-value providers, with a resource of each
TAGGING = pytest.mark.parametrize(("action", "arn"), [("secretsmanager:TagResource", SECRET),
                                                      ("ssm:AddTagsToResource", PARAMETER)])


@TAGGING
def test_provider_role_cannot_adopt_a_foreign_resource_by_tagging_it(stacks: list[StackDef], action: str,
                                                                     arn: str) -> None:
    policy = statements(stacks, random_secret)
    foreign = resource_tags({"team": "payments"})

    assert not allowed(policy, action, arn, {**request_tags("random-secret"), **foreign})
    assert not allowed(policy, action, arn, request_tags("random-secret"))  # an untagged resource


@TAGGING
def test_provider_role_cannot_rebind_or_retag_with_foreign_keys(stacks: list[StackDef], action: str, arn: str) -> None:
    policy = statements(stacks, random_secret)
    other_function = resource_tags({"caretaker:automation": "secure-string-parameter"})

    assert not allowed(policy, action, arn, {**request_tags("random-secret"), **other_function})
    assert not allowed(policy, action, arn, {**request_tags("random-secret", extra={"team": "x"}),
                                             **resource_tags(OWN)})
    assert not allowed(policy, "secretsmanager:UntagResource", SECRET, resource_tags(OWN))
    assert not allowed(policy, "ssm:RemoveTagsFromResource", PARAMETER, resource_tags(OWN))


@pytest.mark.parametrize("action", ["secretsmanager:CreateSecret", "ssm:PutParameter"])
def test_provider_role_creates_only_with_its_tag_and_an_owning_stack(stacks: list[StackDef], action: str) -> None:
    policy = statements(stacks, random_secret)
    arn = SECRET if action.startswith("secretsmanager") else PARAMETER

    assert allowed(policy, action, arn, request_tags("random-secret"))
    assert not allowed(policy, action, arn, request_tags("random-secret", stack_id=None))
    assert not allowed(policy, action, arn, request_tags("secure-string-parameter"))
    assert not allowed(policy, action, arn, request_tags("random-secret", extra={"team": "x"}))
    assert not allowed(policy, action, arn, {})  # no tags at all


@pytest.mark.parametrize(("module", "action", "arn"), [
    (random_secret, "secretsmanager:TagResource", SECRET),
    (random_secret, "ssm:AddTagsToResource", PARAMETER),
    (secure_string_parameter, "ssm:AddTagsToResource", PARAMETER),
])
def test_tagging_at_creation_and_of_own_resources_keeps_working(stacks: list[StackDef], module: Any, action: str,
                                                                arn: str) -> None:
    policy = statements(stacks, module)
    own = {"caretaker:automation": module.NAME, "caretaker:stack-id": STACK_ID}

    assert allowed(policy, action, arn, {**request_tags(module.NAME), **resource_tags(own)})


# ---------------------------------------------------------------------------- reading and changing


@pytest.mark.parametrize(("action", "arn"), [
    ("secretsmanager:GetSecretValue", SECRET), ("secretsmanager:DescribeSecret", SECRET),
    ("secretsmanager:PutSecretValue", SECRET), ("secretsmanager:DeleteSecret", SECRET),
    ("ssm:GetParameter", PARAMETER), ("ssm:PutParameter", PARAMETER), ("ssm:DeleteParameter", PARAMETER),
    ("ssm:ListTagsForResource", PARAMETER),
])
def test_provider_role_cannot_read_or_change_what_it_did_not_create(stacks: list[StackDef], action: str,
                                                                   arn: str) -> None:
    policy = statements(stacks, random_secret)

    assert allowed(policy, action, arn, resource_tags(OWN))
    assert not allowed(policy, action, arn, resource_tags({"team": "payments"}))
    assert not allowed(policy, action, arn, resource_tags({"caretaker:automation": "secure-string-parameter"}))


def test_secure_string_parameter_role_cannot_touch_random_secret_parameters(stacks: list[StackDef]) -> None:
    policy = statements(stacks, secure_string_parameter)
    theirs = resource_tags(OWN)  # caretaker:automation=random-secret

    for action in ("ssm:PutParameter", "ssm:DeleteParameter", "ssm:ListTagsForResource"):  # overwrite: no tags
        assert not allowed(policy, action, PARAMETER, theirs), action
    assert not allowed(policy, "ssm:AddTagsToResource", PARAMETER, {**request_tags("secure-string-parameter"),
                                                                     **theirs})
    assert not allowed(policy, "ssm:GetParameter", PARAMETER, resource_tags(
        {"caretaker:automation": "secure-string-parameter"}))  # it never reads values back


# ---------------------------------------------------------------------------- EmptyBucket


@pytest.mark.parametrize("action", ["events:PutRule", "events:PutTargets", "events:RemoveTargets",
                                    "events:DeleteRule"])
def test_empty_bucket_polling_cannot_touch_other_rules(stacks: list[StackDef], action: str) -> None:
    policy = statements(stacks, empty_bucket)
    rules = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/"

    assert allowed(policy, action, rules + "caretaker-empty-bucket-poll-AB12CD34")
    assert not allowed(policy, action, rules + "security-alerts")
    assert not allowed(policy, action, rules + "EmptyDataBucketAB12CD34")  # crhelper's default naming
    assert not allowed(policy, action, rules + "caretaker-security-rule")


def test_empty_bucket_reads_any_stack_but_changes_none(stacks: list[StackDef]) -> None:
    policy = statements(stacks, empty_bucket)
    stack = STACK_ID

    assert allowed(policy, "cloudformation:DescribeStackResources", stack)
    assert allowed(policy, "cloudformation:ListStackResources", stack)
    for action in ("cloudformation:UpdateStack", "cloudformation:DeleteStack", "cloudformation:SetStackPolicy"):
        assert not allowed(policy, action, stack), action


def test_empty_bucket_may_let_only_eventbridge_invoke_it(stacks: list[StackDef]) -> None:
    policy = statements(stacks, empty_bucket)
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:caretaker-empty-bucket"

    assert allowed(policy, "lambda:AddPermission", function, {"lambda:Principal": "events.amazonaws.com"})
    assert not allowed(policy, "lambda:AddPermission", function, {"lambda:Principal": "*"})
    assert not allowed(policy, "lambda:AddPermission", function, {"lambda:Principal": "210987654321"})
    assert not allowed(policy, "lambda:AddPermission", function.replace("empty-bucket", "random-secret"),
                       {"lambda:Principal": "events.amazonaws.com"})
