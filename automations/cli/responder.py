"""A stand-in for CloudFormation's pre-signed response URL: an HTTPS server on 127.0.0.1 that keeps the bodies
custom resource providers PUT to it.

crhelper answers over HTTPS only, so the demo (and the tests) serve TLS with a self-signed certificate made for
127.0.0.1; a provider trusts it through `SSL_CERT_FILE` (which local invoke passes through), so verification stays
on. Not shipped to Lambda (automations/cli/ is left out of the code artifact).
"""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import json
import ssl
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path


def self_signed_certificate(folder: Path, *, days: int = 1) -> Certificate:
    """A self-signed CA certificate for 127.0.0.1 (key identifiers included: Python 3.13's default TLS context
    verifies strictly)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "caretaker local responder")])
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "responder.pem", folder / "responder.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Certificate(cert_file, key_file)


class LocalResponder:
    """Accepts PUTs of JSON bodies at `/cloudformation/<request id>`; thread-safe; `close()` stops it."""

    def __init__(self, certificate: Certificate) -> None:
        self._bodies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._lock = threading.Lock()
        responder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                self.send_response(responder._record(self.path, body))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate.cert_file, certificate.key_file)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url_for(self, request_id: str) -> str:
        return f"https://127.0.0.1:{self.server.server_port}/cloudformation/{request_id}?X-Amz-Signature=local"

    @staticmethod
    def request_id(path: str) -> str:
        return path.split("?", 1)[0].rsplit("/", 1)[-1]

    def _record(self, path: str, raw: bytes) -> int:
        """Keep the body; the HTTP status to answer (a subclass may answer otherwise)."""
        with self._lock:
            self._bodies[self.request_id(path)].append(json.loads(raw))
        return 200

    def bodies(self, request_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._bodies.get(request_id, []))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
