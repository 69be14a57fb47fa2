"""AWS clients: built lazily, once per execution environment, with adaptive retries and a client-side rate limit.

No client is created at import time. `AWS_ENDPOINT_URL` (honoured by boto3 itself)
points every client at an emulator in tests and the demo.

Building a boto3 session and its clients is the expensive part of a warm invocation: botocore
reads and parses each service model (EC2's alone takes about 0.25 s). So a `Clients` built without
a session (what every handler gets in Lambda) takes its clients from the execution environment's
`SharedClients`: one boto3 session and one client per (service, region, config), kept for the life
of the process, under a key derived from every `AWS_*` environment variable (region, endpoints,
profile, credentials), so a process whose AWS environment changes (local runs, tests) gets a new
session rather than clients of another identity. Lambda's credentials come from the environment
and do not change within an execution environment, which serves one invocation at a time.

What is per invocation stays per invocation: each `Clients` has its own `RateLimiter` (the token
buckets of one invocation, see `automations.core.throttle`); a shared client carries one
`LimiterSlot`, registered once, that the `Clients` using it points at its limiter. A `Clients` built
on an injected session (tests, fault injection, benchmarks) builds its own clients from that session
and never touches the shared ones.

Typed clients: `clients("ec2")` is an `EC2Client` of the types-boto3 stubs (one overload of
`Clients.__call__` per `ServiceName`), so mypy checks every call against the service's API shapes.
The stubs are a development dependency only: they are imported for the type checker alone, never at
run time (Lambda does not have them). A service the code starts to call needs its name in
`ServiceName`, an overload below and its stub package in requirements-dev.txt.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config

from automations.core.declared_settings import MAX_CONCURRENCY
from automations.core.throttle import LimiterSlot, RateLimiter

if TYPE_CHECKING:
    from types_boto3_autoscaling.client import AutoScalingClient
    from types_boto3_backup.client import BackupClient
    from types_boto3_cloudformation.client import CloudFormationClient
    from types_boto3_cloudtrail.client import CloudTrailClient
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_ec2.client import EC2Client
    from types_boto3_efs.client import EFSClient
    from types_boto3_elbv2.client import ElasticLoadBalancingv2Client
    from types_boto3_events.client import EventBridgeClient
    from types_boto3_iam.client import IAMClient
    from types_boto3_kms.client import KMSClient
    from types_boto3_lambda.client import LambdaClient
    from types_boto3_logs.client import CloudWatchLogsClient
    from types_boto3_organizations.client import OrganizationsClient
    from types_boto3_rds.client import RDSClient
    from types_boto3_s3.client import S3Client
    from types_boto3_s3control.client import S3ControlClient
    from types_boto3_secretsmanager.client import SecretsManagerClient
    from types_boto3_sns.client import SNSClient
    from types_boto3_sqs.client import SQSClient
    from types_boto3_ssm.client import SSMClient
    from types_boto3_sts.client import STSClient

#: Every AWS service Caretaker calls through `Clients` (each has its types-boto3 stub package).
ServiceName = Literal[
    "autoscaling", "backup", "cloudformation", "cloudtrail", "dynamodb", "ec2", "efs", "elbv2", "events", "iam",
    "kms", "lambda", "logs", "organizations", "rds", "s3", "s3control", "secretsmanager", "sns", "sqs", "ssm",
    "sts",
]

#: Bound on retries per call after the first try (botocore's legacy `max_attempts` key counts retries, so
#: a call is tried at most 11 times); throttled calls are retried, never dropped before this bound, and
#: the adaptive mode also slows the client down when throttled.
MAX_ATTEMPTS = 10
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 60

#: Connections one client keeps open: as many as a function may have calls in flight (`max_concurrency` at its
#: maximum). botocore's default of 10 made every call beyond the tenth in flight open a connection (a TLS
#: handshake on AWS) and throw it away ("Connection pool is full, discarding connection"). The pool fills
#: lazily: a function that never has more than one call in flight keeps one connection.
MAX_POOL_CONNECTIONS = int(MAX_CONCURRENCY.maximum or 32)

CLIENT_CONFIG = Config(
    retries={"max_attempts": MAX_ATTEMPTS, "mode": "adaptive"},
    max_pool_connections=MAX_POOL_CONNECTIONS,
    connect_timeout=CONNECT_TIMEOUT_S,
    read_timeout=READ_TIMEOUT_S,
    user_agent_extra="caretaker",
)

#: Environment variables whose values decide which session the shared clients belong to.
AWS_ENV_PREFIX = "AWS_"


def environment_key(environ: Mapping[str, str] | None = None) -> str:
    """A digest of every `AWS_*` variable (region, endpoints, profile, credentials, config files).

    A digest, so that no credential is kept in a key or shows up in a log of it.
    """
    env = os.environ if environ is None else environ
    digest = hashlib.sha256()
    for name in sorted(k for k in env if k.startswith(AWS_ENV_PREFIX)):
        digest.update(f"{name}\0{env[name]}\0".encode())
    return digest.hexdigest()


class SharedClients:
    """The boto3 session and clients of one execution environment, for one AWS environment (`key`).

    Thread-safe. Each client is built once and carries one `LimiterSlot`; `client` points that slot
    at the caller's limiter and returns the client.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.session = boto3.session.Session()
        self._clients: dict[tuple[ServiceName, str | None, Config], tuple[Any, LimiterSlot]] = {}
        self._lock = threading.Lock()

    def client(self, service: ServiceName, region: str | None, config: Config, limiter: RateLimiter) -> Any:
        # `config` is keyed by identity (botocore's Config has no value equality); the entry keeps it alive
        key = (service, region, config)
        with self._lock:
            entry = self._clients.get(key)
            if entry is None:
                client = build_client(self.session, service, region, config)
                slot = LimiterSlot(limiter)
                slot.register(client)
                entry = self._clients[key] = (client, slot)
        client, slot = entry
        slot.bind(limiter)
        return client

    def __len__(self) -> int:
        return len(self._clients)


def build_client(session: boto3.session.Session, service: ServiceName, region: str | None, config: Config) -> Any:
    """A new client of `session`. Typed as `Any`: the caller (`Clients.__call__`) gives it its type by name."""
    make: Callable[..., Any] = session.client  # one call for every service name, not one overload each
    return make(service, region_name=region, config=config)


_SHARED: list[SharedClients] = []
_SHARED_LOCK = threading.Lock()


def shared_clients(environ: Mapping[str, str] | None = None) -> SharedClients:
    """This execution environment's session and clients for the current AWS environment.

    Only the latest one is kept: when the `AWS_*` variables change, the next call starts afresh.
    """
    key = environment_key(environ)
    with _SHARED_LOCK:
        if not _SHARED or _SHARED[0].key != key:
            _SHARED[:] = [SharedClients(key)]
        return _SHARED[0]


def reset_shared_clients() -> None:
    """Forget the shared session and clients (tests; a process that wants a cold start)."""
    with _SHARED_LOCK:
        _SHARED.clear()


class Clients:
    """The clients of one invocation, keyed by (service, region), and its rate limiter.

    Without a session (what handlers get in Lambda) the clients are the execution environment's
    (`shared_clients`), built once per process. Pass a `boto3.session.Session` to inject
    credentials, region or botocore event hooks (tests use this to inject faults): the clients are
    then built from it, for this `Clients` alone. Pass a `RateLimiter` to choose the client-side
    rate limit (default: the documented AWS limits at the `api_rate_share` setting's share); it is
    this `Clients`' own, whichever clients it uses.
    """

    def __init__(self, session: boto3.session.Session | None = None, config: Config | None = None, *,
                 limiter: RateLimiter | None = None) -> None:
        self._session = session
        #: the shared clients, chosen at first use and kept (one AWS environment per invocation); never when
        #: injected. Chosen lazily: building a session can fail (e.g. an unknown AWS_PROFILE), and that must
        #: happen inside the handler, where it is answered and recorded, not when the `Clients` is made.
        self._shared: SharedClients | None = None
        self._config = config or CLIENT_CONFIG
        self._clients: dict[tuple[ServiceName, str | None], Any] = {}
        self._lock = threading.Lock()
        self.limiter = limiter if limiter is not None else RateLimiter()

    @property
    def injected(self) -> bool:
        """True when this `Clients` builds its clients from a session it was given."""
        return self._session is not None

    def _environment(self) -> SharedClients:
        if self._shared is None:
            self._shared = shared_clients()
        return self._shared

    @property
    def session(self) -> boto3.session.Session:
        return self._session if self._session is not None else self._environment().session

    @property
    def region(self) -> str:
        return self.session.region_name or "us-east-1"

    @overload
    def __call__(self, service: Literal["autoscaling"], region: str | None = None) -> AutoScalingClient: ...
    @overload
    def __call__(self, service: Literal["backup"], region: str | None = None) -> BackupClient: ...
    @overload
    def __call__(self, service: Literal["cloudformation"], region: str | None = None) -> CloudFormationClient: ...
    @overload
    def __call__(self, service: Literal["cloudtrail"], region: str | None = None) -> CloudTrailClient: ...
    @overload
    def __call__(self, service: Literal["dynamodb"], region: str | None = None) -> DynamoDBClient: ...
    @overload
    def __call__(self, service: Literal["ec2"], region: str | None = None) -> EC2Client: ...
    @overload
    def __call__(self, service: Literal["efs"], region: str | None = None) -> EFSClient: ...
    @overload
    def __call__(self, service: Literal["elbv2"], region: str | None = None) -> ElasticLoadBalancingv2Client: ...
    @overload
    def __call__(self, service: Literal["events"], region: str | None = None) -> EventBridgeClient: ...
    @overload
    def __call__(self, service: Literal["iam"], region: str | None = None) -> IAMClient: ...
    @overload
    def __call__(self, service: Literal["kms"], region: str | None = None) -> KMSClient: ...
    @overload
    def __call__(self, service: Literal["lambda"], region: str | None = None) -> LambdaClient: ...
    @overload
    def __call__(self, service: Literal["logs"], region: str | None = None) -> CloudWatchLogsClient: ...
    @overload
    def __call__(self, service: Literal["organizations"], region: str | None = None) -> OrganizationsClient: ...
    @overload
    def __call__(self, service: Literal["rds"], region: str | None = None) -> RDSClient: ...
    @overload
    def __call__(self, service: Literal["s3"], region: str | None = None) -> S3Client: ...
    @overload
    def __call__(self, service: Literal["s3control"], region: str | None = None) -> S3ControlClient: ...
    @overload
    def __call__(self, service: Literal["secretsmanager"], region: str | None = None) -> SecretsManagerClient: ...
    @overload
    def __call__(self, service: Literal["sns"], region: str | None = None) -> SNSClient: ...
    @overload
    def __call__(self, service: Literal["sqs"], region: str | None = None) -> SQSClient: ...
    @overload
    def __call__(self, service: Literal["ssm"], region: str | None = None) -> SSMClient: ...
    @overload
    def __call__(self, service: Literal["sts"], region: str | None = None) -> STSClient: ...

    def __call__(self, service: ServiceName, region: str | None = None) -> Any:
        """The client of `service` in `region` (default: the session's), built at first use and kept."""
        key = (service, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if self._session is None:
                    client = self._environment().client(service, region, self._config, self.limiter)
                else:
                    client = build_client(self._session, service, region, self._config)
                    self.limiter.register(client)
                self._clients[key] = client
            return client
