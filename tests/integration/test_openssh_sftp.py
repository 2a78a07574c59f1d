"""The production SFTP client, import activity and loader against a real OpenSSH sshd."""

from __future__ import annotations

import hashlib

import psycopg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.call_records import CallRecordsActivities
from contracts.records import ImportFileRequest, RecordKind, file_name
from emulators.sftp import write_detail_file
from integrations.call_records.loader import import_month_file
from integrations.config import DatabaseSettings
from integrations.sftp import HostKeyRejectedError
from tests.support.openssh import OpenSshServer, generate_key

MONTH = "202511"
"""A month no other test imports, so the counts here are this test's own."""


def _count(database: DatabaseSettings) -> int:
    with psycopg.connect(database.url) as connection:
        query = "SELECT count(*) FROM call_records_sms WHERE month = %s"
        row = connection.execute(query.encode(), (MONTH,)).fetchone()
        assert row is not None
        return int(row[0])


def test_activity_imports_file_from_openssh_with_host_key_checked(
    openssh: OpenSshServer, database: DatabaseSettings
) -> None:
    path = openssh.files / file_name(RecordKind.SMS, MONTH)
    write_detail_file(path, RecordKind.SMS, MONTH, rows=3000, seed=5)
    activities = CallRecordsActivities(openssh.settings(), database)

    imported = ActivityEnvironment().run(
        activities.import_file, ImportFileRequest(kind=RecordKind.SMS, month=MONTH)
    )

    assert imported.rows == 3000
    assert imported.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert _count(database) == 3000


def test_mismatched_host_key_is_refused_clearly(
    openssh: OpenSshServer, database: DatabaseSettings
) -> None:
    write_detail_file(
        openssh.files / file_name(RecordKind.SMS, MONTH), RecordKind.SMS, MONTH, rows=1
    )
    openssh.trust_host_key(generate_key(openssh.work_dir / "impostor_ed25519"))

    with pytest.raises(
        HostKeyRejectedError,
        match=rf"host key of 127\.0\.0\.1:{openssh.port} refused: it presented a ssh-ed25519 "
        r"key that does not match .*known_hosts \(possible man-in-the-middle",
    ):
        import_month_file(openssh.settings(), database, RecordKind.SMS, MONTH)
