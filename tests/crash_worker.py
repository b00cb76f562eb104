"""The worker process of tests/test_crash_resume.py: one auction on a durable checkpointer and store.

    python -m tests.crash_worker first  BACKEND TARGET THREAD LOG HANG  # runs the auction, which hangs at HANG
    python -m tests.crash_worker resume BACKEND TARGET THREAD LOG       # app.invoke(None, config), same thread

BACKEND is `sqlite` (TARGET: a directory holding checkpoints.db and store.db) or `postgres` (TARGET: a server URI).
Every model call appends "<pid> <bidder> <kind>" to LOG and flushes before the model answers, so the parent counts
the calls of each process, even of one killed with SIGKILL. In the `first` process the calls named by HANG sleep for
an hour: `execute` (the winner's execution) or `jury` (the large bidder's judgments; the other jurors finish). The
parent kills the process once the checkpoint shows the hanging node pending.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.store.base import BaseStore

from langgraph_sale import AuctionMemory, Bidder, create_auction
from langgraph_sale.testing import ScriptedChatModel
from tests.support import JURY_BY_PLAN_TEXT, PLANS, PRICES, answer_of

TASK = "Deduplicate and sort a list of integers, then report how many were dropped."
HANG_S = 3600.0


def memory(thread: str) -> AuctionMemory:
    """The auction memory of one test thread: its own namespace, so runs on a shared server never mix."""
    return AuctionMemory(namespace=("crash_resume", thread))


class LoggedModel(ScriptedChatModel):
    """A scripted model that logs each call (pid, bidder, kind) to a file, flushed before it answers."""

    log_path: str = ""

    def _prepare(self, messages: list[BaseMessage], kwargs: Mapping[str, Any]) -> tuple[Any, float, bool]:
        prepared = super()._prepare(messages, kwargs)
        with open(self.log_path, "a", encoding="utf-8") as log:  # O_APPEND: lines from threads never interleave
            log.write(f"{os.getpid()} {self.name_hint} {prepared[0]}\n")
            log.flush()
        return prepared


HANGS = {"execute": {name: "execute" for name in PRICES}, "jury": {"large": "jury"}}


def pool(log_path: str, *, hang: str | None) -> list[Bidder]:
    """tiny / small / large as in tests/support.py (small wins); `hang` makes the calls of HANGS[hang] hang."""
    hanging = HANGS[hang] if hang else {}
    return [
        Bidder(name, LoggedModel(plans=[PLANS[name]], jury=JURY_BY_PLAN_TEXT, jury_default=3,
                                 answers=[answer_of(name)], name_hint=name, log_path=log_path,
                                 latency_s={hanging[name]: HANG_S} if name in hanging else 0.0),
               price_per_mtok=price)
        for name, price in PRICES.items()
    ]


@contextlib.contextmanager
def durable(backend: str, target: str) -> Iterator[tuple[Any, BaseStore]]:
    """The checkpointer and the store of a backend, set up (idempotent)."""
    if backend == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver
        from langgraph.store.sqlite import SqliteStore

        with SqliteSaver.from_conn_string(str(Path(target) / "checkpoints.db")) as saver, \
                SqliteStore.from_conn_string(str(Path(target) / "store.db")) as store:
            saver.setup()
            store.setup()
            yield saver, store
    elif backend == "postgres":
        from langgraph.checkpoint.postgres import PostgresSaver

        from langgraph_sale.stores import postgres_store

        with PostgresSaver.from_conn_string(target) as saver, postgres_store(target) as store:
            saver.setup()
            yield saver, store
    else:
        raise ValueError(f"unknown backend {backend!r}")


def build(backend_objects: tuple[Any, BaseStore], log_path: str, thread: str, *, hang: str | None = None) -> Any:
    saver, store = backend_objects
    return create_auction(pool(log_path, hang=hang), memory=memory(thread)).compile(checkpointer=saver, store=store)


def config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def main(argv: list[str]) -> int:
    phase, backend, target, thread, log_path, *hang = argv
    with durable(backend, target) as objects:
        if phase == "first":
            build(objects, log_path, thread, hang=hang[0]).invoke({"auction_task": TASK}, config(thread))
            print("the first process finished: it was meant to be killed", file=sys.stderr)
            return 3
        if phase == "resume":
            result = build(objects, log_path, thread).invoke(None, config(thread))
            outcome = result["auction_outcome"]
            print(json.dumps({"pid": os.getpid(), "auction_id": outcome["auction_id"], "status": outcome["status"],
                              "memory_written": outcome["memory_written"]}), flush=True)
            return 0
    raise SystemExit(f"unknown phase {phase!r}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
