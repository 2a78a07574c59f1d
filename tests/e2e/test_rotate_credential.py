"""RotateCredential end to end on the dev server: the worker, PostgreSQL, Redis, and the
emulators, which accept old and new credentials side by side the way the vendors do during a
rotation. Each rotation is driven through its human steps with the `portalctl rotate` logic;
afterwards the worker's clients (and a client that started before the rotation, like another
process) use the new credential without a restart, and the old one is refused.

The rotations use a database of their own: the session's shared clients keep the seed
credentials. `pytest tests/e2e/test_rotate_credential.py --record-histories` rewrites the
replay histories.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from cryptography.hazmat.primitives import serialization
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from contracts.health import HealthCheckInput, HealthStatus, Integration
from contracts.records import RecordKind, file_name
from contracts.rotation import (
    CredentialKind,
    HumanStep,
    RotateCredentialResult,
    RotationPolicy,
    RotationStatus,
    VersionState,
)
from emulators.freebit import NewSimAccount
from emulators.sftp import SftpEmulator, write_detail_file
from emulators.whmcs import DEFAULT_CREDENTIAL, ApiCredential
from integrations.config import DatabaseSettings, RedisSettings, SftpSettings
from integrations.errors import AuthenticationError
from integrations.freebit.client import FreebitClient
from integrations.freebit.token_cache import TOKEN_KEY, FreebitTokenCache
from integrations.redis_connection import redis_client
from integrations.salesforce.auth import SalesforceAuth
from integrations.salesforce.client import SalesforceClient
from integrations.secrets.material import certificate_fingerprint
from integrations.secrets.provider import StoredCredential
from integrations.secrets.store import SecretStore
from integrations.sftp import connect
from integrations.whmcs.client import WhmcsClient
from starters.cli.app import app
from starters.demo.local_vendors import CONSUMER_KEY, LocalVendors
from starters.records import start_import
from starters.rotation import (
    RotationRefusedError,
    confirm_step,
    stage_secret,
    start_rotation,
)
from tests.conftest import DATABASE_ADMIN_URL, TEST_REDIS_URL, SaveHistory
from tests.support.openssh import OpenSshServer
from tests.support.polling import wait_until
from tests.support.secret_store import (
    empty_secret_store,
    end_rotations,
    own_database,
    secrets_settings,
)
from tests.support.temporal import deployment_for
from workers.dependencies import Integrations, open_integrations
from workers.worker import running_workers
from workflows.rotate_credential import RotateCredential

POLICY = RotationPolicy(probe_interval=timedelta(hours=1))
"""Probing waits an hour, so the SFTP test moves on only through `public-key-authorized`."""
STALE_CLIENT_REFRESH = 3600.0
"""A client that would not re-read the store for an hour on its own (another process)."""
SIM = "08011112222"
ORDER_QUERY = "SELECT Id FROM Order WHERE Id = '801000000000000AAA'"

Handle = WorkflowHandle[RotateCredential, RotateCredentialResult]


class SftpHost(Protocol):
    """What the SFTP administrator does, on the emulator or on a real sshd."""

    def settings(self) -> SftpSettings: ...
    def authorize_new(self, public_key_line: str) -> None: ...
    def remove_original_key(self) -> None: ...
    def put(self, kind: RecordKind, month: str, rows: int) -> None: ...


@dataclass(frozen=True)
class EmulatedSftpHost:
    emulator: SftpEmulator

    def settings(self) -> SftpSettings:
        return self.emulator.settings()

    def authorize_new(self, public_key_line: str) -> None:
        self.emulator.authorize(public_key_line)

    def remove_original_key(self) -> None:
        self.emulator.revoke(self.emulator.client_public_key_line())

    def put(self, kind: RecordKind, month: str, rows: int) -> None:
        self.emulator.put_generated(kind, month, rows)


@dataclass
class OpenSshHost:
    server: OpenSshServer
    keys: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.keys = [Path(f"{self.server.client_key_path}.pub").read_text().strip()]

    def settings(self) -> SftpSettings:
        return self.server.settings()

    def authorize_new(self, public_key_line: str) -> None:
        self.keys.append(public_key_line)
        self.server.authorize(*self.keys)

    def remove_original_key(self) -> None:
        self.keys.pop(0)
        self.server.authorize(*self.keys)

    def put(self, kind: RecordKind, month: str, rows: int) -> None:
        write_detail_file(self.server.files / file_name(kind, month), kind, month, rows)


@dataclass(frozen=True)
class RotationSystem:
    client: Client
    task_queue: str
    integrations: Integrations
    store: SecretStore
    vendors: LocalVendors
    sftp: SftpHost
    cli_environment: dict[str, str]
    """What an operator's `portalctl rotate` runs with: Temporal, the database, the master key."""

    def stale_source(self, kind: CredentialKind) -> StoredCredential:
        source = StoredCredential(self.store, kind, STALE_CLIENT_REFRESH)
        source.current()
        return source


@dataclass(frozen=True)
class Rotated:
    handle: Handle
    result: RotateCredentialResult
    secrets: list[bytes]
    """Every secret value involved: old and new credentials, tokens seen on the wire."""


@pytest.fixture(scope="module")
async def rotation_database() -> AsyncIterator[DatabaseSettings]:
    async with own_database(DATABASE_ADMIN_URL) as database:
        yield database


@pytest.fixture
def sftp_host(request: pytest.FixtureRequest) -> SftpHost:
    """The SFTP emulator, or (parametrized `openssh`) a real OpenSSH sshd."""
    if getattr(request, "param", "emulator") == "openssh":
        return OpenSshHost(request.getfixturevalue("openssh"))
    return EmulatedSftpHost(request.getfixturevalue("sftp"))


@pytest.fixture
async def system(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    vendors: LocalVendors,
    sftp_host: SftpHost,
    rotation_database: DatabaseSettings,
) -> AsyncIterator[RotationSystem]:
    """A worker whose clients read the secret store, bootstrapped from the seed settings."""
    empty_secret_store(rotation_database)
    await end_rotations(dev_env.client)
    defaults = vendors.worker_settings(rotation_database, RedisSettings(REDIS_URL=TEST_REDIS_URL))
    connections = dataclasses.replace(
        defaults.integrations,
        sftp=sftp_host.settings(),
        secrets=secrets_settings(refresh_interval=timedelta(seconds=STALE_CLIENT_REFRESH)),
    )
    settings = dataclasses.replace(
        defaults,
        integrations=connections,
        policies=dataclasses.replace(defaults.policies, rotation=POLICY),
    )
    store = SecretStore.from_settings(rotation_database, connections.secrets)
    cli_environment = {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "DATABASE_URL": rotation_database.url,
        "SECRETS_MASTER_KEY": connections.secrets.master_key.get_secret_value(),
        "SECRETS_MASTER_KEY_ID": connections.secrets.master_key_id,
    }
    async with (
        open_integrations(settings) as integrations,
        running_workers(dev_env.client, task_queue, integrations, deployment_for(task_queue)),
    ):
        yield RotationSystem(
            dev_env.client, task_queue, integrations, store, vendors, sftp_host, cli_environment
        )
    await end_rotations(dev_env.client)


Stage = Callable[["RotationSystem", CredentialKind, str], Awaitable[None]]
"""How the operator hands the vendor's new secret to the waiting rotation."""


async def stage_with_function(system: RotationSystem, kind: CredentialKind, text: str) -> None:
    await stage_secret(system.client, system.store, kind, text)


async def stage_with_cli_stdin(system: RotationSystem, kind: CredentialKind, text: str) -> None:
    await _portalctl_stage(system, kind, text, [], stdin=text)


async def stage_with_cli_file(system: RotationSystem, kind: CredentialKind, text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        secret_file = Path(directory) / "secret"
        secret_file.write_text(text)
        await _portalctl_stage(system, kind, text, ["--file", str(secret_file)])


async def _portalctl_stage(
    system: RotationSystem,
    kind: CredentialKind,
    text: str,
    options: list[str],
    stdin: str | None = None,
) -> None:
    """In a thread: the command runs its own event loop, as it does in a shell."""
    outcome = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["rotate", "stage", kind, *options],
        input=stdin,
        env=system.cli_environment,
    )
    assert outcome.exit_code == 0, outcome.output
    assert "will be verified" in outcome.output
    assert [line for line in text.split() if line in outcome.output] == []


async def _start(system: RotationSystem, kind: CredentialKind) -> Handle:
    return await start_rotation(system.client, kind, task_queue=system.task_queue)


async def _until(
    handle: Handle, what: str, condition: Callable[[RotationStatus], bool]
) -> RotationStatus:
    seen: list[RotationStatus] = []

    async def holds() -> bool:
        seen.append(await handle.query(RotateCredential.status))
        return condition(seen[-1])

    await wait_until(holds, what)
    return seen[-1]


def _awaiting(step: HumanStep) -> Callable[[RotationStatus], bool]:
    return lambda status: status.awaiting_step is step


async def rotate_salesforce_key(system: RotationSystem) -> Rotated:
    kind, salesforce = CredentialKind.SALESFORCE_JWT, system.vendors.salesforce
    old_key = system.store.active_credential(kind).value
    handle = await _start(system, kind)
    status = await _until(
        handle, "the upload is awaited", _awaiting(HumanStep.CERTIFICATE_UPLOADED)
    )
    assert status.candidate is not None
    assert status.candidate.public_material is not None
    salesforce.add_certificate(CONSUMER_KEY, status.candidate.public_material)
    await confirm_step(system.client, kind, HumanStep.CERTIFICATE_UPLOADED)
    removal = await _until(
        handle, "the removal is awaited", _awaiting(HumanStep.OLD_CERTIFICATE_REMOVED)
    )
    old_certificate = certificate_fingerprint(system.vendors.certificate_pem.decode())
    assert f"remove the old certificate (v1, {old_certificate})" in removal.details
    salesforce.remove_certificate(CONSUMER_KEY, system.vendors.certificate_pem)
    await confirm_step(system.client, kind, HumanStep.OLD_CERTIFICATE_REMOVED)
    result = await handle.result()
    new_key = system.store.credential(kind, result.active_version).value
    return Rotated(handle, result, [old_key, new_key])


async def rotate_whmcs_credential(
    system: RotationSystem, stage: Stage = stage_with_function
) -> Rotated:
    kind, whmcs = CredentialKind.WHMCS_API, system.vendors.whmcs
    new = ApiCredential(
        identifier=f"rotated-identifier-{uuid.uuid4().hex}",
        secret=f"rotated-secret-{uuid.uuid4().hex}",
    )
    whmcs.set_credentials(DEFAULT_CREDENTIAL, new)
    handle = await _start(system, kind)
    await _until(handle, "a staged version is awaited", lambda s: s.awaiting_staged_version)
    await stage(system, kind, f"{new.identifier}\n{new.secret}\n")
    await _until(handle, "the disabling is awaited", _awaiting(HumanStep.OLD_CREDENTIAL_DISABLED))
    whmcs.set_credentials(new)
    await confirm_step(system.client, kind, HumanStep.OLD_CREDENTIAL_DISABLED)
    result = await handle.result()
    secrets = [DEFAULT_CREDENTIAL.identifier, DEFAULT_CREDENTIAL.secret, new.identifier, new.secret]
    return Rotated(handle, result, [value.encode() for value in secrets])


async def rotate_freebit_key(system: RotationSystem) -> Rotated:
    kind, freebit = CredentialKind.FREEBIT_OEM, system.vendors.freebit
    oem_id = system.vendors.freebit_settings.oem_id
    old_key = system.vendors.freebit_settings.oem_key.get_secret_value()
    new_key = f"rotated-oem-key-{uuid.uuid4().hex}"
    freebit.set_oem_credentials(oem_id, old_key, new_key)
    handle = await _start(system, kind)
    await _until(handle, "a staged version is awaited", lambda s: s.awaiting_staged_version)
    await stage_secret(system.client, system.store, kind, f"{new_key}\n")
    result = await handle.result()
    freebit.set_oem_credentials(oem_id, new_key)
    return Rotated(handle, result, [old_key.encode(), new_key.encode()])


async def rotate_sftp_key(system: RotationSystem) -> Rotated:
    kind, sftp = CredentialKind.SFTP_SSH, system.sftp
    old_key = system.store.active_credential(kind).value
    handle = await _start(system, kind)
    status = await _until(
        handle,
        "the first login with the new key was refused",
        lambda s: bool(s.verification_failures),
    )
    assert status.candidate is not None
    assert status.candidate.public_material is not None
    sftp.authorize_new(status.candidate.public_material)
    await confirm_step(system.client, kind, HumanStep.PUBLIC_KEY_AUTHORIZED)
    await _until(handle, "the old key's removal is awaited", _awaiting(HumanStep.OLD_KEY_REMOVED))
    sftp.remove_original_key()
    await confirm_step(system.client, kind, HumanStep.OLD_KEY_REMOVED)
    result = await handle.result()
    new_key = system.store.credential(kind, result.active_version).value
    return Rotated(handle, result, [old_key, new_key])


async def test_salesforce_key_rotation(system: RotationSystem, save_history: SaveHistory) -> None:
    kind = CredentialKind.SALESFORCE_JWT
    other_process = SalesforceClient(
        system.vendors.salesforce_settings, private_key=system.stale_source(kind)
    )
    other_process.query(ORDER_QUERY)

    rotated = await rotate_salesforce_key(system)
    system.vendors.salesforce.expire_sessions()

    assert (rotated.result.active_version, rotated.result.retired_version) == (2, 1)
    assert system.integrations.salesforce.query(ORDER_QUERY) == []
    assert other_process.query(ORDER_QUERY) == []
    old_key = SalesforceAuth(system.vendors.salesforce_settings)
    with pytest.raises(AuthenticationError, match="invalid assertion"):
        old_key.token()
    old_key.close()
    other_process.close()
    await save_history(rotated.handle, "rotate_credential_salesforce_jwt")


async def test_whmcs_credential_rotation(system: RotationSystem, save_history: SaveHistory) -> None:
    kind = CredentialKind.WHMCS_API
    other_process = WhmcsClient(
        system.vendors.whmcs_settings, credentials=system.stale_source(kind)
    )

    rotated = await rotate_whmcs_credential(system)

    assert rotated.result.active_version == 2
    await system.integrations.whmcs.get_clients(limit=1)
    await other_process.get_clients(limit=1)
    old_credential = WhmcsClient(system.vendors.whmcs_settings)
    with pytest.raises(AuthenticationError, match="Invalid or missing credentials"):
        await old_credential.get_clients(limit=1)
    await old_credential.aclose()
    await other_process.aclose()
    await save_history(rotated.handle, "rotate_credential_whmcs_api")


@pytest.mark.parametrize("stage", [stage_with_cli_stdin, stage_with_cli_file])
async def test_portalctl_rotate_stage_reads_the_secret_from_stdin_or_a_file(
    system: RotationSystem, stage: Stage
) -> None:
    rotated = await rotate_whmcs_credential(system, stage)

    assert rotated.result.active_version == 2
    await system.integrations.whmcs.get_clients(limit=1)


async def test_freebit_key_rotation(system: RotationSystem, save_history: SaveHistory) -> None:
    kind = CredentialKind.FREEBIT_OEM
    system.vendors.freebit.add_account(NewSimAccount(account=SIM))
    await system.integrations.freebit.account_detail(SIM)  # an authKey of the old key, cached
    other_process = FreebitClient(
        system.vendors.freebit_settings,
        FreebitTokenCache(None, timedelta(hours=1)),
        oem_key=system.stale_source(kind),
    )

    rotated = await rotate_freebit_key(system)

    async with redis_client(TEST_REDIS_URL) as redis:
        assert await redis.get(TOKEN_KEY) is None
    system.vendors.freebit.expire_auth_keys()
    assert (await system.integrations.freebit.account_detail(SIM)).account == SIM
    assert (await other_process.account_detail(SIM)).account == SIM
    old_key = FreebitClient(
        system.vendors.freebit_settings, FreebitTokenCache(None, timedelta(hours=1))
    )
    with pytest.raises(AuthenticationError):
        await old_key.verify_credentials()
    await old_key.aclose()
    await other_process.aclose()
    await save_history(rotated.handle, "rotate_credential_freebit_oem")


@pytest.mark.parametrize("sftp_host", ["emulator", "openssh"], indirect=True)
async def test_sftp_key_rotation(
    system: RotationSystem, sftp_host: SftpHost, save_history: SaveHistory
) -> None:
    month = "202608"
    system.sftp.put(RecordKind.TALK, month, rows=5)
    system.sftp.put(RecordKind.SMS, month, rows=3)

    rotated = await rotate_sftp_key(system)

    assert rotated.result.active_version == 2
    imported = await (await start_import(system.client, system.task_queue, month)).result()
    assert [file.rows for file in imported.files] == [5, 3]
    sftp_health = await system.integrations.health.check_integration(
        HealthCheckInput(integration=Integration.SFTP)
    )
    assert sftp_health.status is HealthStatus.OK, sftp_health.error
    with (
        pytest.raises(AuthenticationError, match="refused the key"),
        connect(system.sftp.settings()),
    ):
        pass
    if isinstance(sftp_host, EmulatedSftpHost):
        await save_history(rotated.handle, "rotate_credential_sftp_ssh")


async def test_refused_credential_is_never_promoted_and_cancelling_keeps_the_active_one(
    system: RotationSystem, save_history: SaveHistory
) -> None:
    kind = CredentialKind.WHMCS_API
    handle = await _start(system, kind)
    await _until(handle, "a staged version is awaited", lambda s: s.awaiting_staged_version)

    await stage_secret(system.client, system.store, kind, "unknown-identifier\nwrong-secret\n")
    status = await _until(
        handle,
        "the refusal is shown",
        lambda s: bool(s.verification_failures) and s.awaiting_staged_version,
    )

    assert status.verification_failures == ["v2: Invalid or missing credentials"]
    assert "v2 was refused (v2: Invalid or missing credentials) and discarded" in status.details
    assert system.store.version(kind, 2).state is VersionState.DISCARDED
    active = system.store.active_version(kind)
    assert active is not None
    assert active.version == 1
    with pytest.raises(RotationRefusedError, match="already running"):
        await _start(system, kind)

    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as ended:
        await handle.result()

    assert isinstance(ended.value.cause, CancelledError)
    assert (await handle.query(RotateCredential.status)).phase == "cancelled"
    assert [(v.version, v.state) for v in system.store.versions(kind)] == [
        (2, VersionState.DISCARDED),
        (1, VersionState.ACTIVE),
    ]
    await system.integrations.whmcs.get_clients(limit=1)
    await save_history(handle, "rotate_credential_refused_then_cancelled")


async def test_no_secret_reaches_temporal_or_the_logs(
    system: RotationSystem, json_log: Any
) -> None:
    system.vendors.freebit.add_account(NewSimAccount(account=SIM))
    await system.integrations.freebit.account_detail(SIM)
    drivers: list[Callable[[RotationSystem], Awaitable[Rotated]]] = [
        rotate_salesforce_key,
        rotate_whmcs_credential,
        rotate_freebit_key,
        rotate_sftp_key,
    ]
    rotations = [await drive(system) for drive in drivers]
    system.vendors.salesforce.expire_sessions()
    system.integrations.salesforce.query(ORDER_QUERY)
    await system.integrations.freebit.account_detail(SIM)

    corpus = json_log.getvalue().encode()
    for rotated in rotations:
        corpus += _readable_history(await rotated.handle.fetch_history())
    auth_keys = [
        str(request.body["authKey"]).encode()
        for request in system.vendors.freebit.requests()
        if request.body and "authKey" in request.body
    ]
    secrets = [form for rotated in rotations for value in rotated.secrets for form in _forms(value)]

    assert auth_keys
    certificate = system.store.version(CredentialKind.SALESFORCE_JWT, 2).public_material
    assert certificate is not None
    assert certificate.splitlines()[1].encode() in corpus, "payloads were not decoded"
    assert [form for form in [*secrets, *auth_keys] if form in corpus] == []
    assert re.search(rb"eyJ[\w-]{10,}\.eyJ[\w-]{10,}\.", corpus) is None  # no JWT
    assert re.search(rb"00D\w{12}![\w.-]{20,}", corpus) is None  # no Salesforce session


def _readable_history(history: Any) -> bytes:
    """The history's JSON plus every payload decoded (payload data is base64 in the JSON)."""
    text = history.to_json()
    decoded: list[bytes] = [text.encode()]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            data = node.get("data")
            if isinstance(data, str):
                with contextlib.suppress(ValueError):
                    decoded.append(base64.b64decode(data, validate=True))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(text))
    return b"\n".join(decoded)


def _forms(value: bytes) -> list[bytes]:
    """A secret as it could leak: whole, and for a private key its PEM body lines and its
    DER (PKCS#8, and raw for Ed25519) in base64."""
    forms = [value]
    if b"PRIVATE KEY-----" not in value:
        return forms
    forms += [line for line in value.splitlines() if len(line) >= 40 and b"-----" not in line]
    key: Any
    try:
        key = serialization.load_pem_private_key(value, password=None)
    except ValueError:
        key = serialization.load_ssh_private_key(value, password=None)
    ders = [
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    ]
    if hasattr(key, "private_bytes_raw"):
        ders.append(key.private_bytes_raw())
    for der in ders:
        forms += [der, base64.b64encode(der), base64.urlsafe_b64encode(der)]
    return forms
