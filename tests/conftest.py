"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Run each test that takes `mode` twice: through `invoke` ("sync") and through `ainvoke` ("async")."""
    return str(request.param)
