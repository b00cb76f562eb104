"""Tests that need a real part (`@pytest.mark.real(...)`, tests/support.py) skip with the reason where it is
missing, and fail with the reason instead under `CI=true` or `LANGGRAPH_SALE_REQUIRE_REAL=1`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REQUIRE_REAL, need_real, real_required

ROOT = Path(__file__).resolve().parent.parent
REAL_POOL_TEST = "tests/test_local.py::test_a_real_auction_between_two_local_models"


def _without_switches(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(REQUIRE_REAL, raising=False)
    monkeypatch.setenv("LANGGRAPH_SALE_HOME", str(home))  # empty: no models, so no pool


@pytest.mark.parametrize("name, value, required", [
    ("CI", "true", True), ("CI", "1", True), ("CI", "false", False), (REQUIRE_REAL, "1", True),
    (REQUIRE_REAL, "TRUE", True), (REQUIRE_REAL, "0", False), (REQUIRE_REAL, "", False),
])
def test_ci_or_the_switch_requires_the_real_parts(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                                  required: bool) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv(REQUIRE_REAL, raising=False)
    monkeypatch.setenv(name, value)
    assert (real_required() is not None) is required


def test_a_missing_pool_skips_with_the_reason_or_fails_with_it(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    _without_switches(monkeypatch, tmp_path)
    with pytest.raises(pytest.skip.Exception, match=r"pool missing: .* not installed in .*make pool"):
        need_real("pool")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"pool is required \(CI=true\) and missing: .*make pool"):
        need_real("pool")


def test_an_unknown_part_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown real part 'gpu'"):
        need_real("gpu")


def test_the_marker_skips_a_real_pool_test_or_fails_it_under_the_switch(tmp_path: Path) -> None:
    """End to end, in a pytest of its own, with a home where no pool is installed."""
    env = {key: value for key, value in os.environ.items() if key not in ("CI", REQUIRE_REAL)}
    env["LANGGRAPH_SALE_HOME"] = str(tmp_path)
    command = [sys.executable, "-m", "pytest", REAL_POOL_TEST, "-q", "-rs", "-p", "no:cacheprovider"]
    runs = {name: subprocess.Popen(command, cwd=ROOT, env=env | extra, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
            for name, extra in (("optional", {}), ("required", {REQUIRE_REAL: "1"}))}
    # The timeout is a backstop against a hang, not a claim about speed.
    optional, required = (process.communicate(timeout=300)[0] for process in runs.values())
    assert runs["optional"].returncode == 0, optional
    assert "1 skipped" in optional and "pool missing: the local model pool" in optional, optional
    assert f"not installed in {tmp_path}" in optional and "make pool" in optional, optional
    assert runs["required"].returncode != 0, required
    assert f"pool is required ({REQUIRE_REAL}=1) and missing" in required, required
    assert f"not installed in {tmp_path}" in required and "1 error" in required, required
