"""The Python sandbox's boundary: bubblewrap where it works, and the escape suite (`langgraph_sale.sandbox_escapes`)
run against it and against the layers below it."""

from __future__ import annotations

import logging

import pytest

from langgraph_sale import sandbox, sandbox_boundary, sandbox_escapes
from langgraph_sale.tools import REQUIRE_SANDBOX_ENV, SandboxUnavailableError, run_python


@pytest.mark.real("bwrap")
def test_under_bwrap_every_escape_is_stopped_and_says_by_what() -> None:
    results = sandbox_escapes.run_suite()
    assert [r.case for r in results] == [case.name for case in sandbox_escapes.CASES]
    for result in results:
        assert result.layer == "bwrap"
        assert not result.escaped and result.stopped_by, result
    by = {r.case: r.stopped_by for r in results}
    # What only the boundary stops (the hook is bypassed by raw system calls, or reads files at all).
    for case in ("read_secret", "proc_environ", "write_outside", "outlive_timeout", "ctypes_network"):
        assert by[case].startswith("bwrap"), (case, by[case])


@pytest.mark.real("bwrap")
def test_without_bwrap_the_table_shows_what_gets_through() -> None:
    with sandbox_escapes.without_bwrap() as layer:
        results = {r.case: r for r in sandbox_escapes.run_suite()}
    assert all(r.layer == layer for r in results.values())
    # Files of the user are readable and raw system calls pass the hook: these get through without the boundary.
    for case in ("read_secret", "proc_environ", "write_outside", "outlive_timeout"):
        assert results[case].escaped, case
    # The hook and the limits still hold what they hold.
    for case in ("loopback", "fork_bomb", "memory"):
        assert not results[case].escaped, case
    assert results["ctypes_network"].escaped is (layer == "audit hook")


def test_a_required_boundary_refuses_to_run_without_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    with sandbox_escapes.without_bwrap():
        with pytest.raises(SandboxUnavailableError, match="bubblewrap"):
            run_python("print(1)", require_boundary=True)
        monkeypatch.setenv(REQUIRE_SANDBOX_ENV, "1")
        with pytest.raises(SandboxUnavailableError):
            run_python("print(1)")
        assert run_python("print(1)", require_boundary=False).ok  # the explicit setting wins
        monkeypatch.delenv(REQUIRE_SANDBOX_ENV)
        run = run_python("print(1)")
    assert run.ok and run.layer in ("network namespace", "audit hook")


def test_the_layer_is_said_once_in_the_log_and_in_every_result(monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(sandbox_boundary, "bwrap_problem", lambda: "bwrap is not installed (for this test)")
    sandbox_boundary.sandbox_layer.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger="langgraph_sale.sandbox_boundary"):
            first, second = run_python("print(1)"), run_python("print(2)")
        warnings = [r for r in caplog.records if "Python sandbox" in r.getMessage()]
        assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
        assert "not a security boundary" in warnings[0].getMessage() and REQUIRE_SANDBOX_ENV in warnings[0].getMessage()
        assert first.layer == second.layer != "bwrap"
        assert f"(sandbox: {first.layer})" in sandbox.python_tool().invoke({"code": "print(3)"})
    finally:
        sandbox_boundary.sandbox_layer.cache_clear()
