"""moto's server in a child process on loopback, every request held for a simulated network latency.

The organization benches (`bench/org_rollout.py`) talk to it over HTTP like the CLI talks to AWS, so what they
measure is the client's fan-out: moto's own CPU (its DynamoDB evaluating every Query, its CloudFormation creating
every member stack) runs in the child and is reported apart (`server_cpu_seconds`), where on AWS it would be the
service's. The child applies the emulator's moto shims (`automations/cli/moto_compat.py`) to its own models.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any


def _serve(conn: Connection, latency_s: float) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from automations.cli.moto_compat import moto_fixes

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")  # the resource types moto's CloudFormation skips, one warning each
    app = DomainDispatcherApplication(create_backend_app)

    def delayed(environ: dict[str, Any], start_response: Any) -> Any:
        time.sleep(latency_s)  # a round trip: the thread waits, the others go on
        return app(environ, start_response)

    with moto_fixes():
        server = make_server("127.0.0.1", 0, delayed, threaded=True, request_handler=MotoRequestHandler)

        def answer() -> None:  # the parent asks for this process's CPU time; anything else stops the server
            while conn.recv() == "cpu":
                conn.send(time.process_time())
            server.shutdown()

        threading.Thread(target=answer, daemon=True).start()
        conn.send(server.server_port)
        server.serve_forever()


@dataclass
class MotoServer:
    endpoint: str
    latency_s: float
    _conn: Connection

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (moto serving the calls: the AWS side)."""
        self._conn.send("cpu")
        return float(self._conn.recv())


@contextmanager
def moto_server(latency_ms: float) -> Iterator[MotoServer]:
    """Start the child (spawned: a fresh interpreter, no moto state inherited), yield it, stop it."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, latency_ms / 1000), daemon=True)
    process.start()
    try:
        port = parent.recv()
        yield MotoServer(f"http://127.0.0.1:{port}", latency_ms / 1000, parent)
    finally:
        with suppress(OSError):
            parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.terminate()
            process.join(5)
