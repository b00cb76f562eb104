"""Progress bars on the long steps: shown on a terminal, silent under --quiet and in CI."""

from __future__ import annotations

import pytest

from langgraph_sale.progress import ProgressBar, progress_wanted


@pytest.mark.parametrize(("ci", "quiet", "wanted"), [("", False, True), ("true", False, False), ("1", False, False),
                                                     ("", True, False)])
def test_progress_is_wanted_only_outside_ci_and_when_not_quiet(monkeypatch: pytest.MonkeyPatch, ci: str,
                                                                quiet: bool, wanted: bool) -> None:
    monkeypatch.setenv("CI", ci)
    assert progress_wanted(quiet) is wanted


def test_a_bar_reports_on_stderr_and_a_disabled_one_says_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    bar = ProgressBar(4, "install", unit="step")
    for step in ("a", "b", "c", "d"):
        bar.update(step)
    bar.close()
    shown = capsys.readouterr()
    assert "install" in shown.err and "4/4" in shown.err and shown.out == ""
    quiet = ProgressBar(4, "install", enabled=False)
    quiet.update("a")
    quiet.close()
    assert capsys.readouterr() == ("", "") and quiet.count == 1
