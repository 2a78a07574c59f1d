"""Workflows call activities by their contract (`contracts.*`, name and types) without
importing them: the worker must register each one under that name, with those types."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from temporalio import activity

import contracts
from contracts.activity_type import ActivityType
from workers.dependencies import Integrations
from workers.queues import activities_by_queue


def declared_activities() -> dict[str, ActivityType[Any, Any]]:
    declared = {}
    for module_info in pkgutil.iter_modules(contracts.__path__):
        module = importlib.import_module(f"contracts.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, ActivityType):
                declared[value.name] = value
    return declared


def registered_activities(integrations: Integrations) -> dict[str, Callable[..., Any]]:
    registered = {}
    for functions in activities_by_queue(integrations).values():
        for function in functions:
            name = activity._Definition.must_from_callable(function).name
            assert name is not None
            registered[name] = function
    return registered


def test_every_contract_is_registered_with_its_types(integrations: Integrations) -> None:
    declared, registered = declared_activities(), registered_activities(integrations)

    assert sorted(declared) == sorted(registered)
    for name, contract in declared.items():
        definition = activity._Definition.must_from_callable(registered[name])
        expected_arguments = (
            [] if contract.argument_type is type(None) else [contract.argument_type]
        )
        assert definition.arg_types == expected_arguments, name
        assert definition.ret_type in (contract.result_type, None), name
        if contract.result_type is not type(None):
            assert definition.ret_type is contract.result_type, name
