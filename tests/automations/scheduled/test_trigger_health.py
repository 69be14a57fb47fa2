"""trigger-health: rules disabled, deleted, retargeted or narrowed, schedules that stopped running, failed runs and
dead letters are each alerted once; resolved problems are reported; the canary never acts on anything."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from automations.cli.moto_compat import lambda_dead_letter_config
from automations.core.errors import SettingsError
from automations.core.ledger import run_items
from automations.core.registry import get
from automations.core.spec import CloudTrail
from automations.core.state_log import StateLog
from automations.scheduled.trigger_health import HEALTH_PK_PREFIX, handler
from tests.automations.conftest import REGION, LambdaContext
from tests.automations.scheduled.cleanup_harness import Harness, client, harness
from tests.notifications import message_body
from tests.recording import RecordingClients

ACCOUNT = "123456789012"
SCHEDULED, REACTIVE, PROVIDER = get("ebs-snapshots"), get("sg-open-world"), get("random-secret")
CHECKED = f"{SCHEDULED.name},{REACTIVE.name},{PROVIDER.name}"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


class Account:
    """Caretaker functions, their rules and dead-letter queues, as a deployment leaves them (in moto)."""

    def __init__(self) -> None:
        self.role = client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
        self.queues: dict[str, str] = {}
        self.rules: dict[str, str] = {}

    def deploy(self, name: str) -> str:
        spec = get(name)
        queue = client("sqs").create_queue(QueueName=f"{spec.function_name}-dlq")["QueueUrl"]
        queue_arn = client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.queues[name] = queue
        arn = str(client("lambda").create_function(
            FunctionName=spec.function_name, Runtime="python3.13", Role=self.role, Handler="index.handler",
            Code={"ZipFile": _zip()}, DeadLetterConfig={"TargetArn": queue_arn})["FunctionArn"])
        trigger = spec.trigger
        rule_name = f"caretaker-stack-{spec.name}-rule"
        if hasattr(trigger, "expression"):
            client("events").put_rule(Name=rule_name, ScheduleExpression=trigger.expression, State="ENABLED")
        elif hasattr(trigger, "pattern"):
            client("events").put_rule(Name=rule_name, EventPattern=json.dumps(trigger.pattern()), State="ENABLED")
        else:
            return arn
        client("events").put_targets(Rule=rule_name, Targets=[{"Id": "Function", "Arn": arn}])
        self.rules[name] = rule_name
        return arn


@pytest.fixture(autouse=True)
def _lambda_keeps_dead_letter_config() -> Iterator[None]:
    """moto 5.2.5 drops a function's DeadLetterConfig (real Lambda returns it): the emulator's shim."""
    with lambda_dead_letter_config():
        yield


@pytest.fixture
def h(monkeypatch: pytest.MonkeyPatch, lambda_context: LambdaContext) -> Harness:
    return harness(handler, monkeypatch, lambda_context, mode="enforce", functions=CHECKED)


@pytest.fixture
def account(h: Harness) -> Account:
    account = Account()
    for name in (SCHEDULED.name, REACTIVE.name, PROVIDER.name):
        account.deploy(name)
    h.clock.advance(days=3)  # the functions were deployed three days before the checks (LastModified is real time)
    return account


def ran(h: Harness, name: str, *, hours_ago: float, status: str = "ok", error: str | None = None) -> str:
    """A run summary of `name` as the runtime writes it, `hours_ago` before the harness clock."""
    at = h.clock.now - timedelta(hours=hours_ago)
    state = StateLog(h.table, client("dynamodb"), automation=name, run_id=f"run-{name}-{hours_ago}",
                     clock=lambda: at)
    state.start_run(mode="enforce")
    extra: dict[str, Any] = {"error": error} if error else {}
    state.finish_run(status, **extra)
    return state.run_id


def problems(result: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["function"], p["kind"]) for p in result["problems"]}


def actions(h: Harness, run_id: str) -> list[tuple[str, str, str]]:
    return sorted((i["resource_id"], i["action"], i["outcome"])
                  for i in run_items(client("dynamodb"), h.table, run_id) if i["type"] == "action")


def canary_messages(h: Harness) -> list[dict[str, Any]]:
    return [m for m in h.messages() if "trigger-health" in m["Subject"] and "run " not in m["Subject"]]


def test_a_healthy_deployment_is_checked_and_nothing_is_sent(h: Harness, account: Account) -> None:
    ran(h, SCHEDULED.name, hours_ago=2)

    result = h.invoke()

    assert result["problems"] == []
    assert result["checked"] == 3 and result["healthy"] == 3
    assert actions(h, result["run_id"]) == []
    assert canary_messages(h) == []


def test_a_disabled_rule_is_alerted_once_then_reported_resolved(h: Harness, account: Account) -> None:
    ran(h, SCHEDULED.name, hours_ago=2)
    client("events").disable_rule(Name=account.rules[REACTIVE.name])

    first = h.invoke()
    [alert] = canary_messages(h)
    second = h.invoke()
    client("events").enable_rule(Name=account.rules[REACTIVE.name])
    third = h.invoke()

    assert problems(first) == {(REACTIVE.name, "rule-disabled")}
    assert actions(h, first["run_id"]) == [(REACTIVE.name, "report-problem", "planned"),
                                           (REACTIVE.name, "report-problem", "succeeded")]
    assert "1 new problem" in alert["Subject"]
    assert message_body(alert["Message"])["new"][0]["kind"] == "rule-disabled"
    assert problems(second) == {(REACTIVE.name, "rule-disabled")}
    assert actions(h, second["run_id"]) == [(REACTIVE.name, "report-problem", "skipped")]  # not alerted again
    assert problems(third) == set()
    assert actions(h, third["run_id"]) == [(REACTIVE.name, "report-resolved", "planned"),
                                           (REACTIVE.name, "report-resolved", "succeeded")]
    [resolved] = canary_messages(h)
    assert "1 resolved" in resolved["Subject"]
    assert client("dynamodb").query(TableName=h.table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={
        ":pk": {"S": HEALTH_PK_PREFIX + "trigger-health"}})["Items"] == []


def test_a_deleted_rule_and_a_retargeted_rule_are_found(h: Harness, account: Account) -> None:
    ran(h, SCHEDULED.name, hours_ago=2)
    events = client("events")
    events.remove_targets(Rule=account.rules[REACTIVE.name], Ids=["Function"])
    events.delete_rule(Name=account.rules[REACTIVE.name])
    events.remove_targets(Rule=account.rules[SCHEDULED.name], Ids=["Function"])
    events.put_targets(Rule=account.rules[SCHEDULED.name],
                       Targets=[{"Id": "Elsewhere", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:attacker"}])

    result = h.invoke()

    assert problems(result) == {(REACTIVE.name, "no-rule"), (SCHEDULED.name, "no-rule")}


def test_a_narrowed_event_pattern_silences_nothing(h: Harness, account: Account) -> None:
    ran(h, SCHEDULED.name, hours_ago=2)
    assert isinstance(REACTIVE.trigger, CloudTrail)
    narrowed = REACTIVE.trigger.pattern()
    narrowed["detail"]["eventName"] = ["NoSuchCall"]
    client("events").put_rule(Name=account.rules[REACTIVE.name], EventPattern=json.dumps(narrowed))

    result = h.invoke()

    assert problems(result) == {(REACTIVE.name, "pattern-changed")}
    assert "NoSuchCall" in result["problems"][0]["detail"]


def test_a_schedule_that_stopped_running_is_a_missed_run(h: Harness, account: Account) -> None:
    ran(h, SCHEDULED.name, hours_ago=50)  # rate(1 day): due within the last 24 h (+30 min grace)

    result = h.invoke()

    assert problems(result) == {(SCHEDULED.name, "missed-run")}
    assert "rate(1 day)" in result["problems"][0]["detail"]


def test_the_deployed_schedule_counts_not_the_declared_one(h: Harness, account: Account) -> None:
    client("events").put_rule(Name=account.rules[SCHEDULED.name], ScheduleExpression="rate(7 days)")
    ran(h, SCHEDULED.name, hours_ago=50)

    assert problems(h.invoke()) == set()


def test_a_function_never_run_since_deploy_is_late_but_not_before_it_was_due(h: Harness,
                                                                            account: Account) -> None:
    assert problems(h.invoke()) == {(SCHEDULED.name, "missed-run")}  # deployed 3 days ago, never ran
    h.clock.advance(days=-3, hours=1)  # one hour after the deploy: not yet due
    assert problems(h.invoke()) == set()


def test_a_failed_latest_run_is_alerted(h: Harness, account: Account) -> None:
    ran(h, SCHEDULED.name, hours_ago=30)
    ran(h, SCHEDULED.name, hours_ago=2, status="failed", error="AccessDenied: ec2:CreateSnapshots")

    result = h.invoke()

    assert problems(result) == {(SCHEDULED.name, "last-run-failed")}
    assert "AccessDenied" in result["problems"][0]["detail"]


def test_dead_letters_and_a_deleted_function_are_found(h: Harness, account: Account) -> None:
    ran(h, SCHEDULED.name, hours_ago=2)
    account.deploy("root-activity")  # the security stack stays deployed when one of its functions is deleted
    client("sqs").send_message(QueueUrl=account.queues[PROVIDER.name], MessageBody="{}")
    client("lambda").delete_function(FunctionName=REACTIVE.function_name)

    result = h.invoke(functions=CHECKED + ",root-activity")

    assert problems(result) == {(PROVIDER.name, "dead-letters"), (REACTIVE.name, "function-missing")}


def test_a_stack_that_is_not_deployed_is_not_a_problem(h: Harness, account: Account) -> None:
    ran(h, SCHEDULED.name, hours_ago=2)
    client("lambda").delete_function(FunctionName=PROVIDER.function_name)  # the only one of its stack checked

    result = h.invoke()

    assert problems(result) == set() and result["checked"] == 2
    assert result["not_deployed_stacks"] == ["custom-resources"]


def test_audit_mode_records_what_it_would_report_and_sends_nothing(h: Harness, account: Account) -> None:
    client("events").disable_rule(Name=account.rules[REACTIVE.name])
    ran(h, SCHEDULED.name, hours_ago=2)

    first = h.invoke(mode="audit")
    second = h.invoke(mode="audit")

    assert actions(h, first["run_id"]) == [(REACTIVE.name, "report-problem", "planned")]
    assert actions(h, second["run_id"]) == [(REACTIVE.name, "report-problem", "planned")]  # nothing remembered
    assert canary_messages(h) == []


def test_an_alert_that_could_not_be_sent_is_sent_by_the_next_run(h: Harness, account: Account) -> None:
    client("events").disable_rule(Name=account.rules[REACTIVE.name])
    ran(h, SCHEDULED.name, hours_ago=2)
    broken = RecordingClients()
    broken.fail("sns", "Publish", "InternalError")

    first = h.invoke(clients=broken)
    second = h.invoke()

    assert actions(h, first["run_id"]) == [(REACTIVE.name, "report-problem", "failed"),
                                           (REACTIVE.name, "report-problem", "planned")]
    assert actions(h, second["run_id"]) == [(REACTIVE.name, "report-problem", "planned"),
                                            (REACTIVE.name, "report-problem", "succeeded")]
    assert len(canary_messages(h)) == 1


def test_a_check_it_is_not_allowed_to_make_is_itself_a_problem(h: Harness, account: Account) -> None:
    ran(h, SCHEDULED.name, hours_ago=2)
    denied = RecordingClients()
    denied.fail("events", "ListRuleNamesByTarget", "AccessDeniedException",
                when=lambda body: REACTIVE.name in str(body.get("TargetArn")))

    result = h.invoke(clients=denied)

    assert problems(result) == {(REACTIVE.name, "check-failed")}
    assert "AccessDenied" in result["problems"][0]["detail"]


def test_the_canary_changes_nothing_in_aws(h: Harness, account: Account) -> None:
    client("events").disable_rule(Name=account.rules[REACTIVE.name])
    clients = RecordingClients()

    h.invoke(clients=clients)

    made = {f"{service}:{operation}" for service, operation, _ in clients.calls if service not in {"dynamodb", "sns"}}
    assert made and all(op.split(":")[1].startswith(("Get", "List", "Describe")) for op in made), made


def _running(h: Harness, name: str, *, hours_ago: float, **attributes: Any) -> str:
    """A run summary left `running`, as an invocation that died leaves it."""
    at = h.clock.now - timedelta(hours=hours_ago)
    state = StateLog(h.table, client("dynamodb"), automation=name, run_id=f"dead-{name}-{hours_ago}",
                     clock=lambda: at)
    state.start_run(mode="enforce", **attributes)
    return state.run_id


def summary_of(h: Harness, run_id: str) -> dict[str, Any]:
    return next(i for i in run_items(client("dynamodb"), h.table, run_id) if i["type"] == "run")


def test_a_run_left_running_by_a_dead_invocation_is_closed_and_reported_once(h: Harness, account: Account) -> None:
    ran(h, SCHEDULED.name, hours_ago=2)
    dead = _running(h, REACTIVE.name, hours_ago=1)  # sg-open-world times out after 60 s: long over
    live = _running(h, SCHEDULED.name, hours_ago=0.1)  # ebs-snapshots may still be running (900 s timeout)

    first = h.invoke()
    second = h.invoke()

    closed = summary_of(h, dead)
    assert (closed["status"], closed["abandoned"]) == ("failed", True)
    assert "ended without finishing" in closed["error"]
    assert summary_of(h, live)["status"] == "running"
    assert (f"run/{dead}", "close-abandoned-run", "succeeded") in actions(h, first["run_id"])
    assert problems(first) == {(REACTIVE.name, "run-abandoned")}
    assert problems(second) == set() and actions(h, second["run_id"]) == []  # closed: nothing to report again
    [alert] = canary_messages(h)
    assert "1 new problem" in alert["Subject"]


def test_a_continuing_run_is_closed_only_after_lambda_could_retry_its_continuation(h: Harness,
                                                                                   account: Account) -> None:
    ran(h, SCHEDULED.name, hours_ago=2)
    lease = int((h.clock.now - timedelta(hours=1)).timestamp())
    resumable = _running(h, SCHEDULED.name, hours_ago=1.5, holder="x", lease_until=lease)

    h.invoke()
    assert summary_of(h, resumable)["status"] == "running"
    h.clock.advance(hours=6)
    ran(h, SCHEDULED.name, hours_ago=1)
    h.invoke()
    assert summary_of(h, resumable)["status"] == "failed"


def test_closing_an_abandoned_run_leaves_a_run_that_finished_meanwhile_alone(h: Harness) -> None:
    from automations.core.ledger import close_abandoned_run

    state = StateLog(h.table, client("dynamodb"), automation=REACTIVE.name, run_id="r-1", clock=lambda: h.clock.now)
    state.start_run(mode="enforce")
    state.finish_run("ok")

    assert close_abandoned_run(client("dynamodb"), h.table, "r-1", reason="x", at=h.clock.now) is False
    assert summary_of(h, "r-1")["status"] == "ok"


# ---------------------------------------------------------------------- in an organization member

ACCOUNT_WIDE = get("access-key-rotation")  # account-scoped (it declares IAM actions), in the scheduled family
MEMBER_CHECKED = f"{SCHEDULED.name},{ACCOUNT_WIDE.name}"


def test_a_member_outside_its_home_region_does_not_miss_the_account_scoped_functions(
        h: Harness, account: Account) -> None:
    """The member templates deploy access-key-rotation in the home region only: in another region it is absent."""
    ran(h, SCHEDULED.name, hours_ago=2)

    elsewhere = h.invoke(functions=MEMBER_CHECKED, home_region="eu-west-1")  # this region (REGION) is not home

    assert REGION != "eu-west-1"
    assert elsewhere["problems"] == []
    assert elsewhere["checked"] == 1 and elsewhere["home_region_only"] == [ACCOUNT_WIDE.name]
    assert canary_messages(h) == []


@pytest.mark.parametrize("home_region", [REGION, ""], ids=["home-region", "single-account"])
def test_in_the_home_region_or_a_single_account_an_absent_account_scoped_function_is_missing(
        h: Harness, account: Account, home_region: str) -> None:
    ran(h, SCHEDULED.name, hours_ago=2)

    result = h.invoke(functions=MEMBER_CHECKED, home_region=home_region)

    assert problems(result) == {(ACCOUNT_WIDE.name, "function-missing")}
    assert result["home_region_only"] == []


def test_the_home_region_setting_refuses_what_is_not_a_region(h: Harness, account: Account) -> None:
    with pytest.raises(SettingsError, match="CARETAKER_HOME_REGION"):
        h.invoke(functions=MEMBER_CHECKED, home_region="not a region")
