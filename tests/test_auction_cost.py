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
    # The rank correlation replays two whole published runs; its row is checked on its own below.
    monkeypatch.setattr(script, "alone_execution_tokens", lambda: {})
    rows = script._rows(ROOT / "docs" / "results" / "auction-cost" / "auctions.jsonl")
    report = script.report(rows)
    doc = (ROOT / "docs" / "auction-cost.md").read_text(encoding="utf-8")
    table = [line for line in report.splitlines() if line.startswith("|") and not line.startswith("|---")]
    # Every auction's three phase rows, the ratios and the plan and judgment figures.
    assert len(table) >= 3 * 3 + 7 + 10
    missing = [line for line in table if line not in doc]
    assert missing == [], "docs/auction-cost.md lacks: " + "\n".join(missing)
    # The measurement holds the three auctions on the same 40 tasks, and the default reads each juror once.
    assert {r["auction"] for r in rows} == set(script.AUCTIONS) and len({r["task"] for r in rows}) == 40
    requests = next(line for line in table if line.startswith("| jury requests an auction |"))
    assert [cell.strip() for cell in requests.split("|")[2:5:2]] == ["4.0", "2.0"]  # today's 2 x 2, then 2 jurors

