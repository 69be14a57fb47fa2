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
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from automations.core.throttle import LimiterSlot, RateLimiter

#: Bound on retries per call after the first try (botocore's legacy `max_attempts` key counts retries, so
#: a call is tried at most 11 times); throttled calls are retried, never dropped before this bound, and
#: the adaptive mode also slows the client down when throttled.
MAX_ATTEMPTS = 10
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 60

CLIENT_CONFIG = Config(
    retries={"max_attempts": MAX_ATTEMPTS, "mode": "adaptive"},
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
        self._clients: dict[tuple[str, str | None, Config], tuple[Any, LimiterSlot]] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str | None, config: Config, limiter: RateLimiter) -> Any:
        # `config` is keyed by identity (botocore's Config has no value equality); the entry keeps it alive
        key = (service, region, config)
        with self._lock:
            entry = self._clients.get(key)
            if entry is None:
                client = self.session.client(service, region_name=region, config=config)
                slot = LimiterSlot(limiter)
                slot.register(client)
                entry = self._clients[key] = (client, slot)
        client, slot = entry
        slot.bind(limiter)
        return client

    def __len__(self) -> int:
        return len(self._clients)


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
        self._clients: dict[tuple[str, str | None], Any] = {}
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

    def __call__(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if self._session is None:
                    client = self._environment().client(service, region, self._config, self.limiter)
                else:
                    client = self._session.client(service, region_name=region, config=self._config)
                    self.limiter.register(client)
                self._clients[key] = client
            return client
