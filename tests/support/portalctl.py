"""What docs and deployment files may name: real `portalctl` command lines and real settings.

`parse` runs click's parser over a command line exactly as the shell would hand it to
`portalctl`, without running the command; `environment_variables` lists every variable
that some pydantic-settings class of the code reads, wherever the class lives.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import pkgutil
from collections.abc import Iterator, Sequence

import typer
from pydantic_settings import BaseSettings
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from integrations.temporal import CLIENT_ENVIRONMENT, LEGACY_CA_PATH
from starters.cli.app import app

APPLICATION_PACKAGES = (
    "contracts",
    "workflows",
    "activities",
    "workers",
    "starters",
    "integrations",
    "emulators",
)


def parse(args: Sequence[str]) -> None:
    """Resolve and parse `portalctl ARGS`; raises a UsageError when it would not run.

    Typer vendors its own click (`typer._click`), so its classes are the ones to catch.
    """
    command = typer.main.get_command(app)
    context = command.make_context("portalctl", list(args))
    while isinstance(command, TyperGroup):
        remaining = [*context._protected_args, *context.args]
        if not remaining and command.invoke_without_command:
            return  # a group that runs by itself (`portalctl emulators`)
        name, subcommand, rest = command.resolve_command(context, remaining)
        assert name is not None
        assert subcommand is not None
        command, context = subcommand, subcommand.make_context(name, rest, parent=context)


def parse_error(args: Sequence[str]) -> str | None:
    """None when `portalctl ARGS` parses, else click's message (`--help` counts as parsing)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # what --help prints
            parse(args)
    except typer.Exit as stop:
        return None if stop.exit_code == 0 else f"exit {stop.exit_code}"
    except ClickException as error:
        return error.format_message()
    return None


def environment_variables() -> set[str]:
    """What a settings class reads, and what Temporal's client configuration reads."""
    settings = {
        name for settings_class in _settings_classes() for name in _variables_of(settings_class)
    }
    return settings | {*CLIENT_ENVIRONMENT, LEGACY_CA_PATH}


def _settings_classes() -> Iterator[type[BaseSettings]]:
    for package_name in APPLICATION_PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            importlib.import_module(module.name)
    pending = list(BaseSettings.__subclasses__())
    while pending:
        settings_class = pending.pop()
        pending.extend(settings_class.__subclasses__())
        yield settings_class


def _variables_of(settings_class: type[BaseSettings]) -> Iterator[str]:
    prefix = settings_class.model_config.get("env_prefix", "")
    for name, field in settings_class.model_fields.items():
        alias = field.validation_alias
        yield (alias if isinstance(alias, str) else f"{prefix}{name}").upper()
