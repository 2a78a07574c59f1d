"""What an operator sees of a failed order in the Temporal UI, in a real browser (Debian's
Chromium, driven by Playwright): the list of failed orders and one order's page, with its
summary and the reason it waits."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from temporalio.testing import WorkflowEnvironment

from starters.demo.local_services import free_port, start_dev_server
from starters.demo.local_vendors import LocalVendors
from starters.demo.sample_orders import SampleOrderSpec
from starters.provisioning import request_provisioning
from tests.support.debian_tools import require_tool
from tests.support.polling import wait_until
from tests.support.provisioning import Handle, sample_order, wait_for_failure
from tests.support.temporal import deployment_for
from workers.dependencies import Integrations
from workers.worker import running_workers

pytestmark = pytest.mark.e2e

FAILED_ORDERS = 'WorkflowType = "ProvisionOrder" AND ActivationStatus = "Failed"'
OPERATOR_COLUMNS = ("ActivationStatus", "FailedStep", "ErrorCode", "FailedAt")
UI_LOAD_MS = 30_000
"""How long the UI may take to show what a test looks for (it queries the server first)."""
SCREENSHOTS = os.environ.get("UI_SCREENSHOTS_DIR")
"""Set it to keep the pages' screenshots (docs/images has them, for the runbook)."""


@dataclasses.dataclass(frozen=True)
class Ui:
    env: WorkflowEnvironment
    url: str


@pytest.fixture(scope="module")
async def ui() -> AsyncIterator[Ui]:
    """A dev server of this module's own, with its UI (the session's runs without)."""
    ui_port = free_port()
    async with await start_dev_server(ui=True, ui_port=ui_port) as env:
        yield Ui(env, f"http://127.0.0.1:{ui_port}/namespaces/{env.client.namespace}")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    chromium = require_tool("chromium", "chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        await browser.close()


@pytest.fixture
async def failed_order(
    ui: Ui, task_queue: str, vendors: LocalVendors, integrations: Integrations
) -> AsyncIterator[Handle]:
    order = await sample_order(vendors, integrations, SampleOrderSpec(has_payment_method=False))
    async with running_workers(ui.env.client, task_queue, integrations, deployment_for(task_queue)):
        handle = await request_provisioning(ui.env.client, order.order_id, task_queue=task_queue)
        await wait_for_failure(ui.env, handle)
        yield handle
        with contextlib.suppress(Exception):
            await handle.terminate("test finished")


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1600, "height": 700})
    page = await context.new_page()
    yield page
    await context.close()


async def test_the_failed_orders_list_shows_step_and_code_in_its_columns(
    ui: Ui, failed_order: Handle, page: Page
) -> None:
    await page.goto(f"{ui.url}/workflows?query={FAILED_ORDERS}")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=failed_order.id))
    await expect(row).to_be_visible(timeout=UI_LOAD_MS)

    await _show_columns(page, add=OPERATOR_COLUMNS, remove=("Run ID", "Type", "Start", "End"))

    for value in ("Failed", "payment_method", "409"):
        await expect(row.get_by_text(value, exact=True)).to_be_visible()
    await _screenshot(page, "failed-orders-list")


async def test_a_failed_order_page_shows_its_summary_and_why_it_waits(
    ui: Ui, failed_order: Handle, page: Page
) -> None:
    order_id = failed_order.id.removeprefix("provision-")
    await page.goto(f"{ui.url}/workflows/{failed_order.id}")
    await expect(page.get_by_text("Pending Activities")).to_be_visible(timeout=UI_LOAD_MS)
    await page.get_by_role("tab", name="User Metadata").click()

    summary = f"provision Salesforce Order {order_id} into WHMCS"
    waiting = "waiting for manual retry: 409 Payment method missing (failed at payment_method)"
    for text in (summary, waiting, f"portalctl order status {order_id}"):
        await wait_until(functools.partial(_shown, page, text), f"the page shows {text!r}")
    await _screenshot(page, "failed-order")


async def test_a_failed_order_history_shows_each_step_with_its_summary(
    ui: Ui, failed_order: Handle, page: Page
) -> None:
    """A local activity is a marker in the history, shown with its type and summary: how an
    operator follows the steps of an order that ran in one workflow task."""
    await page.set_viewport_size({"width": 1600, "height": 1200})
    await page.goto(f"{ui.url}/workflows/{failed_order.id}")
    await page.get_by_role("tab", name="Event History").click()

    steps = {
        "load_order": "read the Order with its items",
        "map_and_create_order": "item(s), GetPayMethods, AddOrder",
        "mark_order_failed": "Activation_Status__c = Failed (409)",
    }
    for activity_type, summary in steps.items():
        marker = page.get_by_role("row").filter(has=page.get_by_text(activity_type, exact=True))
        await expect(marker).to_contain_text("Local Activity", timeout=UI_LOAD_MS)
        await expect(marker).to_contain_text(summary)
    await _screenshot(page, "failed-order-history")


async def _show_columns(page: Page, *, add: tuple[str, ...], remove: tuple[str, ...]) -> None:
    """What docs/runbook-provisioning.md tells an operator to do once (the UI keeps it)."""
    await page.get_by_role("button", name="Configure Columns").click()
    for column in remove:
        await page.get_by_role("button", name=f"Remove {column} column").click()
    for column in add:
        await page.get_by_role("button", name=f"Add {column} column").click()
    await page.get_by_role("button", name="Close Workflows Table configuration").click()
    await expect(page.get_by_text("Configure Workflows Table")).to_be_hidden()


async def _shown(page: Page, text: str) -> bool:
    """In the page or one of its frames: the UI renders user metadata (markdown) in iframes."""
    for frame in page.frames:
        if await frame.get_by_text(text).count():
            return True
    return False


async def _screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        await page.screenshot(path=Path(SCREENSHOTS) / f"{name}.png", full_page=True)
