"""The production SFTP client, import activity and loader against a real OpenSSH sshd, and
the SFTP emulator's answers about directories compared with OpenSSH's."""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import paramiko
import psycopg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.call_records import CallRecordsActivities
from contracts.records import ImportFileRequest, RecordKind, file_name
from emulators.sftp import SftpEmulator, write_detail_file
from integrations.call_records.loader import import_month_file
from integrations.config import DatabaseSettings, SftpSettings
from integrations.sftp import HostKeyRejectedError, RemoteFileMissingError
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
    settings = openssh.settings().model_copy(update={"stable_for": timedelta(seconds=1)})
    activities = CallRecordsActivities(settings, database)
    environment = ActivityEnvironment()
    heartbeats: list[tuple[object, ...]] = []
    environment.on_heartbeat = lambda *details: heartbeats.append(details)

    imported = environment.run(
        activities.import_file, ImportFileRequest(kind=RecordKind.SMS, month=MONTH)
    )

    assert imported.rows == 3000
    assert imported.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert heartbeats[0] == (0, imported.size_bytes)  # waiting SFTP_STABLE_FOR
    assert heartbeats[-1] == (imported.size_bytes, imported.size_bytes)
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


@contextmanager
def _sftp_client(settings: SftpSettings) -> Iterator[paramiko.SFTPClient]:
    """A plain paramiko SFTP client (no SFTP_REMOTE_DIR logic), host key checked."""
    with paramiko.SSHClient() as client:
        client.load_host_keys(str(settings.known_hosts_path))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            settings.host,
            port=settings.port,
            username=settings.username,
            key_filename=str(settings.private_key_path),
            look_for_keys=False,
            allow_agent=False,
            timeout=settings.timeout.total_seconds(),
        )
        with client.open_sftp() as sftp:
            yield sftp


def _answers(sftp: paramiko.SFTPClient, directory: str, name: str) -> dict[str, str]:
    """What the server answers about its files directory, with its absolute paths replaced
    by placeholders so that two servers can be compared."""
    home = sftp.normalize(".")
    elsewhere = f"{directory}-elsewhere"

    def outcome(call: Callable[[], object]) -> str:
        try:
            result = call()
        except OSError as error:
            return f"{type(error).__name__} errno {error.errno}"
        return str(result).replace(directory, "<dir>").replace(home, "<home>")

    return {
        "stat file": outcome(lambda: sftp.stat(f"{directory}/{name}").st_size),
        "stat missing file": outcome(lambda: sftp.stat(f"{directory}/missing.csv")),
        "stat file in missing directory": outcome(lambda: sftp.stat(f"{elsewhere}/{name}")),
        "open file in missing directory": outcome(lambda: sftp.open(f"{elsewhere}/{name}")),
        "stat directory": outcome(lambda: stat.S_ISDIR(sftp.stat(directory).st_mode or 0)),
        "list directory": outcome(lambda: sftp.listdir(directory)),
        "list missing directory": outcome(lambda: sftp.listdir(elsewhere)),
        "list a file": outcome(lambda: sftp.listdir(f"{directory}/{name}")),
        "realpath of a missing name": outcome(lambda: sftp.normalize(f"{directory}/missing")),
        "realpath in missing directory": outcome(lambda: sftp.normalize(f"{elsewhere}/x")),
        "relative path": outcome(lambda: sftp.normalize("no-such-dir")),
    }


def test_emulator_answers_about_directories_as_openssh_does(
    openssh: OpenSshServer, sftp: SftpEmulator
) -> None:
    """The emulator's remote-dir behaviour is OpenSSH's: NO_SUCH_FILE outside its directory."""
    name = file_name(RecordKind.SMS, MONTH)
    write_detail_file(openssh.files / name, RecordKind.SMS, MONTH, rows=3)
    sftp.put_generated(RecordKind.SMS, MONTH, rows=3)
    with _sftp_client(openssh.settings()) as real, _sftp_client(sftp.settings()) as emulated:
        from_openssh = _answers(real, str(openssh.files), name)
        from_emulator = _answers(emulated, sftp.directory, name)

    assert from_emulator == from_openssh
    assert from_openssh["stat file in missing directory"] == "FileNotFoundError errno 2"
    assert from_openssh["list directory"] == f"['{name}']"
    assert from_openssh["relative path"] == "<home>/no-such-dir"


def test_wrong_remote_dir_on_openssh_is_the_file_missing_naming_the_path(
    openssh: OpenSshServer, database: DatabaseSettings
) -> None:
    write_detail_file(
        openssh.files / file_name(RecordKind.SMS, MONTH), RecordKind.SMS, MONTH, rows=1
    )
    wrong = f"{openssh.files}-elsewhere"
    settings = openssh.settings().model_copy(update={"remote_dir": wrong})

    with pytest.raises(RemoteFileMissingError) as missing:
        import_month_file(settings, database, RecordKind.SMS, MONTH)

    assert missing.value.message == (
        f"{wrong}/PASI_sms-detail-202511.csv is not on the SFTP server: "
        f"SFTP_REMOTE_DIR {wrong} does not exist there"
    )
    assert _count(database) == 0


def test_growing_file_on_openssh_is_loaded_only_once_complete(
    openssh: OpenSshServer, database: DatabaseSettings, tmp_path: Path
) -> None:
    complete = tmp_path / "complete.csv"
    write_detail_file(complete, RecordKind.SMS, MONTH, rows=2000, seed=6)
    content = complete.read_bytes()
    path = openssh.files / file_name(RecordKind.SMS, MONTH)
    path.write_bytes(content[: len(content) // 3])
    settings = openssh.settings().model_copy(update={"stable_for": timedelta(seconds=1)})

    def upload_goes_on(seconds: float) -> None:
        path.write_bytes(content)

    with pytest.raises(RemoteFileMissingError, match="is still being uploaded"):
        import_month_file(settings, database, RecordKind.SMS, MONTH, sleep=upload_goes_on)
    assert _count(database) == 0

    imported = import_month_file(settings, database, RecordKind.SMS, MONTH, sleep=lambda s: None)

    assert (imported.size_bytes, imported.sha256) == (
        len(content),
        hashlib.sha256(content).hexdigest(),
    )
    assert _count(database) == 2000
