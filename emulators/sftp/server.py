"""A real SSH/SFTP server on loopback (paramiko), read-only, with publickey auth only.

Per run it generates its host key and one client key pair, and writes the client's private
key and a known_hosts line for itself, so production clients connect with host key
verification on. Files live in a directory; `put_generated` streams a detail file there.
Faults: a missing file is just `remove`; `SftpFaults` adds slow reads and dropping the
connection after some bytes of a file.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import paramiko
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_PERMISSION_DENIED

from contracts.records import RecordKind, file_name
from emulators.sftp.generator import write_detail_file
from integrations.config import SftpSettings

USERNAME = "pasi"
KEY_BITS = 2048


@dataclass
class SftpFaults:
    read_delay: timedelta = timedelta(0)
    """Sleep before answering each read request."""
    disconnect_after_bytes: int | None = None
    """Drop the SSH connection when a read reaches this offset ..."""
    disconnects: int = 1
    """... this many times (then serve normally)."""
    disconnected: int = field(default=0)


class _SshServer(paramiko.ServerInterface):
    def __init__(self, authorized_keys: set[str]) -> None:
        """`authorized_keys`: the base64 key blobs accepted, read at each login."""
        self._authorized = authorized_keys
        self.transport: paramiko.Transport | None = None

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == USERNAME and key.get_base64() in self._authorized:
            return AUTH_SUCCESSFUL
        return AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _FileHandle(paramiko.SFTPHandle):
    def __init__(self, emulator: SftpEmulator, server: _SshServer, path: Path) -> None:
        super().__init__(os.O_RDONLY)
        self._emulator = emulator
        self._server = server
        self.readfile = path.open("rb")
        self._path = path

    def stat(self) -> paramiko.SFTPAttributes | int:
        return paramiko.SFTPAttributes.from_stat(self._path.stat(), self._path.name)

    def read(self, offset: int, length: int) -> bytes | int:
        faults = self._emulator.faults
        if faults.read_delay:
            time.sleep(faults.read_delay.total_seconds())
        limit = faults.disconnect_after_bytes
        if (
            limit is not None
            and offset + length > limit
            and faults.disconnected < faults.disconnects
        ):
            faults.disconnected += 1
            transport = self._server.transport
            if transport is not None:
                threading.Thread(target=transport.close, daemon=True).start()
                time.sleep(0.2)
            return SFTP_FAILURE
        result: bytes | int = super().read(offset, length)
        return result


class _SftpInterface(paramiko.SFTPServerInterface):
    def __init__(self, server: _SshServer, emulator: SftpEmulator) -> None:
        super().__init__(server)
        self._server = server
        self._emulator = emulator

    def _local(self, path: str) -> Path | None:
        local = self._emulator.root / Path(path).name
        return local if local.is_file() else None

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        local = self._local(path)
        if local is None:
            return SFTP_NO_SUCH_FILE
        return paramiko.SFTPAttributes.from_stat(local.stat(), local.name)

    lstat = stat

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> Any:
        if flags & (os.O_WRONLY | os.O_RDWR):
            return SFTP_PERMISSION_DENIED
        local = self._local(path)
        if local is None:
            return SFTP_NO_SUCH_FILE
        return _FileHandle(self._emulator, self._server, local)

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        return [
            paramiko.SFTPAttributes.from_stat(entry.stat(), entry.name)
            for entry in sorted(self._emulator.root.iterdir())
            if entry.is_file()
        ]


class SftpEmulator:
    """Start with `start()` (or as a context manager); `settings()` points the client at it."""

    def __init__(self, work_dir: Path, port: int = 0) -> None:
        self.root = work_dir / "files"
        self.root.mkdir(parents=True, exist_ok=True)
        self.faults = SftpFaults()
        self.host_key = paramiko.RSAKey.generate(KEY_BITS)
        client_key = paramiko.RSAKey.generate(KEY_BITS)
        self._client_key_base64 = client_key.get_base64()
        self.authorized_keys = {self._client_key_base64}
        """The authorized_keys list (key blobs): `authorize` / `revoke` change it."""
        self.private_key_path = work_dir / "sftp-client.key"
        client_key.write_private_key_file(str(self.private_key_path))
        self.private_key_path.chmod(0o600)
        self.known_hosts_path = work_dir / "sftp-known_hosts"
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._transports: list[paramiko.Transport] = []
        self._thread = threading.Thread(target=self._serve, name="sftp-emulator", daemon=True)
        self.write_known_hosts(self.host_key)

    def write_known_hosts(self, key: paramiko.PKey) -> None:
        """Trust `key` for this server (another key simulates a changed/spoofed host)."""
        host_keys = paramiko.HostKeys()
        host_keys.add(f"[127.0.0.1]:{self.port}", key.get_name(), key)
        host_keys.save(str(self.known_hosts_path))

    def settings(self, timeout: timedelta = timedelta(seconds=5)) -> SftpSettings:
        return SftpSettings(
            host="127.0.0.1",
            port=self.port,
            username=USERNAME,
            private_key_path=self.private_key_path,
            known_hosts_path=self.known_hosts_path,
            timeout=timeout,
        )

    def authorize(self, public_key_line: str) -> None:
        """Accept the key of an authorized_keys line (`ssh-ed25519 AAAA... comment`)."""
        self.authorized_keys.add(public_key_line.split()[1])

    def revoke(self, public_key_line: str) -> None:
        self.authorized_keys.discard(public_key_line.split()[1])

    def client_public_key_line(self) -> str:
        """The authorized_keys line of the key written to `private_key_path`."""
        return f"ssh-rsa {self._client_key_base64} {USERNAME}@emulator"

    def environment(self) -> dict[str, str]:
        """The SFTP_* settings that point the worker at this emulator."""
        settings = self.settings()
        return {
            "SFTP_HOST": settings.host,
            "SFTP_PORT": str(settings.port),
            "SFTP_USERNAME": settings.username,
            "SFTP_PRIVATE_KEY_PATH": str(settings.private_key_path),
            "SFTP_KNOWN_HOSTS_PATH": str(settings.known_hosts_path),
        }

    def put_generated(self, kind: RecordKind, month: str, rows: int, seed: int = 0) -> Path:
        path = self.root / file_name(kind, month)
        temporary = path.with_suffix(".part")
        write_detail_file(temporary, kind, month, rows, seed)
        temporary.rename(path)  # appears whole, as an upload finished by rename would
        return path

    def put_bytes(self, name: str, data: bytes) -> Path:
        path = self.root / name
        path.write_bytes(data)
        return path

    def remove(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)

    def reset(self) -> None:
        self.faults = SftpFaults()
        self.authorized_keys = {self._client_key_base64}
        self.write_known_hosts(self.host_key)
        for entry in self.root.iterdir():
            entry.unlink()

    def start(self) -> SftpEmulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        for transport in self._transports:
            transport.close()
        self._listener.close()

    def __enter__(self) -> SftpEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(Exception):
                self._start_session(connection)

    def _start_session(self, connection: socket.socket) -> None:
        transport = paramiko.Transport(connection)
        transport.add_server_key(self.host_key)
        server = _SshServer(self.authorized_keys)
        server.transport = transport
        transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _SftpInterface, self)
        self._transports = [known for known in self._transports if known.is_active()]
        self._transports.append(transport)
        transport.start_server(server=server)
