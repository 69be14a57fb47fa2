"""AWS clients: created lazily, cached, with botocore's adaptive retry mode and a client-side rate limit.

No client is created at import time. `AWS_ENDPOINT_URL` (honoured by boto3 itself)
points every client at an emulator in tests and the demo. Every client gets the `RateLimiter`
of its `Clients` (see `automations.core.throttle`): calls wait client-side rather than take more
than the function's share of the account's AWS API request buckets.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from automations.core.throttle import RateLimiter

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


class Clients:
    """A per-invocation cache of boto3 clients keyed by (service, region).

    Pass a `boto3.session.Session` to inject credentials, region or botocore event
    hooks (tests use this to inject faults), and a `RateLimiter` to choose the client-side
    rate limit (default: the documented AWS limits at the `api_rate_share` setting's share).
    """

    def __init__(self, session: boto3.session.Session | None = None, config: Config | None = None, *,
                 limiter: RateLimiter | None = None) -> None:
        self._session = session
        self._config = config or CLIENT_CONFIG
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()
        self.limiter = limiter if limiter is not None else RateLimiter()

    @property
    def session(self) -> boto3.session.Session:
        if self._session is None:
            self._session = boto3.session.Session()
        return self._session

    @property
    def region(self) -> str:
        return self.session.region_name or "us-east-1"

    def __call__(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self.session.client(service, region_name=region, config=self._config)
                self.limiter.register(client)
                self._clients[key] = client
            return client
