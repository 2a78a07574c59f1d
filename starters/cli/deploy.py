"""`portalctl deploy ...`: releases with Worker Versioning (docs/deployment.md, "Releases")."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from integrations.config import WorkerDeploymentSettings, load
from starters.cli.support import fail, run, temporal_client
from starters.deployments import (
    DeploymentError,
    DeploymentStatus,
    VersionState,
    VersionStatus,
    describe_deployment,
    set_current_version,
    set_ramping_version,
)

deploy_app = typer.Typer(
    help="Releases: which worker build runs new workflows, and which old builds still drain "
    "(Worker Versioning; the deployment is TEMPORAL_DEPLOYMENT_NAME).",
    no_args_is_help=True,
)

BuildIdArgument = Annotated[
    str, typer.Argument(help="build id of a version (TEMPORAL_WORKER_BUILD_ID of its workers)")
]

_ADVICE = {
    VersionState.CURRENT: "new workflows start here",
    VersionState.RAMPING: "part of the new workflows start here",
    VersionState.DRAINING: "keep its workers running",
    VersionState.DRAINED: "its workers can stop",
    VersionState.INACTIVE: "no workflows yet: set-current or ramp routes new ones here",
    VersionState.UNKNOWN: "keep its workers running",
}


@deploy_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """Versions of the deployment, their state, and the open workflows pinned to each.

    An old build's workers may stop once it is drained (or inactive), never while draining.
    """

    async def describe() -> DeploymentStatus:
        name = load(WorkerDeploymentSettings).deployment_name
        client, _ = await temporal_client()
        try:
            return await describe_deployment(client, name)
        except DeploymentError as error:
            raise fail(str(error)) from None

    result = run(describe())
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    ramping = (
        f"{result.ramping_build_id} at {result.ramp_percentage:g} %"
        if result.ramping_build_id
        else "-"
    )
    typer.echo(f"Worker Deployment {result.name}")
    typer.echo(f"  current: {result.current_build_id or 'unversioned workers'}")
    typer.echo(f"  ramping: {ramping}")
    rows = [("BUILD ID", "STATE", "SINCE", "OPEN PINNED WORKFLOWS", "")]
    rows += [_row(version) for version in result.versions]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        typer.echo(("  " + "  ".join([*cells, row[4]])).rstrip())


def _row(version: VersionStatus) -> tuple[str, str, str, str, str]:
    since = {
        VersionState.CURRENT: version.current_since,
        VersionState.RAMPING: version.ramping_since,
    }.get(version.state, version.created)
    pinned = version.pinned
    if pinned is None:
        open_pinned = "?"
    elif pinned.by_type:
        open_pinned = (
            f"{pinned.total} ("
            + ", ".join(f"{kind} {count}" for kind, count in pinned.by_type.items())
            + ")"
        )
    else:
        open_pinned = str(pinned.total)
    return (version.build_id, version.state, _when(since), open_pinned, _ADVICE[version.state])


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


@deploy_app.command("set-current")
def set_current(build_id: BuildIdArgument) -> None:
    """Start new workflows on this build (its workers must be running on every task queue).

    Workflows pinned to the previous build stay on it: keep its workers running until
    `portalctl deploy status` shows it drained.
    """

    async def set_it() -> str | None:
        name = load(WorkerDeploymentSettings).deployment_name
        client, _ = await temporal_client()
        try:
            return await set_current_version(client, name, build_id)
        except DeploymentError as error:
            raise fail(str(error)) from None

    previous = run(set_it())
    if previous == build_id:
        typer.echo(f"{build_id} was already the current version.")
        return
    typer.echo(f"Current version: {build_id} (was {previous or 'unversioned workers'}).")
    if previous:
        typer.echo(
            f"Workflows pinned to {previous} stay on it: keep its workers running until "
            "`portalctl deploy status` shows it drained."
        )


@deploy_app.command("ramp")
def ramp(
    build_id: BuildIdArgument,
    percent: Annotated[
        float,
        typer.Argument(
            min=0, max=100, help="share of new workflows that start on this build (0-100)"
        ),
    ],
) -> None:
    """Start PERCENT % of new workflows on this build, the rest on the current one.

    `portalctl deploy set-current BUILD_ID` completes the rollout; 0 stops sending new
    workflows to it.
    """

    async def ramp_it() -> None:
        name = load(WorkerDeploymentSettings).deployment_name
        client, _ = await temporal_client()
        try:
            await set_ramping_version(client, name, build_id, percent)
        except DeploymentError as error:
            raise fail(str(error)) from None

    run(ramp_it())
    typer.echo(f"Ramping {build_id}: {percent:g} % of new workflows start on it.")
