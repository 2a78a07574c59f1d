"""SFTP client on paramiko: key authentication, host key verified against known_hosts (an
unknown or changed host key is refused, never added), timeouts, prefetching reads.

Synchronous (paramiko is): the activities using it run in a thread. Errors are the typed
integration errors, so the activity layer maps them to retry decisions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import paramiko

from integrations.config import SftpSettings
from integrations.errors import AuthenticationError, BusinessError, TransientError
from integrations.secrets.material import ssh_private_key
from integrations.secrets.provider import CredentialSource


class RemoteFileMissingError(BusinessError):
    """The file is not (yet) on the server: the caller decides to wait, not to retry. Its class
    name is the failure type ImportCallRecords recognises (REMOTE_FILE_MISSING)."""

    def __init__(self, path: str) -> None:
        super().__init__("ENOENT", f"{path} is not on the SFTP server")
        self.path = path


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
        directory = self._settings.remote_dir.rstrip("/")
        return name if directory in ("", ".") else f"{directory}/{name}"

    def size(self, name: str) -> int:
        """The size of `name` in bytes; RemoteFileMissingError when it is not there."""
        path = self.path(name)
        try:
            attributes = self._sftp.stat(path)
        except FileNotFoundError:
            raise RemoteFileMissingError(path) from None
        except (OSError, EOFError, paramiko.SSHException) as error:
            raise _transient(self._settings.host, error) from error
        return attributes.st_size or 0

    @contextmanager
    def open(self, name: str, size: int) -> Iterator[BinaryIO]:
        """The file for streaming reads, with `prefetch_requests` reads in flight."""
        path = self.path(name)
        try:
            remote = self._sftp.open(path, "rb", bufsize=256 * 1024)
        except FileNotFoundError:
            raise RemoteFileMissingError(path) from None
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
