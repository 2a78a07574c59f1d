"""SFTP client on paramiko: key authentication, host key verified against known_hosts (an
unknown or changed host key is refused, never added), timeouts, prefetching reads.

Files are looked for in SFTP_REMOTE_DIR (relative: from the login directory). A file that is
not there, or whose directory is not there, is RemoteFileMissingError, and so is one still
being uploaded: the MVNO publishes no completion marker or temporary name, so a file counts
as complete only when its size and modification time are the same at two looks
SFTP_STABLE_FOR apart (`complete_file`).

Synchronous (paramiko is): the activities using it run in a thread. Errors are the typed
integration errors, so the activity layer maps them to retry decisions.
"""

from __future__ import annotations

import posixpath
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

import paramiko

from integrations.config import SftpSettings
from integrations.errors import AuthenticationError, BusinessError, TransientError
from integrations.secrets.material import ssh_private_key
from integrations.secrets.provider import CredentialSource

KEEPALIVE_EVERY = timedelta(seconds=10)
"""While waiting SFTP_STABLE_FOR, `keepalive` is called at least this often (heartbeats)."""


class RemoteFileMissingError(BusinessError):
    """The file is not (yet) complete on the server: not there, its directory not there, or
    still being uploaded. The caller decides to wait, not to retry. Its class name is the
    failure type ImportCallRecords recognises (REMOTE_FILE_MISSING)."""

    def __init__(self, path: str, reason: str = "is not on the SFTP server") -> None:
        super().__init__("ENOENT", f"{path} {reason}")
        self.path = path


@dataclass(frozen=True)
class RemoteFile:
    """One look at a remote file."""

    path: str
    size: int
    modified: int | None
    """Modification time as the server reports it (SFTP v3: whole seconds since the epoch)."""


def _describe_look(look: RemoteFile) -> str:
    if look.modified is None:
        return f"{look.size} bytes"
    modified = datetime.fromtimestamp(look.modified, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{look.size} bytes modified {modified}"


def _seconds(duration: timedelta) -> str:
    return f"{duration.total_seconds():g} s"


class HostKeyRejectedError(AuthenticationError):
    def __init__(self, host: str, reason: str) -> None:
        super().__init__("EHOSTKEY", f"SFTP host key of {host} refused: {reason}")


def _transient(host: str, error: BaseException) -> TransientError:
    return TransientError("ESFTP", f"SFTP {host}: {type(error).__name__}: {error}")


class SftpSession:
    """One connected session; use `connect()` to get one."""

    def __init__(self, settings: SftpSettings, sftp: paramiko.SFTPClient) -> None:
        self._settings = settings
        self._sftp = sftp

    def path(self, name: str) -> str:
        """`name` in SFTP_REMOTE_DIR, as sent to the server."""
        directory = self._settings.remote_dir
        return name if directory in ("", ".", "./") else posixpath.join(directory, name)

    def list_remote_dir(self) -> list[str]:
        """The names in SFTP_REMOTE_DIR; FileNotFoundError when it does not exist."""
        return self._sftp.listdir(self._settings.remote_dir or ".")

    def look(self, name: str) -> RemoteFile:
        """Size and modification time of `name`; RemoteFileMissingError when it is not there
        (saying so when SFTP_REMOTE_DIR itself is missing)."""
        path = self.path(name)
        try:
            attributes = self._sftp.stat(path)
        except FileNotFoundError:
            raise RemoteFileMissingError(path, self._missing_reason()) from None
        except (OSError, EOFError, paramiko.SSHException) as error:
            raise _transient(self._settings.host, error) from error
        return RemoteFile(path, attributes.st_size or 0, attributes.st_mtime)

    def complete_file(
        self,
        name: str,
        sleep: Callable[[float], None] = time.sleep,
        keepalive: Callable[[RemoteFile], None] = lambda look: None,
    ) -> RemoteFile:
        """`name` once it looked the same twice, SFTP_STABLE_FOR apart; RemoteFileMissingError
        when it is missing or changed in between (still being uploaded). `keepalive` is called
        with the first look at least every KEEPALIVE_EVERY while waiting."""
        first = self.look(name)
        left = self._settings.stable_for.total_seconds()
        while left > 0:
            keepalive(first)
            step = min(left, KEEPALIVE_EVERY.total_seconds())
            sleep(step)
            left -= step
        second = self.look(name)
        self.check_unchanged(first, second, f"{_seconds(self._settings.stable_for)} later")
        return second

    def check_unchanged(self, before: RemoteFile, after: RemoteFile, when: str) -> None:
        """RemoteFileMissingError "still being uploaded" unless `after` (a look at the same
        file `when`) looks like `before`."""
        if after != before:
            raise RemoteFileMissingError(
                before.path,
                f"is still being uploaded to the SFTP server: {_describe_look(before)}, then "
                f"{_describe_look(after)} {when}; it is loaded once it stays unchanged for "
                f"SFTP_STABLE_FOR ({_seconds(self._settings.stable_for)})",
            )

    def _missing_reason(self) -> str:
        directory = self._settings.remote_dir
        if directory.rstrip("/") in ("", "."):
            return "is not on the SFTP server"
        try:
            attributes = self._sftp.stat(directory)
        except FileNotFoundError:
            problem = "does not exist"
        except (OSError, EOFError, paramiko.SSHException):
            return "is not on the SFTP server"
        else:
            if attributes.st_mode is None or stat.S_ISDIR(attributes.st_mode):
                return "is not on the SFTP server"
            problem = "is not a directory"
        return f"is not on the SFTP server: SFTP_REMOTE_DIR {directory} {problem} there"

    @contextmanager
    def open(self, name: str, size: int) -> Iterator[BinaryIO]:
        """The file for streaming reads, with `prefetch_requests` reads in flight."""
        path = self.path(name)
        try:
            remote = self._sftp.open(path, "rb", bufsize=256 * 1024)
        except FileNotFoundError:
            raise RemoteFileMissingError(path, self._missing_reason()) from None
        except (OSError, EOFError, paramiko.SSHException) as error:
            raise _transient(self._settings.host, error) from error
        with remote:
            remote.prefetch(size, max_concurrent_requests=self._settings.prefetch_requests)
            yield remote  # type: ignore[misc]


@contextmanager
def connect(
    settings: SftpSettings, private_key: CredentialSource | None = None
) -> Iterator[SftpSession]:
    """`private_key`: e.g. the secret store's active version; default: SFTP_PRIVATE_KEY_PATH."""
    host = f"{settings.host}:{settings.port}"
    pkey = _client_key(
        settings, private_key or CredentialSource(settings.private_key_path.read_bytes)
    )
    client = paramiko.SSHClient()
    try:
        client.load_host_keys(str(settings.known_hosts_path))
    except OSError as error:
        raise HostKeyRejectedError(
            host, f"cannot read known_hosts {settings.known_hosts_path}: {error}"
        ) from None
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    timeout = settings.timeout.total_seconds()
    try:
        client.connect(
            settings.host,
            port=settings.port,
            username=settings.username,
            pkey=pkey,
            look_for_keys=False,
            allow_agent=False,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            channel_timeout=timeout,
        )
        sftp = client.open_sftp()
        channel = sftp.get_channel()
        assert channel is not None
        channel.settimeout(timeout)
    except paramiko.BadHostKeyException as error:
        client.close()
        raise HostKeyRejectedError(
            host,
            f"it presented a {error.key.get_name()} key that does not match "
            f"{settings.known_hosts_path} (possible man-in-the-middle, or the key changed)",
        ) from None
    except paramiko.AuthenticationException as error:
        client.close()
        raise AuthenticationError(
            "EAUTH", f"SFTP {host} refused the key of user {settings.username}: {error}"
        ) from None
    except paramiko.SSHException as error:
        client.close()
        if "not found in known_hosts" in str(error):
            raise HostKeyRejectedError(
                host, f"not in {settings.known_hosts_path}; add its key there first"
            ) from None
        raise _transient(host, error) from error
    except (TimeoutError, OSError, EOFError) as error:
        client.close()
        raise _transient(host, error) from error
    try:
        yield SftpSession(settings, sftp)
    finally:
        client.close()


def _client_key(settings: SftpSettings, private_key: CredentialSource) -> paramiko.PKey:
    try:
        return ssh_private_key(private_key.current().value)
    except (OSError, ValueError) as error:
        raise AuthenticationError(
            "EAUTH", f"SFTP private key of user {settings.username} unusable: {error}"
        ) from None
