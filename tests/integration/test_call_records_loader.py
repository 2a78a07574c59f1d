"""The production SFTP client and loader against the SFTP emulator (real SSH) and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import paramiko
import psycopg
import pytest

from contracts.records import RecordKind, file_name
from emulators.sftp import SftpEmulator
from integrations.call_records import loader
from integrations.call_records.loader import MalformedFileError, import_month_file
from integrations.call_records.queries import account_month_records
from integrations.config import DatabaseSettings
from integrations.errors import TransientError
from integrations.sftp import HostKeyRejectedError, RemoteFileMissingError

MONTH = "202609"


def _count(database: DatabaseSettings, table: str, month: str = MONTH) -> int:
    with psycopg.connect(database.url) as connection:
        query = f"SELECT count(*) FROM {table} WHERE month = %s"
        row = connection.execute(query.encode(), (month,)).fetchone()
        assert row is not None
        return int(row[0])


def test_import_streams_file_into_month(sftp: SftpEmulator, database: DatabaseSettings) -> None:
    path = sftp.put_generated(RecordKind.TALK, MONTH, rows=5000, seed=1)
    seen: list[int] = []

    imported = import_month_file(
        sftp.settings(), database, RecordKind.TALK, MONTH, lambda read, size: seen.append(read)
    )

    assert imported.rows == 5000
    assert imported.size_bytes == path.stat().st_size
    assert imported.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert seen[-1] == imported.size_bytes
    assert _count(database, "call_records_talk") == 5000
    assert _count(database, "call_record_imports") == 1


def test_reimport_replaces_month_exactly(sftp: SftpEmulator, database: DatabaseSettings) -> None:
    sftp.put_generated(RecordKind.SMS, MONTH, rows=300, seed=2)
    sftp.put_generated(RecordKind.SMS, "202608", rows=100, seed=2)
    import_month_file(sftp.settings(), database, RecordKind.SMS, "202608")
    first = import_month_file(sftp.settings(), database, RecordKind.SMS, MONTH)
    second = import_month_file(sftp.settings(), database, RecordKind.SMS, MONTH)

    assert first.sha256 == second.sha256
    assert _count(database, "call_records_sms") == 300
    assert _count(database, "call_records_sms", "202608") == 100
    assert _count(database, "call_record_imports") == 2


async def test_query_one_account_month(sftp: SftpEmulator, database: DatabaseSettings) -> None:
    header = "電話番号,通話開始日時,相手先番号,通話時間(秒),発着信区分,通話種別,料金(円)\r\n"
    line = "08000000001,2026/09/03 10:00:00,09012345678,65,発信,国内通話,22\r\n"
    sftp.put_bytes(file_name(RecordKind.TALK, MONTH), (header + line).encode("cp932"))
    import_month_file(sftp.settings(), database, RecordKind.TALK, MONTH)

    async with await psycopg.AsyncConnection.connect(database.url) as connection:
        records = await account_month_records(connection, "08000000001", MONTH)

    assert [(r.kind, r.direction, r.detail, r.duration_seconds) for r in records] == [
        ("talk", "outgoing", "国内通話", 65)
    ]


def test_malformed_line_names_file_and_line_and_changes_nothing(
    sftp: SftpEmulator, database: DatabaseSettings
) -> None:
    name = sftp.put_generated(RecordKind.TALK, MONTH, rows=50, seed=3).name
    import_month_file(sftp.settings(), database, RecordKind.TALK, MONTH)
    lines = (sftp.root / name).read_bytes().split(b"\r\n")
    lines[7] = "08000000001,2026/09/03 10:00:00,09012345678,長い,発信,国内通話,22".encode("cp932")
    sftp.put_bytes(name, b"\r\n".join(lines))

    with pytest.raises(MalformedFileError, match=rf"{name} line 8: column 通話時間"):
        import_month_file(sftp.settings(), database, RecordKind.TALK, MONTH)

    assert _count(database, "call_records_talk") == 50
    assert _count(database, "call_record_imports") == 1


def test_bad_line_far_into_a_large_file_is_named_exactly(
    sftp: SftpEmulator, database: DatabaseSettings
) -> None:
    name = sftp.put_generated(RecordKind.SMS, MONTH, rows=40_000, seed=6).name
    import_month_file(sftp.settings(), database, RecordKind.SMS, MONTH)
    lines = (sftp.root / name).read_bytes().split(b"\r\n")
    lines[30_000] = lines[30_000].replace("受信".encode("cp932"), b"\x81\xff", 1)
    lines[30_000] = lines[30_000].replace("送信".encode("cp932"), b"\x81\xff", 1)
    sftp.put_bytes(name, b"\r\n".join(lines))

    with pytest.raises(MalformedFileError, match=rf"{name} line 30001: not valid cp932"):
        import_month_file(sftp.settings(), database, RecordKind.SMS, MONTH)

    assert _count(database, "call_records_sms") == 40_000


def test_missing_file_is_its_own_error(sftp: SftpEmulator, database: DatabaseSettings) -> None:
    with pytest.raises(RemoteFileMissingError, match=r"PASI_sms-detail-202609\.csv"):
        import_month_file(sftp.settings(), database, RecordKind.SMS, MONTH)


def test_empty_file_is_an_upload_not_begun(sftp: SftpEmulator, database: DatabaseSettings) -> None:
    sftp.put_bytes(file_name(RecordKind.SMS, MONTH), b"")

    with pytest.raises(RemoteFileMissingError, match=r"sms-detail-202609\.csv is empty on the"):
        import_month_file(sftp.settings(), database, RecordKind.SMS, MONTH)

    assert _import_rows(database) == []


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_disconnect_mid_file_changes_nothing_then_retry_succeeds(
    sftp: SftpEmulator, database: DatabaseSettings
) -> None:
    sftp.put_generated(RecordKind.TALK, MONTH, rows=20_000, seed=4)
    sftp.faults.disconnect_after_bytes = 300_000

    with pytest.raises(TransientError):
        import_month_file(sftp.settings(), database, RecordKind.TALK, MONTH)
    assert _count(database, "call_records_talk") == 0

    assert import_month_file(sftp.settings(), database, RecordKind.TALK, MONTH).rows == 20_000
    assert _count(database, "call_records_talk") == 20_000


def test_changed_host_key_is_refused(sftp: SftpEmulator, database: DatabaseSettings) -> None:
    sftp.put_generated(RecordKind.TALK, MONTH, rows=1)
    sftp.write_known_hosts(paramiko.RSAKey.generate(1024))

    with pytest.raises(HostKeyRejectedError, match=r"host key of 127\.0\.0\.1:\d+ refused"):
        import_month_file(sftp.settings(), database, RecordKind.TALK, MONTH)


def _import_rows(database: DatabaseSettings) -> list[tuple[str, int, str]]:
    with psycopg.connect(database.url) as connection:
        query = b"SELECT file, size_bytes, sha256 FROM call_record_imports ORDER BY id"
        return [(str(f), int(s), str(h)) for f, s, h in connection.execute(query).fetchall()]


def test_files_are_looked_for_in_the_remote_dir_only(
    sftp: SftpEmulator, database: DatabaseSettings
) -> None:
    """The emulator serves `/home/pasi/records` (SFTP_REMOTE_DIR `records`, from the login
    directory): the production default `.` and a directory that does not exist find
    nothing, as on the real host; the absolute path of the right one works too."""
    sftp.put_generated(RecordKind.TALK, MONTH, rows=10)
    settings = sftp.settings()
    assert (settings.remote_dir, sftp.directory) == ("records", "/home/pasi/records")

    with pytest.raises(RemoteFileMissingError) as in_home:
        import_month_file(
            settings.model_copy(update={"remote_dir": "."}), database, RecordKind.TALK, MONTH
        )
    with pytest.raises(RemoteFileMissingError) as elsewhere:
        import_month_file(
            settings.model_copy(update={"remote_dir": "/data/cdr"}),
            database,
            RecordKind.TALK,
            MONTH,
        )
    absolute = settings.model_copy(update={"remote_dir": "/home/pasi/records/"})

    assert in_home.value.message == "PASI_talk-detail-202609.csv is not on the SFTP server"
    assert elsewhere.value.message == (
        "/data/cdr/PASI_talk-detail-202609.csv is not on the SFTP server: "
        "SFTP_REMOTE_DIR /data/cdr does not exist there"
    )
    assert elsewhere.value.path == "/data/cdr/PASI_talk-detail-202609.csv"
    assert _count(database, "call_records_talk") == 0
    assert import_month_file(absolute, database, RecordKind.TALK, MONTH).rows == 10


def test_file_still_being_uploaded_is_not_loaded_until_complete(
    sftp: SftpEmulator, database: DatabaseSettings
) -> None:
    """The upload goes on while the client waits SFTP_STABLE_FOR between its two looks."""
    upload = sftp.put_partial(RecordKind.TALK, MONTH, rows=3000, seed=8, parts=3)
    settings = sftp.settings(stable_for=timedelta(seconds=25))
    waits: list[float] = []
    reported: list[tuple[int, int]] = []

    def upload_goes_on(seconds: float) -> None:
        waits.append(seconds)
        upload.grow()

    with pytest.raises(
        RemoteFileMissingError,
        match=r" records/PASI_talk-detail-202609\.csv is still being uploaded to the SFTP "
        r"server: \d+ bytes modified \S+Z, then \d+ bytes modified \S+Z 25 s later; it is "
        r"loaded once it stays unchanged for SFTP_STABLE_FOR \(25 s\)$",
    ) as growing:
        import_month_file(
            settings,
            database,
            RecordKind.TALK,
            MONTH,
            lambda read, size: reported.append((read, size)),
            sleep=upload_goes_on,
        )

    assert upload.complete
    assert f", then {upload.size} bytes" in growing.value.message
    assert waits == [10, 10, 5]  # SFTP_STABLE_FOR in heartbeat-sized steps
    assert [read for read, _ in reported] == [0, 0, 0]  # heartbeats while waiting
    assert _count(database, "call_records_talk") == 0
    assert _import_rows(database) == []

    imported = import_month_file(settings, database, RecordKind.TALK, MONTH, sleep=waits.append)

    assert (imported.rows, imported.size_bytes, imported.sha256) == (
        3000,
        upload.size,
        upload.sha256(),
    )
    assert _import_rows(database) == [(upload.path.name, upload.size, upload.sha256())]
    assert _count(database, "call_records_talk") == 3000


def test_upload_growing_at_each_look_is_seen_without_waiting(
    sftp: SftpEmulator, database: DatabaseSettings
) -> None:
    upload = sftp.put_partial(RecordKind.SMS, MONTH, rows=500, parts=5, grow_on_look=True)

    for _ in range(2):  # each attempt's two looks see it grow, by two of its five parts
        with pytest.raises(RemoteFileMissingError, match="is still being uploaded"):
            import_month_file(sftp.settings(), database, RecordKind.SMS, MONTH)
        assert _import_rows(database) == []
    imported = import_month_file(sftp.settings(), database, RecordKind.SMS, MONTH)

    assert upload.complete
    assert (imported.size_bytes, imported.sha256) == (upload.size, upload.sha256())
    assert _count(database, "call_records_sms") == 500


@pytest.mark.parametrize(
    ("written", "when"),
    [
        ("08000000001,2026/09/03 10:00:00,09012345678,65,発信,国内通話,22\r\n", "after"),
        ("08000000001,2026/09/03 10:0", "while"),  # cut mid-line: malformed as it stands
    ],
)
def test_file_that_changes_while_it_is_read_is_not_loaded(
    sftp: SftpEmulator,
    database: DatabaseSettings,
    monkeypatch: pytest.MonkeyPatch,
    written: str,
    when: str,
) -> None:
    """Stable at both looks (an upload that paused), then it goes on while being read."""
    header = "電話番号,通話開始日時,相手先番号,通話時間(秒),発着信区分,通話種別,料金(円)\r\n"
    name = file_name(RecordKind.TALK, MONTH)
    path = sftp.put_bytes(name, (header + written).encode("cp932"))
    copy_rows = loader._copy_rows

    def copy_while_the_upload_goes_on(*args: Any) -> int:
        try:
            return copy_rows(*args)
        finally:
            with path.open("ab") as upload:
                upload.write("0:00,09012345678,65,発信,国内通話,22\r\n".encode("cp932"))

    monkeypatch.setattr(loader, "_copy_rows", copy_while_the_upload_goes_on)

    with pytest.raises(RemoteFileMissingError, match=rf"still being uploaded .* {when} it was"):
        import_month_file(sftp.settings(), database, RecordKind.TALK, MONTH)

    assert _count(database, "call_records_talk") == 0
    assert _import_rows(database) == []
