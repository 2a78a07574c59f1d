"""`portalctl rotate ...`: start and steer the guided credential rotations.

A new secret is read from a file or standard input, never from the command line (which
shell history and `ps` would keep), written into the secret store, and only its version
number is sent to the workflow.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from temporalio.service import RPCError, RPCStatusCode

from contracts.rotation import CredentialKind, HandlerAnswer, HumanStep, RotationStatus
from integrations.config import DatabaseSettings, SecretsSettings, load
from integrations.secrets.material import MalformedSecretError
from integrations.secrets.store import SecretStore
from starters.cli.support import fail, run, temporal_client
from starters.rotation import (
    RotationRefusedError,
    confirm_step,
    rotation_handle,
    rotation_status,
    stage_secret,
    start_rotation,
)

rotate_app = typer.Typer(
    help="Credential rotation: one guided RotateCredential workflow per kind.",
    no_args_is_help=True,
)

KindArgument = Annotated[
    CredentialKind,
    typer.Argument(help="salesforce-jwt | whmcs-api | freebit-oem | sftp-ssh"),
]
ResultT = TypeVar("ResultT")


@rotate_app.command("start")
def start(kind: KindArgument) -> None:
    """Start the rotation of KIND (one at a time per kind); then follow `rotate status`."""

    async def start_it() -> str:
        client, temporal = await temporal_client()
        handle = await start_rotation(client, kind, task_queue=temporal.task_queue)
        return handle.id

    workflow_id = _run_refusable(kind, start_it)
    typer.echo(f"{workflow_id} started; next: portalctl rotate status {kind}")


@rotate_app.command("stage")
def stage(
    kind: KindArgument,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="read the secret from this file (default: standard input)"),
    ] = None,
) -> None:
    """Hand the new credential from the vendor to a waiting rotation.

    whmcs-api: the API identifier on the first line, the API secret on the second.
    freebit-oem: the OEM key on one line.
    """
    text = _read_file(file) if file else _read_stdin(kind)

    async def stage_it() -> HandlerAnswer:
        store = SecretStore.from_settings(load(DatabaseSettings), load(SecretsSettings))
        client, _ = await temporal_client()
        return await stage_secret(client, store, kind, text)

    typer.echo(_run_refusable(kind, stage_it).message)


@rotate_app.command("confirm")
def confirm(
    kind: KindArgument,
    step: Annotated[HumanStep, typer.Argument(help="the human step that is done")],
) -> None:
    """Confirm a human step, e.g. `certificate-uploaded` or `old-key-removed`."""

    async def confirm_it() -> HandlerAnswer:
        client, _ = await temporal_client()
        return await confirm_step(client, kind, step)

    typer.echo(_run_refusable(kind, confirm_it).message)


@rotate_app.command("status")
def status(
    kind: KindArgument,
    as_json: Annotated[bool, typer.Option("--json", help="the whole status as JSON")] = False,
) -> None:
    """Where the rotation is, what it waits for, its candidate version and failures."""
    current = _status_of(kind)
    if as_json:
        typer.echo(current.model_dump_json(indent=2))
        return
    typer.echo(current.details)
    typer.echo(f"  phase: {current.phase}")
    for label, version in (("active before", current.previous), ("candidate", current.candidate)):
        if version is not None:
            fingerprint = f" {version.fingerprint}" if version.fingerprint else ""
            typer.echo(f"  {label}: v{version.version}{fingerprint}")
    if current.awaiting_step:
        typer.echo(f"  confirm with: portalctl rotate confirm {kind} {current.awaiting_step}")
    if current.awaiting_staged_version:
        typer.echo(f"  stage with: portalctl rotate stage {kind} --file PATH (or stdin)")
    for failure in current.verification_failures:
        typer.echo(f"  verification failed: {failure}")
    if current.reminders:
        typer.echo(f"  reminders sent: {current.reminders}")


@rotate_app.command("cancel")
def cancel(kind: KindArgument) -> None:
    """Cancel the rotation: its candidate is discarded, the active credential stays."""

    async def cancel_it() -> None:
        client, _ = await temporal_client()
        await rotation_handle(client, kind).cancel()

    _run_refusable(kind, cancel_it)
    typer.echo(f"cancellation of the {kind} rotation requested; see portalctl rotate status {kind}")


@rotate_app.command("cert")
def cert() -> None:
    """Print the new certificate to upload to the Salesforce Connected App."""
    typer.echo(_public_material(CredentialKind.SALESFORCE_JWT), nl=False)


@rotate_app.command("pubkey")
def pubkey() -> None:
    """Print the new public key (authorized_keys line) for the SFTP administrator."""
    typer.echo(_public_material(CredentialKind.SFTP_SSH))


def _public_material(kind: CredentialKind) -> str:
    candidate = _status_of(kind).candidate
    if candidate is None or candidate.public_material is None:
        raise fail(f"the {kind} rotation has not generated its key yet")
    return candidate.public_material


def _status_of(kind: CredentialKind) -> RotationStatus:
    async def query() -> RotationStatus:
        client, _ = await temporal_client()
        return await rotation_status(client, kind)

    return _run_refusable(kind, query)


def _run_refusable(kind: CredentialKind, command: Callable[[], Awaitable[ResultT]]) -> ResultT:
    """Run `command`; a refusal, bad input or no such rotation is one line and exit 1."""

    async def refusable() -> ResultT:
        try:
            return await command()
        except (RotationRefusedError, MalformedSecretError) as error:
            raise fail(str(error)) from None
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise fail(
                    f"no {kind} rotation was started (portalctl rotate start {kind})"
                ) from None
            raise

    return run(refusable())


def _read_file(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as error:
        raise fail(f"cannot read {path}: {error.strerror}") from None


def _read_stdin(kind: CredentialKind) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.read()
    if kind is CredentialKind.WHMCS_API:
        identifier = typer.prompt("WHMCS API identifier", hide_input=True)
        secret = typer.prompt("WHMCS API secret", hide_input=True)
        return f"{identifier}\n{secret}\n"
    return str(typer.prompt(f"new {kind} secret", hide_input=True))
