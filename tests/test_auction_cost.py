"""The auction-cost figures of docs/auction-cost.md are what benchmarks/bench_auction_cost.py makes of the committed
measurement (docs/results/auction-cost/auctions.jsonl), offline."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_auction_cost", ROOT / "benchmarks" / "bench_auction_cost.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_published_tables_are_what_the_committed_measurement_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script()
    # The rank correlation replays two whole published runs; it has its own line, checked below by its figures.
    monkeypatch.setattr(script, "alone_execution_tokens", lambda: {})
    report = script.report(script._rows(ROOT / "docs" / "results" / "auction-cost" / "auctions.jsonl"))
    doc = (ROOT / "docs" / "auction-cost.md").read_text(encoding="utf-8")
    table = [line for line in report.splitlines() if line.startswith("| today |") or line.startswith("| new |")]
    assert len(table) == 6 and all(line in doc for line in table)
    assert "- tokens billed (input, cached input and output): 1.01" in report
    assert "| tokens billed (input, cached input and output) | 1.01 |" in doc
    assert "| wall time | 0.72 |" in doc and "- wall time: 0.72" in report
    assert "| $ at provider-style prices | 0.83 |" in doc and "- $ at provider-style prices: 0.83" in report
    assert "same winner: 35 of 40 tasks" in report and "| same winner | 35 of 40 tasks |" in doc
    assert "- new: 10 of 80 plans hit the cap (12%), plan tokens median 67; 1.00 output tokens a judgment" in report
    assert "- today: 79 of 80 plans hit the cap (99%), plan tokens median 128; 7.92 output tokens a judgment" in report
    assert "median 2.70" in report and "| 2.70 |" in doc
