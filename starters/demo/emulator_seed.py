"""`portalctl emulators seed`: sample data in running standalone emulators, through their
control APIs: Salesforce Accounts with Orders (and their products), the WHMCS clients with a
payment method, the `id_mappings` rows that join them, and Freebit SIM accounts.

It finds the emulators and PostgreSQL through the settings `portalctl emulators` printed
(SF_LOGIN_URL, SF_CA_BUNDLE, WHMCS_API_URL, FREEBIT_BASE_URL, DATABASE_URL).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from emulators.freebit import API_PREFIX, DEFAULT_PLAN_CODES, FreebitEmulatorControl, NewSimAccount
from emulators.salesforce import SalesforceEmulatorControl
from emulators.whmcs import API_PATH, WhmcsEmulatorControl
from integrations.config import FreebitSettings, SalesforceSettings, WhmcsSettings
from integrations.id_mappings import IdMappings
from starters.demo.sample_orders import SampleOrder, SampleOrderSpec, create_sample_order


@dataclass(frozen=True)
class EmulatorControls:
    salesforce: SalesforceEmulatorControl
    whmcs: WhmcsEmulatorControl
    freebit: FreebitEmulatorControl


@contextmanager
def emulator_controls(
    salesforce: SalesforceSettings, whmcs: WhmcsSettings, freebit: FreebitSettings
) -> Iterator[EmulatorControls]:
    """The control APIs of the emulators the client settings point at."""
    with ExitStack() as stack:
        controls = EmulatorControls(
            salesforce=SalesforceEmulatorControl(
                salesforce.login_url, ca_path=salesforce.ca_bundle
            ),
            whmcs=WhmcsEmulatorControl(whmcs.api_url.removesuffix(API_PATH)),
            freebit=FreebitEmulatorControl(freebit.base_url.removesuffix(API_PREFIX)),
        )
        for control in (controls.salesforce, controls.whmcs, controls.freebit):
            stack.callback(control.close)
        yield controls


@dataclass(frozen=True)
class SeededOrder:
    order: SampleOrder
    event_replay_id: int | None
    """The approval's Platform Event, when the order was approved."""


async def seed_orders(
    controls: EmulatorControls, id_mappings: IdMappings, count: int, *, approve: bool
) -> list[SeededOrder]:
    """`count` customers, each an Account, a WHMCS client with a payment method, their
    mapping and a Draft Order of two products; approved (as the Salesforce Flow does, which
    publishes the event the bridge acts on) when `approve`."""
    seeded = []
    for _ in range(count):
        order = await create_sample_order(
            controls, id_mappings, SampleOrderSpec(activation_status=None)
        )
        replay_id = controls.salesforce.approve_order(order.order_id) if approve else None
        seeded.append(SeededOrder(order, replay_id))
    return seeded


def seed_sims(controls: EmulatorControls, count: int) -> list[str]:
    """`count` SIM accounts (phone numbers 080...) on the emulator's first plan."""
    numbers = [f"080{random.randrange(10**8):08d}" for _ in range(count)]
    for number in numbers:
        controls.freebit.add_account(NewSimAccount(account=number, plan_code=DEFAULT_PLAN_CODES[0]))
    return numbers
