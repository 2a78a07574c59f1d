"""Call-records activity: one detail file from SFTP into PostgreSQL (runs in a thread)."""

from __future__ import annotations

from temporalio import activity

from contracts.records import IMPORT_FILE, ImportedFile, ImportFileRequest
from integrations.call_records.loader import import_month_file
from integrations.config import DatabaseSettings, SftpSettings
from integrations.errors import BusinessError
from integrations.secrets.provider import CredentialSource


class SftpNotConfiguredError(BusinessError):
    def __init__(self) -> None:
        super().__init__("ECONFIG", "SFTP is not configured on this worker (set SFTP_HOST ...)")


class CallRecordsActivities:
    def __init__(
        self,
        sftp: SftpSettings | None,
        database: DatabaseSettings,
        private_key: CredentialSource | None = None,
    ) -> None:
        """`private_key`: the secret store's sftp-ssh version; None: SFTP_PRIVATE_KEY_PATH."""
        self._sftp = sftp
        self._database = database
        self._private_key = private_key

    @activity.defn(name=IMPORT_FILE.name)
    def import_file(self, request: ImportFileRequest) -> ImportedFile:
        """Download and load one file, heartbeating the bytes read; replaces its month.

        The file is read only once it looked the same twice SFTP_STABLE_FOR apart (the wait
        heartbeats 0 bytes read); one still being uploaded fails as REMOTE_FILE_MISSING, so
        the workflow looks again later. A retried attempt (another worker, after a missed
        heartbeat) starts the file again: the staging of a failed attempt was rolled back
        with its transaction.
        """
        if self._sftp is None:
            raise SftpNotConfiguredError()
        return import_month_file(
            self._sftp,
            self._database,
            request.kind,
            request.month,
            lambda read, size: activity.heartbeat(read, size),
            self._private_key,
        )
