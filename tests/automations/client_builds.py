"""Count what building AWS clients costs: boto3 sessions, botocore clients, and data files parsed.

`counting_builds()` wraps `boto3.session.Session.__init__`, `botocore.session.Session.create_client` and
`botocore.loaders.JSONFileLoader.load_file` (the one place botocore reads and parses a service model,
endpoint rule set, paginator or its own data files) while inside, whoever builds the client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3.session
import botocore.loaders
import botocore.session
import pytest


@dataclass
class Builds:
    sessions: int = 0
    clients: list[str] = field(default_factory=list)
    parsed: list[str] = field(default_factory=list)  # paths of the data files parsed

    @property
    def nothing(self) -> bool:
        return self.sessions == 0 and not self.clients and not self.parsed


@contextmanager
def counting_builds() -> Iterator[Builds]:
    builds = Builds()
    session_init = boto3.session.Session.__init__
    create_client = botocore.session.Session.create_client
    load_file = botocore.loaders.JSONFileLoader.load_file

    def counted_session(self: Any, *args: Any, **kwargs: Any) -> None:
        builds.sessions += 1
        session_init(self, *args, **kwargs)

    def counted_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        builds.clients.append(service_name)
        return create_client(self, service_name, *args, **kwargs)

    def counted_load(self: Any, file_path: str) -> Any:
        builds.parsed.append(file_path)
        return load_file(self, file_path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(boto3.session.Session, "__init__", counted_session)
        patch.setattr(botocore.session.Session, "create_client", counted_client)
        patch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted_load)
        yield builds
