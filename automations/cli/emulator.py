"""An embedded AWS emulator (moto's ThreadedMotoServer on 127.0.0.1) for the demo and the tests.

Inside the context, every boto3 client of this process and of child processes
(local invokes) talks to the emulator with fake credentials; the caller's AWS
profile and credential files are hidden so nothing can reach a real account.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

REGION = "us-east-1"
_UNSUPPORTED = re.compile(r"Tried to parse (\S+) but it's not supported by moto's CloudFormation")
_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
              "AWS_SECURITY_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE",
              "AWS_SHARED_CREDENTIALS_FILE", "MOTO_EC2_LOAD_DEFAULT_AMIS")


@contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in _VARIABLES}
    try:
        _put(values)
        yield
    finally:
        _put(saved)


def _put(values: dict[str, str | None]) -> None:
    """Set each variable to its value; None removes it."""
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextmanager
def moto_emulator(region: str = REGION) -> Iterator[str]:
    """Start the emulator on a free loopback port; yield its endpoint URL; stop it and restore the env."""
    from moto.server import ThreadedMotoServer

    from automations.cli.moto_compat import moto_fixes

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    with ExitStack() as stack:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        stack.callback(server.stop)
        stack.enter_context(moto_fixes())
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        stack.enter_context(_environment({
            "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "emulator", "AWS_SECRET_ACCESS_KEY": "emulator",
            "AWS_SESSION_TOKEN": None, "AWS_SECURITY_TOKEN": None, "AWS_PROFILE": None,
            "AWS_DEFAULT_REGION": region, "AWS_REGION": region, "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        }))
        yield endpoint


@contextmanager
def unsupported_resource_types() -> Iterator[list[str]]:
    """Collect the resource types moto's CloudFormation skipped (it only warns) while the block runs.

    The server runs in a thread of this process, so its `warnings.warn` calls reach this
    process-wide `catch_warnings`; its duplicate log line is silenced. The list is filled on exit.
    """
    found: list[str] = []
    moto_log = logging.getLogger("moto")  # moto.cloudformation.parsing logs each skipped resource through it
    level = moto_log.level
    moto_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield found
    finally:
        moto_log.setLevel(level)
    found.extend(sorted({m.group(1) for w in caught if (m := _UNSUPPORTED.search(str(w.message)))}))
