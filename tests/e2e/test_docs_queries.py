"""Every Temporal UI search quoted in docs/ is a valid visibility query on a real server with
this system's search attributes registered."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.operator_docs import documents, visibility_queries

QUOTED_QUERIES = sorted(
    {query for text in documents().values() for query in visibility_queries(text)}
)


def test_docs_quote_searches() -> None:
    assert 'ActivationStatus = "Failed"' in QUOTED_QUERIES


@pytest.mark.parametrize("query", QUOTED_QUERIES)
async def test_every_quoted_search_runs(dev_env: WorkflowEnvironment, query: str) -> None:
    await dev_env.client.count_workflows(query)  # raises on an unknown attribute or bad syntax
