"""Fixtures of the integration tests of the Salesforce event transports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.salesforce.auth import SalesforceAuth
from starters.demo.local_vendors import LocalVendors


@pytest.fixture
def auth(vendors: LocalVendors) -> Iterator[SalesforceAuth]:
    """The integration user's login to the emulated org, closed after the test."""
    auth = SalesforceAuth(vendors.salesforce_settings)
    yield auth
    auth.close()
