"""The trigger model for AWS service events: patterns, typed parsers, and the reactive guarantees for every kind."""

from __future__ import annotations

import copy
import typing
from collections.abc import Callable
from typing import Any

import pytest

from automations.core.runtime import Run
from automations.core.spec import (
    AnyOf,
    EventKind,
    FunctionSpec,
    GuardDuty,
    Health,
    InstanceStateChange,
    ObjectCreated,
    Permission,
    trigger_kinds,
    trigger_manifest,
)
from automations.security import event_kinds, reactive
from automations.security.errors import BadEventError
from automations.security.service_events import GuardDutyFinding, HealthEvent
from automations.security.service_events import InstanceStateChange as StateEvent
from automations.security.service_events import ObjectCreated as ObjectEvent
from tests.automations.security.conftest import (
    Harness,
    all_samples,
    aws,
    from_caretaker,
    load_event,
    load_sample,
    matches,
    outcomes,
    redelivered,
)

CREDENTIALS = "health/aws_risk_credentials_exposed"
CRYPTO = "guardduty/cryptocurrency_ec2_bitcointool_b_dns"
SSH = "guardduty/unauthorizedaccess_ec2_sshbruteforce"
EXFILTRATION = "guardduty/unauthorizedaccess_iamuser_instancecredentialexfiltration_outsideaws"
ANOMALY = "guardduty/credentialaccess_iamuser_anomalousbehavior"
RUNNING = "ec2/instance_state_change_running"
OBJECT = "s3/object_created"


def sample(key: str) -> dict[str, Any]:
    folder, name = key.split("/")
    return load_sample(folder, name)


# ------------------------------------------------------------------------------------------- patterns

#: trigger -> the samples (of all of them) its pattern must match
TRIGGER_SAMPLES: list[tuple[Any, set[str]]] = [
    (Health(("AWS_RISK_CREDENTIALS_EXPOSED",), ("RISK",)), {CREDENTIALS}),
    (GuardDuty("Instance"), {CRYPTO, SSH}),
    (GuardDuty("Instance", ("CryptoCurrency:EC2/",)), {CRYPTO}),
    (GuardDuty("Instance", ("UnauthorizedAccess:EC2/SSHBruteForce",)), {SSH}),
    (GuardDuty("AccessKey"), {EXFILTRATION, ANOMALY}),
    (GuardDuty("AccessKey", ("CredentialAccess:IAMUser/AnomalousBehavior",)), {ANOMALY}),
    (InstanceStateChange(("running",)), {RUNNING}),
    (InstanceStateChange(("stopped", "terminated")), set()),
    (ObjectCreated(), {OBJECT}),
    (ObjectCreated(("CopyObject",)), set()),
    (AnyOf((Health(("AWS_RISK_CREDENTIALS_EXPOSED",)), GuardDuty("AccessKey", ("CredentialAccess:IAMUser/",)))),
     {CREDENTIALS, ANOMALY}),
]


def _case_id(value: Any) -> str:
    """The same in every process (xdist workers compare ids): sets sorted, not in hash order."""
    return repr(sorted(value) if isinstance(value, set) else value)[:60]


@pytest.mark.parametrize(("trigger", "expected"), TRIGGER_SAMPLES, ids=_case_id)
def test_a_service_event_pattern_matches_only_its_samples_among_all_events(trigger: Any, expected: set[str]) -> None:
    pattern = trigger_manifest(trigger)["pattern"]
    samples = all_samples()
    assert {key for key, event in samples.items() if matches(pattern, event)} == expected
    # no CloudTrail record matches a service event pattern
    assert not matches(pattern, load_event("authorize_security_group_ingress"))


LOOKALIKE_CASES = [(t, k) for t, keys in TRIGGER_SAMPLES for k in sorted(keys)]


@pytest.mark.parametrize(("trigger", "key"), LOOKALIKE_CASES,
                         ids=[f"{type(t).__name__}-{i}-{k}" for i, (t, k) in enumerate(LOOKALIKE_CASES)])
def test_a_lookalike_from_a_custom_source_or_of_another_type_is_rejected(trigger: Any, key: str) -> None:
    pattern, event = trigger.pattern(), sample(key)
    assert matches(pattern, event)

    def custom_source(e: dict[str, Any]) -> None:  # what PutEvents lets a developer send
        e["source"] = "custom." + e["source"][len("aws."):]

    def prefixed_source(e: dict[str, Any]) -> None:
        e["source"] = e["source"] + ".lookalike"

    def other_detail_type(e: dict[str, Any]) -> None:
        e["detail-type"] = "AWS API Call via CloudTrail"

    for lookalike in (custom_source, prefixed_source, other_detail_type):
        changed = copy.deepcopy(event)
        lookalike(changed)
        assert not matches(pattern, changed), lookalike.__name__


def test_service_event_patterns_name_the_exact_source_never_a_prefix() -> None:
    for trigger, _ in TRIGGER_SAMPLES:
        pattern = trigger.pattern()
        for branch in pattern.get("$or", [pattern]):
            assert len(branch["source"]) == 1 and isinstance(branch["source"][0], str)
            assert branch["source"][0] in ("aws.health", "aws.guardduty", "aws.ec2", "aws.s3")


def test_any_of_keeps_each_source_with_its_own_detail_type() -> None:
    trigger = AnyOf((Health(("AWS_RISK_CREDENTIALS_EXPOSED",)), GuardDuty("AccessKey")))
    event = sample(ANOMALY)
    event["detail-type"] = "AWS Health Event"  # a GuardDuty source with Health's detail-type
    assert not matches(trigger.pattern(), event)
    with pytest.raises(ValueError):
        AnyOf((GuardDuty("AccessKey"),))


def test_a_rule_on_two_kinds_parses_each_event_by_its_detail_type() -> None:
    kind = event_kinds.either(event_kinds.HEALTH, event_kinds.GUARDDUTY)
    assert isinstance(kind.parse(sample(CREDENTIALS)), HealthEvent)
    assert isinstance(kind.parse(sample(ANOMALY)), GuardDutyFinding)
    with pytest.raises(BadEventError, match="expected a health or guardduty event"):
        kind.parse(sample(RUNNING))
    assert kind.names == {"health", "guardduty"}


def test_every_event_kind_has_a_parser_and_every_trigger_its_kind() -> None:
    assert set(event_kinds.KINDS) == set(typing.get_args(EventKind))
    assert set().union(*(trigger_kinds(t) for t, _ in TRIGGER_SAMPLES)) == {
        "health", "guardduty", "ec2-instance-state", "s3-object-created"}


def test_a_finding_type_ending_in_a_separator_is_a_prefix_and_any_other_is_exact() -> None:
    pattern = GuardDuty("Instance", ("Backdoor:EC2/", "CryptoCurrency:EC2/BitcoinTool.B")).pattern()
    assert pattern["detail"]["type"] == [{"prefix": "Backdoor:EC2/"}, "CryptoCurrency:EC2/BitcoinTool.B"]
    event = sample(CRYPTO)
    assert not matches(pattern, event)  # "...BitcoinTool.B!DNS" is another type


@pytest.mark.parametrize("make", [lambda: Health(()), lambda: InstanceStateChange(()),
                                  lambda: InstanceStateChange(("booting",))])
def test_a_trigger_that_could_never_match_is_refused_at_declaration(make: Callable[[], Any]) -> None:
    with pytest.raises(ValueError):
        make()


# ------------------------------------------------------------------------------------------- parsers


def test_a_health_event_names_the_exposed_key() -> None:
    event = event_kinds.HEALTH.parse(sample(CREDENTIALS))
    assert isinstance(event, HealthEvent)
    assert (event.event_type_code, event.service, event.entities) == (
        "AWS_RISK_CREDENTIALS_EXPOSED", "RISK", ("AKIAIOSFODNN7EXAMPLE",))
    assert event.description.startswith("Your AWS Access Key AKIAIOSFODNN7EXAMPLE")
    assert event.actor is None
    assert event.summary()["event"]["name"] == "AWS_RISK_CREDENTIALS_EXPOSED"
    assert event.summary()["health"]["entities"] == ["AKIAIOSFODNN7EXAMPLE"]


def test_a_guardduty_finding_names_its_type_severity_and_resource() -> None:
    instance = event_kinds.GUARDDUTY.parse(sample(CRYPTO))
    key = event_kinds.GUARDDUTY.parse(sample(ANOMALY))
    assert isinstance(instance, GuardDutyFinding)
    assert (instance.type, instance.severity, instance.resource_type, instance.instance_id) == (
        "CryptoCurrency:EC2/BitcoinTool.B!DNS", 8.0, "Instance", "i-99999999")
    assert instance.finding_id == "70b1ec3a4d9f1c2e8a7b6c5d4e3f2a10" and instance.access_key is None
    assert key.access_key is not None
    assert (key.access_key.access_key_id, key.access_key.user_name, key.access_key.user_type) == (
        "AKIAIOSFODNN7EXAMPLE", "ci-deployer", "IAMUser")
    assert key.remote_ip == "198.51.100.77"
    assert "severity 5" in key.describe()


def test_an_instance_state_change_and_an_object_created_event_are_read() -> None:
    state = event_kinds.EC2_INSTANCE_STATE.parse(sample(RUNNING))
    created = event_kinds.S3_OBJECT_CREATED.parse(sample(OBJECT))
    assert isinstance(state, StateEvent) and isinstance(created, ObjectEvent)
    assert (state.instance_id, state.state) == ("i-1234567890abcdef0", "running")
    assert (created.bucket, created.key, created.size, created.version_id, created.reason, created.requester) == (
        "amzn-s3-demo-bucket1", "reports/2026/summary.csv", 5, "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e", "PutObject",
        "123456789012")


def _drop(*path: str) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        target = event
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]
    return change


def _set(value: Any, *path: str) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        target = event
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
    return change


MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (CREDENTIALS, _drop("id"), "the event id is missing"),
    (CREDENTIALS, _drop("detail"), "the event has no detail object"),
    (CREDENTIALS, _drop("detail", "eventTypeCode"), "detail.eventTypeCode is missing"),
    (CREDENTIALS, _set("not a list", "detail", "affectedEntities"), "detail.affectedEntities is not a list"),
    (CREDENTIALS, _set("custom.health", "source"), "expected a aws.health event"),
    (CRYPTO, _drop("detail", "resource"), "detail.resource is missing"),
    (CRYPTO, _set("high", "detail", "severity"), "detail.severity is not a number"),
    (CRYPTO, _set(True, "detail", "severity"), "detail.severity is not a number"),
    (CRYPTO, _set(11, "detail", "severity"), "detail.severity is not between 0 and 10"),
    (CRYPTO, _drop("detail", "severity"), "detail.severity is missing"),
    (CRYPTO, _drop("detail", "type"), "detail.type is missing"),
    (CRYPTO, _set("", "detail", "id"), "detail.id is empty"),
    (CRYPTO, _drop("region"), "the event region is missing"),
    (RUNNING, _drop("detail", "instance-id"), "detail.instance-id is missing"),
    (RUNNING, _set(["running"], "detail", "state"), "detail.state is not a string"),
    (OBJECT, _drop("detail", "bucket"), "detail.bucket.name is missing"),
    (OBJECT, _set(None, "detail", "object"), "detail.object is missing"),
    (OBJECT, _set("Object Deleted", "detail-type"), "expected a aws.s3 event (Object Created)"),
]
PARSERS: dict[str, event_kinds.Kind[Any]] = {
    "health": event_kinds.HEALTH, "guardduty": event_kinds.GUARDDUTY, "ec2": event_kinds.EC2_INSTANCE_STATE,
    "s3": event_kinds.S3_OBJECT_CREATED}


@pytest.mark.parametrize(("key", "change", "reason"), MALFORMED, ids=[m[2] for m in MALFORMED])
def test_a_malformed_service_event_is_refused_with_the_reason(key: str, change: Callable[[dict[str, Any]], None],
                                                             reason: str) -> None:
    event = sample(key)
    change(event)
    with pytest.raises(BadEventError, match="^" + reason.replace("(", r"\(").replace(")", r"\)")):
        PARSERS[key.split("/")[0]].parse(event)


# ------------------------------------------------------------------------------------------- the reactive path


def guardduty_rule(decide: Callable[[Run, GuardDutyFinding], reactive.Decision]) -> Any:
    spec = FunctionSpec(name="finding-rule", description="test", handler="automations.security.finding_rule.handler",
                        trigger=GuardDuty("Instance"), permissions=(Permission(("ec2:CreateTags",)),),
                        default_mode="enforce", settings=reactive.security_settings())
    return reactive.rule_handler(spec, decide, kind=event_kinds.GUARDDUTY)


def tagging_decide(run: Run, event: GuardDutyFinding) -> reactive.Decision:
    ec2 = run.clients("ec2", event.region)
    return reactive.Remediate(event.instance_id, "tag-instance", f"{event.type} on {event.instance_id}",
                              "tag the instance",
                              lambda: ec2.create_tags(Resources=[event.instance_id],
                                                      Tags=[{"Key": "finding", "Value": event.finding_id}]),
                              {"finding_type": event.type})


@pytest.fixture
def instance() -> str:
    ec2 = aws("ec2")
    image = ec2.register_image(Name="base", RootDeviceName="/dev/xvda",
                               BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}])["ImageId"]
    return str(ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"])


def finding_about(instance: str) -> dict[str, Any]:
    event = sample(CRYPTO)
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = instance
    return event


def tags_of(instance: str) -> dict[str, str]:
    reservations = aws("ec2").describe_instances(InstanceIds=[instance])["Reservations"]
    return {t["Key"]: t["Value"] for t in reservations[0]["Instances"][0].get("Tags", [])}


def test_a_typed_rule_gets_its_kind_of_event_writes_ahead_and_notifies_once(harness: Harness, instance: str) -> None:
    summary = harness.invoke(guardduty_rule(tagging_decide), finding_about(instance))

    assert tags_of(instance) == {"finding": "70b1ec3a4d9f1c2e8a7b6c5d4e3f2a10"}
    items = harness.items(summary)
    assert outcomes(items) == [("tag-instance", "planned"), ("tag-instance", "succeeded")]
    assert items[0]["details"]["guardduty"]["type"] == "CryptoCurrency:EC2/BitcoinTool.B!DNS"
    assert items[0]["details"]["event"]["id"] == "5ebb6ffc-9b1d-6a4d-8e3f-0c8e0ab0b6a1"
    [note] = harness.notifications()
    assert "GuardDuty reported CryptoCurrency:EC2/BitcoinTool.B!DNS (severity 8)" in note["summary"]
    assert note["body"]["finding"]["guardduty"]["instance_id"] == instance


def test_a_redelivered_service_event_changes_nothing_the_second_time(harness: Harness, instance: str) -> None:
    handler = guardduty_rule(tagging_decide)
    event = finding_about(instance)
    harness.invoke(handler, event)
    harness.notifications()
    aws("ec2").delete_tags(Resources=[instance], Tags=[{"Key": "finding"}])

    second = harness.invoke(handler, redelivered(event))

    assert tags_of(instance) == {}
    [item] = harness.items(second)
    assert item["outcome"] == "skipped" and item["reason"].startswith("duplicate delivery of event ")
    assert harness.notifications() == []


def test_in_audit_mode_a_typed_rule_only_plans(harness: Harness, instance: str) -> None:
    harness.mode("audit")

    summary = harness.invoke(guardduty_rule(tagging_decide), finding_about(instance))

    assert tags_of(instance) == {}
    assert [(i["outcome"], i["dry_run"]) for i in harness.items(summary)] == [("planned", True)]
    assert harness.notifications()[0]["body"]["caretaker"]["outcome"] == "planned"


def test_a_malformed_service_event_is_recorded_as_skipped_with_the_reason(harness: Harness) -> None:
    event = sample(CRYPTO)
    event["detail"]["severity"] = "high"

    summary = harness.invoke(guardduty_rule(tagging_decide), event)

    assert summary["status"] == "ok"
    [item] = harness.items(summary)
    assert item["outcome"] == "skipped"
    assert item["reason"] == "bad event: detail.severity is not a number: 'high'"
    assert item["resource_id"] == "event/5ebb6ffc-9b1d-6a4d-8e3f-0c8e0ab0b6a1"
    assert harness.notifications() == []


def test_a_cloudtrail_record_sent_to_a_typed_rule_is_a_bad_event(harness: Harness) -> None:
    summary = harness.invoke(guardduty_rule(tagging_decide), load_event("authorize_security_group_ingress"))

    [item] = harness.items(summary)
    assert item["reason"].startswith("bad event: expected a aws.guardduty event")


def test_the_ignore_list_does_not_apply_to_events_that_name_no_caller(harness: Harness, instance: str) -> None:
    """A finding has no caller: a principal in ignore_principal_arns (or Caretaker's own) cannot silence it."""
    harness.setting("CARETAKER_IGNORE_PRINCIPAL_ARNS", "arn:aws:iam::123456789012:*")
    event = finding_about(instance)
    event["detail"]["userIdentity"] = from_caretaker(load_event("stop_logging"))["detail"]["userIdentity"]

    summary = harness.invoke(guardduty_rule(tagging_decide), event)

    assert outcomes(harness.items(summary))[-1] == ("tag-instance", "succeeded")


def test_a_rule_whose_decide_takes_another_kind_than_its_trigger_delivers_is_refused() -> None:
    spec = FunctionSpec(name="mismatched-rule", description="test", handler="automations.security.mismatched.handler",
                        trigger=Health(("AWS_RISK_CREDENTIALS_EXPOSED",)), permissions=(Permission(("iam:GetUser",)),),
                        default_mode="enforce", settings=reactive.security_settings())
    with pytest.raises(ValueError, match="its trigger delivers health events, but its decide takes guardduty"):
        reactive.rule_handler(spec, tagging_decide, kind=event_kinds.GUARDDUTY)
    with pytest.raises(ValueError, match="takes cloudtrail events"):
        reactive.rule_handler(spec, lambda run, event: reactive.Skip("x", "y", "z"))


def test_only_rules_on_cloudtrail_records_read_the_own_roles() -> None:
    spec = FunctionSpec(name="finding-rule", description="test", handler="automations.security.finding_rule.handler",
                        trigger=GuardDuty("Instance"), permissions=(Permission(("ec2:CreateTags",)),),
                        default_mode="enforce", settings=reactive.security_settings())
    assert not spec.reads_own_roles
