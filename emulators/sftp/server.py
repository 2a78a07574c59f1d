"""A real SSH/SFTP server on loopback (paramiko), read-only, with publickey auth only.

Per run it generates its host key and one client key pair, and writes the client's private
key and a known_hosts line for itself, so production clients connect with host key
verification on. The keys it accepts are those of `authorized_keys` in its work directory,
read at each login as sshd reads the user's file: the client key, and any line appended
(an SFTP administrator authorizing a rotated key) until it is removed.

Paths resolve as on an OpenSSH host: relative to the login directory (`HOME`), and the
detail files live in one directory, `remote_dir` (default `records`, i.e.
`/home/pasi/records`; `settings()` sets SFTP_REMOTE_DIR to it). A client looking anywhere
else gets status NO_SUCH_FILE, as OpenSSH answers (also for a directory that does not exist
and for listing a file). `put_generated` streams a detail file there, appearing whole (as an
upload finished by a rename); `put_partial` exposes one still being uploaded, which grows
on `Upload.grow()` (or at each look of a client, `grow_on_look`) until it is complete.
Faults: a missing file is just `remove`; `SftpFaults` adds slow reads and dropping the
connection after some bytes of a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import posixpath
import socket
import stat
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
from paramiko.sftp import (
    CMD_NAME,
    CMD_REALPATH,
    SFTP_FAILURE,
    SFTP_NO_SUCH_FILE,
    SFTP_PERMISSION_DENIED,
)

from contracts.records import RecordKind, file_name
from emulators.sftp.generator import write_detail_file
from integrations.config import SftpSettings

USERNAME = "pasi"
KEY_BITS = 2048
HOME = f"/home/{USERNAME}"
"""The login directory: relative paths (and `.`) resolve against it, as with OpenSSH."""
_KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-", "sk-")
DEFAULT_REMOTE_DIR = "records"
"""Where the detail files are, relative to HOME: not the client's default `.`, so every test
through `settings()` proves SFTP_REMOTE_DIR is applied."""


@dataclass
class SftpFaults:
    read_delay: timedelta = timedelta(0)
    """Sleep before answering each read request."""
    disconnect_after_bytes: int | None = None
    """Drop the SSH connection when a read reaches this offset ..."""
    disconnects: int = 1
    """... this many times (then serve normally)."""
    disconnected: int = field(default=0)


def authorized_key_blobs(authorized_keys: str) -> set[str]:
    """The base64 key blobs of an authorized_keys file: one key a line, optionally after
    options, before a comment; blank lines and `#` lines ignored (sshd(8), "AUTHORIZED_KEYS
    FILE FORMAT", https://man.openbsd.org/sshd#AUTHORIZED_KEYS_FILE_FORMAT)."""
    blobs = set()
    for line in authorized_keys.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        for key_type, blob in itertools.pairwise(fields):
            if key_type.startswith(_KEY_TYPE_PREFIXES):
                blobs.add(blob)
                break
    return blobs


class _SshServer(paramiko.ServerInterface):
    def __init__(self, authorized_keys_path: Path) -> None:
        """`authorized_keys_path`: read at each login, as sshd reads `~/.ssh/authorized_keys`."""
        self._authorized_keys_path = authorized_keys_path
        self.transport: paramiko.Transport | None = None

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        authorized = authorized_key_blobs(self._authorized_keys_path.read_text())
        if username == USERNAME and key.get_base64() in authorized:
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
    """The emulator's files seen through the virtual tree: HOME, `directory` and their parent
    directories exist, the detail files are in `directory`, nothing else exists."""

    def __init__(self, server: _SshServer, emulator: SftpEmulator) -> None:
        super().__init__(server)
        self._server = server
        self._emulator = emulator

    def _directories(self) -> set[str]:
        found = {"/"}
        for path in (HOME, self._emulator.directory):
            while path != "/":
                found.add(path)
                path = posixpath.dirname(path)
        return found

    def _directory_attributes(self, path: str) -> paramiko.SFTPAttributes:
        attributes = paramiko.SFTPAttributes.from_stat(
            self._emulator.root.stat(), posixpath.basename(path) or "/"
        )
        attributes.st_mode = stat.S_IFDIR | 0o755
        return attributes

    def _local(self, resolved: str) -> Path | None:
        directory, name = posixpath.split(resolved)
        if directory != self._emulator.directory or name in ("", ".", ".."):
            return None
        local = self._emulator.root / name
        return local if local.is_file() else None

    def canonicalize(self, path: str) -> str | int:  # type: ignore[override]
        """Like OpenSSH: the last component may be missing, not the directory above it."""
        resolved = self._emulator.resolve(path)
        directories = self._directories()
        if resolved in directories or posixpath.dirname(resolved) in directories:
            return resolved
        return SFTP_NO_SUCH_FILE

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        resolved = self._emulator.resolve(path)
        if resolved in self._directories():
            return self._directory_attributes(resolved)
        local = self._local(resolved)
        if local is None:
            return SFTP_NO_SUCH_FILE
        attributes = paramiko.SFTPAttributes.from_stat(local.stat(), local.name)
        self._emulator.looked_at(local.name)
        return attributes

    lstat = stat

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> Any:
        if flags & (os.O_WRONLY | os.O_RDWR):
            return SFTP_PERMISSION_DENIED
        resolved = self._emulator.resolve(path)
        if resolved in self._directories():
            return SFTP_FAILURE
        local = self._local(resolved)
        if local is None:
            return SFTP_NO_SUCH_FILE
        return _FileHandle(self._emulator, self._server, local)

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        resolved = self._emulator.resolve(path)
        directories = self._directories()
        if resolved not in directories:
            return SFTP_NO_SUCH_FILE  # OpenSSH: also for a file (ENOTDIR)
        entries = [
            self._directory_attributes(directory)
            for directory in sorted(directories)
            if directory != resolved and posixpath.dirname(directory) == resolved
        ]
        if resolved == self._emulator.directory:
            entries += [
                paramiko.SFTPAttributes.from_stat(entry.stat(), entry.name)
                for entry in sorted(self._emulator.root.iterdir())
                if entry.is_file()
            ]
        return entries


class _SftpServer(paramiko.SFTPServer):
    """paramiko's SFTP subsystem, except that REALPATH can answer a status (paramiko's always
    answers a name): OpenSSH answers NO_SUCH_FILE for a path whose directory is missing.
    Overrides paramiko's private request dispatch (pinned paramiko; not in its stubs)."""

    def _process(self, t: int, request_number: int, msg: paramiko.Message) -> None:
        if t != CMD_REALPATH:
            super()._process(t, request_number, msg)  # type: ignore[misc]
            return
        resolved = self.server.canonicalize(msg.get_text())
        if isinstance(resolved, int):
            self._send_status(request_number, resolved)
        else:
            respond = self._response  # type: ignore[attr-defined]
            respond(request_number, CMD_NAME, 1, resolved, "", paramiko.SFTPAttributes())


class Upload:
    """A detail file still being uploaded: it shows the first of `parts` equal byte ranges
    of its content (cut anywhere, even inside a character), and one more at each `grow()`
    (and at each look of a client when `grow_on_look`) until it is complete."""

    def __init__(self, path: Path, content: Path, parts: int, grow_on_look: bool) -> None:
        self.path = path
        self._content = content
        self.size = content.stat().st_size
        """The size of the complete file."""
        self.grow_on_look = grow_on_look
        self._parts = parts
        self._shown = 0
        self._lock = threading.Lock()
        path.write_bytes(b"")
        self.grow()

    @property
    def complete(self) -> bool:
        return self._shown >= self._parts

    def sha256(self) -> str:
        """The sha256 of the complete file."""
        return hashlib.sha256(self._content.read_bytes()).hexdigest()

    def grow(self) -> None:
        """Append the next part (nothing once complete)."""
        with self._lock:
            if self.complete:
                return
            start = self.size * self._shown // self._parts
            self._shown += 1
            end = self.size * self._shown // self._parts
            with self._content.open("rb") as source, self.path.open("ab") as target:
                source.seek(start)
                target.write(source.read(end - start))

    def finish(self) -> None:
        """Append the rest: the upload is complete."""
        while not self.complete:
            self.grow()


class SftpEmulator:
    """Start with `start()` (or as a context manager); `settings()` points the client at it."""

    def __init__(self, work_dir: Path, port: int = 0, remote_dir: str = DEFAULT_REMOTE_DIR) -> None:
        self.root = work_dir / "files"
        """The local directory holding what the server shows in `directory`."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.remote_dir = remote_dir
        """The directory of the files as a client names it (SFTP_REMOTE_DIR)."""
        self.directory = self.resolve(remote_dir)
        """The same, absolute (`/home/pasi/records`)."""
        self._upload_sources = work_dir / "uploads"
        self._upload_sources.mkdir(exist_ok=True)
        self.uploads: dict[str, Upload] = {}
        """The files still being uploaded, by name."""
        self.faults = SftpFaults()
        self.host_key = paramiko.RSAKey.generate(KEY_BITS)
        client_key = paramiko.RSAKey.generate(KEY_BITS)
        self._client_key_base64 = client_key.get_base64()
        self.authorized_keys_path = work_dir / "authorized_keys"
        """The user's authorized_keys, read at each login: `authorize` / `revoke` edit it, and
        so can a person playing the SFTP administrator (`portalctl emulators`)."""
        self.authorized_keys_path.write_text(self.client_public_key_line() + "\n")
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

    def settings(
        self, timeout: timedelta = timedelta(seconds=5), stable_for: timedelta = timedelta(0)
    ) -> SftpSettings:
        """`stable_for` 0 by default: files put whole need no wait, and an `Upload` that
        grows on each look is seen growing by two looks made back to back."""
        return SftpSettings(
            host="127.0.0.1",
            port=self.port,
            username=USERNAME,
            private_key_path=self.private_key_path,
            known_hosts_path=self.known_hosts_path,
            timeout=timeout,
            remote_dir=self.remote_dir,
            stable_for=stable_for,
        )

    def authorize(self, public_key_line: str) -> None:
        """Accept the key of an authorized_keys line (`ssh-ed25519 AAAA... comment`)."""
        with self.authorized_keys_path.open("a") as authorized_keys:
            authorized_keys.write(public_key_line.strip() + "\n")

    def revoke(self, public_key_line: str) -> None:
        """Remove every line of that key."""
        [blob] = authorized_key_blobs(public_key_line)
        lines = self.authorized_keys_path.read_text().splitlines()
        kept = [line for line in lines if blob not in authorized_key_blobs(line)]
        self.authorized_keys_path.write_text("".join(f"{line}\n" for line in kept))

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
            "SFTP_REMOTE_DIR": settings.remote_dir,
            "SFTP_STABLE_FOR": f"{settings.stable_for.total_seconds():g}s",
        }

    def resolve(self, path: str) -> str:
        """`path` as this server sees it: absolute and normalised, a relative one from HOME."""
        return "/" + posixpath.normpath(posixpath.join(HOME, path)).lstrip("/")

    def put_generated(self, kind: RecordKind, month: str, rows: int, seed: int = 0) -> Path:
        path = self.root / file_name(kind, month)
        self.uploads.pop(path.name, None)
        temporary = path.with_suffix(".part")
        write_detail_file(temporary, kind, month, rows, seed)
        temporary.rename(path)  # appears whole, as an upload finished by rename would
        return path

    def put_partial(
        self,
        kind: RecordKind,
        month: str,
        rows: int,
        seed: int = 0,
        parts: int = 2,
        grow_on_look: bool = False,
    ) -> Upload:
        """The detail file `put_generated` would write, still being uploaded: its first of
        `parts` byte ranges now, the others at each `grow()` or, with `grow_on_look`, each
        time a client looks at it (STAT or LSTAT, not reading), as if the upload went on
        between two looks; `finish()` completes it."""
        name = file_name(kind, month)
        content = self._upload_sources / name
        write_detail_file(content, kind, month, rows, seed)
        upload = Upload(self.root / name, content, parts, grow_on_look)
        self.uploads[name] = upload
        return upload

    def looked_at(self, name: str) -> None:
        """A client looked at `name` (after the answer was made): an upload growing on looks
        appends its next part."""
        upload = self.uploads.get(name)
        if upload is not None and upload.grow_on_look:
            upload.grow()

    def put_bytes(self, name: str, data: bytes) -> Path:
        self.uploads.pop(name, None)
        path = self.root / name
        path.write_bytes(data)
        return path

    def remove(self, name: str) -> None:
        self.uploads.pop(name, None)
        (self.root / name).unlink(missing_ok=True)

    def reset(self) -> None:
        self.faults = SftpFaults()
        self.authorized_keys_path.write_text(self.client_public_key_line() + "\n")
        self.write_known_hosts(self.host_key)
        self.uploads.clear()
        for directory in (self.root, self._upload_sources):
            for entry in directory.iterdir():
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
        server = _SshServer(self.authorized_keys_path)
        server.transport = transport
        transport.set_subsystem_handler("sftp", _SftpServer, _SftpInterface, self)
        self._transports = [known for known in self._transports if known.is_active()]
        self._transports.append(transport)
        transport.start_server(server=server)
