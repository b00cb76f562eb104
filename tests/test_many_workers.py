"""Many workers on one PostgreSQL memory under faults (benchmarks/many_workers.py, its smaller run): worker processes
run auctions from one queue against one store and checkpointer while one is killed with SIGKILL, and afterwards only
the task it held was claimed again (and resumed, not started anew), every task has exactly one outcome and one memory
record, no scope sees another's, each ledger adds up, and a later recall sees every earlier record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.real("postgres")
def test_three_workers_one_killed_leave_one_outcome_and_one_record_per_task() -> None:
    # The timeout is a backstop against a hang, not a claim about speed.
    done = subprocess.run([sys.executable, "benchmarks/many_workers.py", "--tasks", "24", "--workers", "3",
                           "--kills", "1", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["outcomes"] == result["tasks"] == 24
    assert result["broken"] == 0, result["problems"]
    # The worker was killed holding a task whose auction had begun, and only that task was claimed again (a live
    # worker's heartbeat keeps its lease): resumed from its checkpoint or found finished, never started anew.
    assert len(result["kills"]) == 1 and result["reclaimed"] == 1
    assert result["from_checkpoint"] + result["finished_unrecorded"] == result["reclaimed"]
    assert result["claims"] == 24 + result["reclaimed"]
