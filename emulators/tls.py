"""A locally generated CA and server certificate, so emulators serve real TLS.

simple-salesforce always builds `https://` URLs, so the Salesforce emulator must speak TLS;
clients trust the CA through `SF_CA_BUNDLE`. Files are kept in a directory so that a
restarted emulator and its clients keep agreeing.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    ca_path: Path
    cert_chain_path: Path
    key_path: Path


def ensure_tls_files(directory: Path) -> TlsFiles:
    files = TlsFiles(
        ca_path=directory / "emulator-ca.pem",
        cert_chain_path=directory / "emulator-server.pem",
        key_path=directory / "emulator-server.key",
    )
    if all(path.exists() for path in (files.ca_path, files.cert_chain_path, files.key_path)):
        return files
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="portal-workflows emulators")
    server_cert = ca.issue_cert("localhost", "127.0.0.1", "::1", *_own_host_name())
    ca.cert_pem.write_to_path(str(files.ca_path))
    server_cert.private_key_pem.write_to_path(str(files.key_path))
    with files.cert_chain_path.open("wb") as chain:
        for blob in server_cert.cert_chain_pems:
            chain.write(blob.bytes())
    files.key_path.chmod(0o600)
    return files


def _own_host_name() -> list[str]:
    """In docker-compose the clients reach the emulators by the container's host name."""
    name = socket.gethostname().lower()
    return [name] if re.fullmatch(r"[a-z0-9.-]+", name) and name != "localhost" else []
