"""Clients built once per execution environment: warm invocations build and parse nothing, limiters stay per
invocation, injected sessions win, and a changed AWS environment gets a session of its own."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config

from automations.core import aws as aws_module
from automations.core.aws import CLIENT_CONFIG, Clients, reset_shared_clients, shared_clients
from automations.core.ledger import run_items
from automations.core.throttle import Bucket, RateLimiter, RateTable
from automations.scheduled import cleanup_volumes
from automations.security import ebs_encryption_disabled
from tests.automations.conftest import REGION, LambdaContext, scheduled_event
from tests.automations.security.conftest import load_event
from tests.recording import RecordingClients, counting_builds
from tests.throttling.scenarios import created_at
from tests.throttling.simulator import VirtualClock

CLEANUP_ENV = {"CARETAKER_MODE": "enforce", "CARETAKER_GRACE_DAYS": "0", "CARETAKER_MIN_AGE_DAYS": "0",
               "CARETAKER_FINAL_SNAPSHOT": "false"}


@pytest.fixture(autouse=True)
def cold_environment() -> Iterator[None]:
    """Each test starts as a new execution environment would, and leaves none behind."""
    reset_shared_clients()
    yield
    reset_shared_clients()


@pytest.fixture
def cleanup_env(monkeypatch: pytest.MonkeyPatch, state_table: str) -> str:
    for name, value in CLEANUP_ENV.items():
        monkeypatch.setenv(name, value)
    return state_table


def old_volume() -> str:
    from datetime import UTC, datetime, timedelta

    with created_at(datetime.now(UTC) - timedelta(days=30)):
        made = boto3.client("ec2", region_name=REGION).create_volume(AvailabilityZone=f"{REGION}a", Size=8)
    return str(made["VolumeId"])


def volume_exists(volume_id: str) -> bool:
    volumes = boto3.client("ec2", region_name=REGION).describe_volumes()["Volumes"]
    return any(v["VolumeId"] == volume_id for v in volumes)


def outcomes(table: str, run_id: str, resource_id: str) -> list[str]:
    items = run_items(boto3.client("dynamodb", region_name=REGION), table, run_id)
    return [str(i["outcome"]) for i in items if i.get("type") == "action" and i.get("resource_id") == resource_id]


# ---------------------------------------------------------------------- warm invocations


def test_a_warm_scheduled_invocation_builds_no_session_or_client_and_parses_no_model(
        cleanup_env: str, lambda_context: LambdaContext) -> None:
    first_volume = old_volume()
    with counting_builds() as cold:
        first = cleanup_volumes.handler(scheduled_event(), lambda_context)
    second_volume = old_volume()
    with counting_builds() as warm:
        second = cleanup_volumes.handler(scheduled_event(), lambda_context)

    assert cold.sessions == 1 and {"ec2", "dynamodb", "sns"} <= set(cold.clients) and cold.parsed
    assert warm.nothing, warm
    assert not volume_exists(first_volume) and not volume_exists(second_volume)
    assert outcomes(cleanup_env, first["run_id"], first_volume) == ["planned", "succeeded"]
    assert outcomes(cleanup_env, second["run_id"], second_volume) == ["planned", "succeeded"]


def test_a_warm_reactive_invocation_builds_no_session_or_client_and_parses_no_model(
        state_table: str, lambda_context: LambdaContext) -> None:
    ec2 = boto3.client("ec2", region_name="eu-west-1")  # the fixture event's region
    event = load_event("disable_ebs_encryption_by_default")
    ec2.disable_ebs_encryption_by_default()
    with counting_builds() as cold:
        first = ebs_encryption_disabled.handler(event, lambda_context)
    ec2.disable_ebs_encryption_by_default()
    again = copy.deepcopy(event)
    again["id"] = "00000000-0000-0000-0000-00000000beef"  # another event, not a redelivery
    with counting_builds() as warm:
        second = ebs_encryption_disabled.handler(again, lambda_context)

    assert cold.sessions == 1 and cold.parsed
    assert warm.nothing, warm
    assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
    resource = "ebs-encryption-by-default/123456789012/eu-west-1"
    assert outcomes(state_table, first["run_id"], resource) == ["planned", "succeeded"]
    assert outcomes(state_table, second["run_id"], resource) == ["planned", "succeeded"]


# ---------------------------------------------------------------------- the limiter stays per invocation


def tiny_table() -> RateTable:
    """Every EC2 action gets a bucket of one token, refilled at 0.001 tokens/s (x the share)."""
    return RateTable(ec2=False, services={"ec2": Bucket(1, 0.001)})


def test_each_invocation_gets_its_own_limiter_buckets_on_the_same_client(
        cleanup_env: str, lambda_context: LambdaContext) -> None:
    clock = VirtualClock()
    limiters, ec2_clients = [], []
    for _ in range(3):
        volume = old_volume()
        limiter = RateLimiter(table=tiny_table(), clock=clock)
        clients = Clients(limiter=limiter)
        result = cleanup_volumes.handler.invoke(scheduled_event(), lambda_context, clients=clients)
        assert outcomes(cleanup_env, result["run_id"], volume) == ["planned", "succeeded"]
        assert not volume_exists(volume)
        limiters.append(limiter)
        ec2_clients.append(clients("ec2"))

    assert ec2_clients[0] is ec2_clients[1] is ec2_clients[2]  # one client for the environment
    # each run's one-token buckets were full at its start: a bucket shared across runs would have made
    # the second and third runs wait 1,000 s (virtual) for DescribeVolumes and DeleteVolume
    assert [limiter.waited_s for limiter in limiters] == [0.0, 0.0, 0.0]
    assert clock.slept == 0.0


def test_n_invocations_run_one_limiter_hook_pair_per_call(cleanup_env: str, lambda_context: LambdaContext) -> None:
    counts = []
    for _ in range(3):
        old_volume()
        limiter = RateLimiter(table=RateTable(ec2=False, services={"ec2": Bucket(1000, 1000)}))
        cleanup_volumes.handler.invoke(scheduled_event(), lambda_context, clients=Clients(limiter=limiter))
        counts.append(dict(limiter.requests))

    # one DeleteVolume per run, counted once: a hook added per invocation would count it 2 and 3 times
    assert counts[0]["ec2:DeleteVolume"] == 1
    assert counts[0] == counts[1] == counts[2]


def test_the_runtime_sets_the_share_on_this_invocations_limiter_only(
        cleanup_env: str, lambda_context: LambdaContext, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = RateLimiter(), RateLimiter()
    monkeypatch.setenv("CARETAKER_API_RATE_SHARE", "0.2")
    cleanup_volumes.handler.invoke(scheduled_event(), lambda_context, clients=Clients(limiter=first))
    monkeypatch.setenv("CARETAKER_API_RATE_SHARE", "0.9")
    cleanup_volumes.handler.invoke(scheduled_event(), lambda_context, clients=Clients(limiter=second))

    assert (first.share, second.share) == (0.2, 0.9)


# ---------------------------------------------------------------------- injection


def test_an_injected_session_wins_over_the_shared_clients(cleanup_env: str, lambda_context: LambdaContext) -> None:
    cleanup_volumes.handler(scheduled_event(), lambda_context)  # warm: the environment has its clients
    shared_ec2 = Clients()("ec2")
    volume = old_volume()
    hooked = RecordingClients()
    result = cleanup_volumes.handler.invoke(scheduled_event(), lambda_context, clients=hooked)

    assert hooked("ec2") is not shared_ec2 and hooked.injected and not Clients().injected
    assert hooked.count("ec2")["DeleteVolume"] == 1  # the injected session's hooks saw the calls
    assert not volume_exists(volume)
    assert outcomes(cleanup_env, result["run_id"], volume) == ["planned", "succeeded"]


def test_injected_faults_still_reach_the_handler(cleanup_env: str, lambda_context: LambdaContext) -> None:
    cleanup_volumes.handler(scheduled_event(), lambda_context)  # warm shared clients must not shadow the fault
    volume = old_volume()
    hooked = RecordingClients()
    hooked.fail("ec2", "DeleteVolume", "AccessDenied")
    result = cleanup_volumes.handler.invoke(scheduled_event(), lambda_context, clients=hooked)

    assert volume_exists(volume)
    assert outcomes(cleanup_env, result["run_id"], volume) == ["planned", "failed"]


# ---------------------------------------------------------------------- what the shared clients are keyed on


def test_a_changed_region_or_identity_gets_a_session_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    first = Clients()
    ec2 = first("ec2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    moved = Clients()
    moved_ec2 = moved("ec2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ANOTHERIDENTITY")
    other = Clients()
    other_ec2 = other("ec2")

    assert moved.region == "eu-central-1" and moved_ec2.meta.region_name == "eu-central-1"
    assert moved.session is not first.session and moved_ec2 is not ec2
    other_credentials, first_credentials = other.session.get_credentials(), first.session.get_credentials()
    assert other_credentials is not None and first_credentials is not None
    assert other_credentials.access_key == "ANOTHERIDENTITY"
    assert other_ec2 is not moved_ec2
    # a Clients keeps the environment of its first use (one identity per invocation)
    assert first("ec2") is ec2 and first("dynamodb") is not other("dynamodb")
    assert first_credentials.access_key != "ANOTHERIDENTITY"


def test_a_session_that_cannot_be_built_fails_at_first_use_not_when_made(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ProfileNotFound

    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    clients = Clients()  # what the runtime and providers make before their error handling begins

    with pytest.raises(ProfileNotFound):
        clients("ec2")


def test_the_environment_key_holds_no_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value")
    key = aws_module.environment_key()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "another-secret")

    assert "very-secret-value" not in key and aws_module.environment_key() != key


def test_a_client_per_service_region_and_config(monkeypatch: pytest.MonkeyPatch) -> None:
    other_config = Config(retries={"max_attempts": 1})
    clients = Clients()

    assert clients("ec2") is Clients()("ec2")
    assert clients("ec2", "eu-west-1") is not clients("ec2")
    assert clients("ec2", "eu-west-1").meta.region_name == "eu-west-1"
    assert Clients(config=other_config)("ec2") is not clients("ec2")
    assert Clients(config=CLIENT_CONFIG)("ec2") is clients("ec2")
    assert len(shared_clients()) == 3


def test_reset_starts_a_new_environment() -> None:
    ec2 = Clients()("ec2")
    reset_shared_clients()

    assert Clients()("ec2") is not ec2


def test_no_client_exists_before_first_use() -> None:
    Clients()

    assert len(shared_clients()) == 0



def test_a_client_keeps_a_connection_for_every_call_a_function_may_have_in_flight(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With botocore's default pool of 10, every call beyond the tenth in flight opened a connection and threw it
    away; the pool now holds as many as `max_concurrency` allows at its maximum."""
    from automations.core.declared_settings import MAX_CONCURRENCY

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    reset_shared_clients()
    client = Clients()("ec2")
    assert MAX_CONCURRENCY.maximum is not None
    assert vars(client.meta.config)["max_pool_connections"] >= MAX_CONCURRENCY.maximum > 10
