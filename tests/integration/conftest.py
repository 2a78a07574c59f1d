"""Fixtures of the integration tests: the Salesforce event transports' login, and a database
of its own for each module that tests the secret store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from integrations.config import DatabaseSettings
from integrations.salesforce.auth import SalesforceAuth
from starters.demo.local_vendors import LocalVendors
from tests.conftest import DATABASE_ADMIN_URL
from tests.support.secret_store import own_database


@pytest.fixture
def auth(vendors: LocalVendors) -> Iterator[SalesforceAuth]:
    """The integration user's login to the emulated org, closed after the test."""
    auth = SalesforceAuth(vendors.salesforce_settings)
    yield auth
    auth.close()


@pytest.fixture(scope="module")
async def store_database() -> AsyncIterator[DatabaseSettings]:
    """A database of the module's own: the secret store's tests empty it, never the session's."""
    async with own_database(DATABASE_ADMIN_URL) as database:
        yield database
