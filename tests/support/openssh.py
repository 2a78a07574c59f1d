"""A real OpenSSH `sshd` serving SFTP on a free loopback port, from a temporary config.

It runs as the current user (key-only login, no PAM), with a generated ed25519 host key and
an AuthorizedKeysFile holding a generated client key; `settings()` points the production
client at it with host key verification on (known_hosts written from the host key). The
process is stopped when the context exits. Absent `sshd`: see `tests.support.debian_tools`.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from integrations.config import SftpSettings
from starters.demo.processes import stop_process
from tests.support.debian_tools import require_tool

SSHD = Path("/usr/sbin/sshd")
PRIVILEGE_SEPARATION_DIR = Path("/run/sshd")
"""sshd started as root refuses to run without it (packages create it at boot only)."""
LOCALHOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.05


def require_sshd() -> None:
    require_tool(str(SSHD), "openssh-server")
    require_tool("ssh-keygen", "openssh-client")


def generate_key(path: Path) -> str:
    """Write a new ed25519 key pair at `path` (+ `.pub`); return the public key line."""
    path.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
    )
    return path.with_name(path.name + ".pub").read_text().strip()


@dataclass(frozen=True)
class OpenSshServer:
    port: int
    work_dir: Path
    files: Path
    """Served directory (the client's `remote_dir`)."""
    host_public_key: str
    client_key_path: Path
    authorized_keys_path: Path
    known_hosts_path: Path

    def settings(
        self, timeout: timedelta = timedelta(seconds=10), stable_for: timedelta = timedelta(0)
    ) -> SftpSettings:
        return SftpSettings(
            host=LOCALHOST,
            port=self.port,
            username=getpass.getuser(),
            private_key_path=self.client_key_path,
            known_hosts_path=self.known_hosts_path,
            remote_dir=str(self.files),
            timeout=timeout,
            stable_for=stable_for,
        )

    def trust_host_key(self, public_key: str) -> None:
        """Write known_hosts trusting `public_key` for this server (another key: a spoof)."""
        key_type, key_data = public_key.split()[:2]
        self.known_hosts_path.write_text(f"[{LOCALHOST}]:{self.port} {key_type} {key_data}\n")

    def authorize(self, *public_keys: str) -> None:
        """Replace the authorized client keys; sshd reads the file at each login."""
        self.authorized_keys_path.write_text("".join(f"{key}\n" for key in public_keys))

    def reset(self) -> None:
        """The generated client key authorized, the real host key trusted, no files."""
        self.authorize(Path(f"{self.client_key_path}.pub").read_text().strip())
        self.trust_host_key(self.host_public_key)
        for entry in self.files.iterdir():
            entry.unlink()


@contextmanager
def running_openssh(work_dir: Path) -> Iterator[OpenSshServer]:
    """Start sshd (skipping when it is not installed) and stop it on exit, whatever happens."""
    require_sshd()
    files = work_dir / "files"
    files.mkdir()
    server = OpenSshServer(
        port=_free_port(),
        work_dir=work_dir,
        files=files,
        host_public_key=generate_key(work_dir / "host_ed25519"),
        client_key_path=work_dir / "client_ed25519",
        authorized_keys_path=work_dir / "authorized_keys",
        known_hosts_path=work_dir / "known_hosts",
    )
    generate_key(server.client_key_path)
    server.reset()
    config = _write_config(server)
    if os.geteuid() == 0:
        PRIVILEGE_SEPARATION_DIR.mkdir(mode=0o755, exist_ok=True)
    log_path = work_dir / "sshd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_listening(process, server.port, log_path)
        yield server
    finally:
        stop_process(process, STOP_TIMEOUT_SECONDS)


def _write_config(server: OpenSshServer) -> Path:
    work = server.work_dir
    config = work / "sshd_config"
    config.write_text(
        f"""\
ListenAddress {LOCALHOST}:{server.port}
HostKey {work / "host_ed25519"}
PidFile {work / "sshd.pid"}
AuthorizedKeysFile {server.authorized_keys_path}
AllowUsers {getpass.getuser()}
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding no
X11Forwarding no
Subsystem sftp internal-sftp
LogLevel INFO
"""
    )
    return config


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"sshd exited with {process.returncode}: {log_path.read_text().strip()}"
            )
        try:
            socket.create_connection((LOCALHOST, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"sshd not listening on {port} after {STARTUP_TIMEOUT_SECONDS} s: "
                    f"{log_path.read_text().strip()}"
                ) from None
        time.sleep(POLL_SECONDS)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOCALHOST, 0))
        port: int = probe.getsockname()[1]
        return port
