"""Smoke runs of the memory benchmarks, as subprocesses: they print their tables and exit 0. Their timings are
figures the scripts print, not asserted here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"


def _run(script: str, *args: str) -> str:
    # The timeout is a backstop against a hang, not a claim about speed.
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _shares(output: str, label: str) -> tuple[float, float]:
    """The (with memory, without memory) percentages of one row of the summary table."""
    match = re.search(rf"^\| {re.escape(label)} \| ([\d.]+)% \| ([\d.]+)% \|$", output, re.M)
    assert match, f"no row {label!r} in:\n{output}"
    return float(match.group(1)) / 100, float(match.group(2)) / 100


def test_stream_memory_cheapest_bidder_learns_only_with_memory() -> None:
    output = _run("stream_memory.py", "--tasks", "50")
    final_with, final_without = _shares(output, "small's final win share")
    first_with, first_without = _shares(output, "small's win share, tasks 1-25")
    second_with, second_without = _shares(output, "small's win share, tasks 26-50")
    assert final_with > final_without
    # With memory the share rises over the stream; without it, it stays flat (one family in eight suits small).
    assert second_with > first_with + 0.2
    assert abs(second_without - first_without) <= 0.1
    checkpoints = re.findall(r"^\| (\d+) \| ([\d.]+)% \| ([\d.]+)% \|$", output, re.M)
    assert [int(point) for point, _, _ in checkpoints] == [10, 20, 30, 40, 50]
    with_memory = [float(share) for _, share, _ in checkpoints]
    assert with_memory[-1] > with_memory[0]
    assert "Command: `" in output


def test_bench_recall_quick() -> None:
    output = _run("bench_recall.py", "--quick")
    rows = re.findall(r"^\| (.+?) \| 1,000 \| ([\d.]+) \| ([\d.]+) \| (\d+) \| ([\d.]+) \|", output, re.M)
    assert {row[0] for row in rows} == {"HashingEmbeddings (256 dims)", "lexical (BM25, no index)"}
    for _, median, p95, queries, recalled in rows:
        assert 0 < float(median) <= float(p95) and int(queries) == 10 and float(recalled) == 8.0
    assert "Command: `" in output
