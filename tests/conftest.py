"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest

from tests.support import need_real


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Run each test that takes `mode` twice: through `invoke` ("sync") and through `ainvoke` ("async")."""
    return str(request.param)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """`@pytest.mark.real("pool", ...)`: the test needs these real parts. Where one is missing it is skipped with the
    reason, or fails with it under `CI=true` or `LANGGRAPH_SALE_REQUIRE_REAL=1` (`tests.support.need_real`)."""
    for marker in item.iter_markers("real"):
        need_real(*marker.args)
