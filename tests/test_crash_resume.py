"""Crash and resume (issue "Reliability and security", item 2): a worker process killed for real (SIGKILL) after the
bids and the jury, while the winner executes, resumes from its checkpoint in a new process without bidding or
judging again and without paying twice, and the auction is remembered exactly once.

Both durable back-ends: SQLite (`SqliteSaver` + `SqliteStore`) and PostgreSQL (`PostgresSaver` + `PostgresStore`, on
the local server of tests/pg.py). The worker is tests/crash_worker.py; it logs every model call with its pid.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import crash_worker
from tests.support import answer_of, missing_real, need_real

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 120.0


@pytest.fixture(scope="module")
def postgres_uri() -> Iterator[str]:
    need_real("postgres")
    from langgraph_sale.stores import PostgresUnavailable
    from tests.pg import LocalServer

    server = LocalServer("--no-sync")  # a throwaway cluster: no fsync at initdb
    try:
        server.start()
    except (PostgresUnavailable, ImportError, RuntimeError) as error:
        server.close()
        missing_real("postgres", f"a local PostgreSQL cannot start here: {error}")
    yield server.uri
    server.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return "sqlite", str(tmp_path)
    return "postgres", str(request.getfixturevalue("postgres_uri"))


def calls_by(log: Path, pid: int) -> Counter[str]:
    """The model calls one process made, by kind."""
    kinds: Counter[str] = Counter()
    for line in log.read_text().splitlines():
        logged_pid, _, kind = line.split()
        if int(logged_pid) == pid:
            kinds[kind] += 1
    return kinds


def worker(phase: str, kind: str, target: str, thread: str, log: Path, *hang: str) -> list[str]:
    return [sys.executable, "-m", "tests.crash_worker", phase, kind, target, thread, str(log), *hang]


def wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> float:
    started = time.monotonic()
    while not ready():
        if process.poll() is not None:
            raise AssertionError(f"the worker exited ({process.returncode}) before {what}: "
                                 f"{process.stderr.read().decode() if process.stderr else ''}")
        if time.monotonic() - started > WAIT_S:
            raise AssertionError(f"no {what} within {WAIT_S} s")
        time.sleep(0.05)
    return time.monotonic() - started


def finished_judgments(app: Any, config: dict[str, Any]) -> list[dict[str, Any]]:
    """The judgments of the pending jury step whose results are saved (LangGraph's pending writes)."""
    tasks = app.get_state(config).tasks
    return [record for task in tasks if task.name == "judge" and task.result
            for record in task.result.get("auction_jury", [])]


# Where the first worker hangs, what the checkpoint shows pending when it is killed, and the model calls each
# process must make: the killed one, and the one that resumes.
# A juror reads every plan in one request (jury_batch): 3 jury requests make the 9 judgments.
CRASH_POINTS = {
    "execute": {"killed": {"bid": 3, "jury": 3, "execute": 1}, "resumed": {"execute": 1}},
    "jury": {"killed": {"bid": 3, "jury": 3}, "resumed": {"jury": 1, "execute": 1}},
}


@pytest.mark.parametrize("crash_point", list(CRASH_POINTS))
def test_a_killed_worker_resumes_without_bidding_judging_or_paying_twice(
        backend: tuple[str, str], crash_point: str, tmp_path: Path) -> None:
    kind, target = backend
    expected = CRASH_POINTS[crash_point]
    log = tmp_path / "calls.log"
    log.touch()
    thread = f"crash-{uuid.uuid4().hex}"
    config = crash_worker.config(thread)
    namespace = crash_worker.memory(thread).namespace_for(None)
    # The parent sets both back-ends up before any worker (no setup race) and reads the checkpoints while they run.
    with crash_worker.durable(kind, target) as objects:
        _, store = objects
        app = crash_worker.build(objects, str(log), thread)

        # 1. The first worker bids and judges, then hangs (in the winner's execution, or in the large juror's
        #    judgments while the other six finish): it is killed for real there.
        first = subprocess.Popen(worker("first", kind, target, thread, log, crash_point), cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            def hanging() -> bool:
                if dict(calls_by(log, first.pid)) != expected["killed"]:
                    return False
                if crash_point == "execute":
                    return bool(app.get_state(config).next == ("execute_small",))
                return len(finished_judgments(app, config)) == 6

            wait_until(hanging, first, f"{crash_point} pending in the checkpoint")
            before = app.get_state(config).values
            saved_judgments = finished_judgments(app, config)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        assert first.returncode == -signal.SIGKILL
        assert calls_by(log, first.pid) == expected["killed"]
        assert len(before["auction_bids"]) == 3 and all(b["usage"]["calls"] == 1 for b in before["auction_bids"])
        assert store.search(namespace) == []  # nothing remembered before the outcome

        # 2. A new process resumes the thread from its checkpoint: only what had not finished runs again.
        resumed = subprocess.run(worker("resume", kind, target, thread, log), cwd=ROOT, capture_output=True,
                                 text=True, timeout=WAIT_S)
        assert resumed.returncode == 0, resumed.stderr
        report = json.loads(resumed.stdout.strip().splitlines()[-1])
        assert calls_by(log, report["pid"]) == expected["resumed"]
        assert report["status"] == "executed" and report["memory_written"] is True

        final = app.get_state(config)
        values = final.values
        assert final.next == ()
        outcome = values["auction_outcome"]
        assert outcome["status"] == "executed" and outcome["winner"] == "small"
        assert outcome["answer"] == answer_of("small") and values["messages"][-1].content == answer_of("small")
        assert values["auction_id"] == before["auction_id"] == report["auction_id"]
        # The bids are the first process's, with their usage; judgments that finished before the kill are kept
        # as they were; every phase is paid once.
        bid_usage = {b["id"]: b["usage"] for b in before["auction_bids"]}
        assert {b["id"]: b["usage"] for b in values["auction_bids"]} == bid_usage
        if crash_point == "execute":
            assert values["auction_bids"] == before["auction_bids"]
            assert values["auction_jury"] == before["auction_jury"]
        else:
            kept = {j["id"]: j for j in values["auction_jury"]}
            assert all(kept.get(j["id"]) == j for j in saved_judgments)
            assert sorted(j["juror"] for j in saved_judgments) == ["small"] * 3 + ["tiny"] * 3
        assert len(values["auction_jury"]) == 9 and all(j["score"] is not None for j in values["auction_jury"])
        assert outcome["tokens_by_phase"]["bid"] == sum(u["input_tokens"] + u["output_tokens"]
                                                       for u in bid_usage.values())
        usage = values["auction_usage"]
        assert (usage["bid"]["calls"], usage["jury"]["calls"], usage["execute"]["calls"]) == (3, 3, 1)

        # 3. Exactly one memory record, keyed by the auction id.
        (item,) = store.search(namespace)
        assert item.key == values["auction_id"] and item.value["auction_id"] == values["auction_id"]
        assert item.value["winner"] == "small" and len(item.value["bids"]) == 3
        written_at = item.updated_at

        # 4. Replaying record_outcome from its checkpoint (as after a crash between the memory write and the
        #    checkpoint) rewrites the record in place, and resuming the finished thread again runs nothing.
        (before_record,) = [s for s in app.get_state_history(config) if s.next == ("record_outcome",)]
        replay = app.invoke(None, before_record.config)
        assert replay["auction_outcome"]["memory_written"] is True
        assert replay["auction_outcome"]["auction_id"] == values["auction_id"]
        again = app.invoke(None, config)
        assert again["auction_outcome"]["status"] == "executed"
        (item,) = store.search(namespace)
        # Written again (memory_written is set only by a write that succeeded), and still one record. SqliteStore
        # keeps whole seconds, so the timestamp may not move.
        assert item.key == values["auction_id"] and item.updated_at >= written_at
        assert calls_by(log, os.getpid()) == {}
        total: Counter[str] = Counter(line.split()[2] for line in log.read_text().splitlines())
        assert total == Counter(expected["killed"]) + Counter(expected["resumed"])


@pytest.mark.parametrize("task", ["Sort\x00 a list.", "Sort \udcff a list."], ids=["NUL", "lone-surrogate"])
def test_a_task_postgres_cannot_store_is_a_typed_input_error(postgres_uri: str, task: str) -> None:
    from langgraph_sale import AuctionInputError

    log = Path(f"/tmp/sale-crash-{uuid.uuid4().hex}.log")
    thread = f"bad-task-{uuid.uuid4().hex}"
    try:
        with crash_worker.durable("postgres", postgres_uri) as objects:
            app = crash_worker.build(objects, str(log), thread)
            with pytest.raises(AuctionInputError) as raised:
                app.invoke({"auction_task": task}, crash_worker.config(thread))
        assert raised.value.field == "auction_task"
        assert not log.exists() or log.read_text() == ""  # refused before any model is paid
    finally:
        log.unlink(missing_ok=True)
