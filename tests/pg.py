"""Test support for the PostgreSQL memory: a module-wide local server, the worker process, and a small benchmark.

    python -m tests.pg worker URI NAME sync|async   # one worker of the two-process test (prints a JSON line)
    python -m tests.pg bench [--records 300]        # start a server in /tmp and time writes and recalls
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from langgraph.store.base import PutOp

from langgraph_sale import AuctionMemory, create_auction
from langgraph_sale.memory import AuctionRecord, MemoryBid
from langgraph_sale.stores import apostgres_store, local_postgres, postgres_store
from langgraph_sale.testing import HashingEmbeddings, fake_pool

DIMS = 64
WAIT_S = 60.0


def embeddings() -> HashingEmbeddings:
    """The embedder every process uses: deterministic across processes (blake2b, not the salted `hash`)."""
    return HashingEmbeddings(dims=DIMS)


class LocalServer:
    """A local PostgreSQL on a temporary data dir, which a test can restart on the same data."""

    def __init__(self, *initdb_options: str) -> None:
        self.initdb_options = initdb_options
        # Not under pytest's tmp dirs: as root the server runs as `postgres`, which cannot enter /tmp/pytest-of-root.
        self.data_dir = Path(tempfile.mkdtemp(prefix="sale-pg-"))
        self.data_dir.chmod(0o711)  # mkdtemp's 0o700 would keep the server's user out
        self._stack = contextlib.ExitStack()
        self.uri = ""
        self.start_s = 0.0

    def start(self) -> str:
        began = time.perf_counter()
        self.uri = self._stack.enter_context(local_postgres(self.data_dir / "data",
                                                                initdb_options=self.initdb_options))
        self.start_s = time.perf_counter() - began
        return self.uri

    def stop(self) -> None:
        self._stack.close()

    def restart(self) -> str:
        self.stop()
        return self.start()

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)


# ---- the worker of the two-process test ------------------------------------------------------------------------
def task_of(name: str, run: int) -> str:
    return f"Deduplicate and sort a list of integers, run {run} of worker {name}"


def worker(uri: str, name: str, other: str, mode: str) -> dict[str, Any]:
    """Run one auction, wait until the other worker's first auction is in the store, run a second; report."""
    memory = AuctionMemory()
    namespace = memory.namespace_for(None)

    def others(records: list[AuctionRecord]) -> list[str]:
        return [r.auction_id for r in records if r.task.endswith(f"worker {other}")]

    if mode == "sync":
        with postgres_store(uri, embeddings=embeddings()) as store:
            app = create_auction(fake_pool(), memory=memory).compile(store=store)
            first = app.invoke({"auction_task": task_of(name, 1)})
            _wait(lambda: others(memory.recall(store, namespace, task_of(other, 1))))
            second = app.invoke({"auction_task": task_of(name, 2)})
            seen = others(memory.recall(store, namespace, task_of(other, 1)))
    else:
        async def run() -> tuple[dict[str, Any], dict[str, Any], list[str]]:
            async with apostgres_store(uri, embeddings=embeddings()) as store:
                app = create_auction(fake_pool(), memory=memory).compile(store=store)
                first = await app.ainvoke({"auction_task": task_of(name, 1)})
                deadline = time.monotonic() + WAIT_S
                while not others(await memory.arecall(store, namespace, task_of(other, 1))):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"worker {other} wrote nothing in {WAIT_S} s")
                    await asyncio.sleep(0.1)
                second = await app.ainvoke({"auction_task": task_of(name, 2)})
                return first, second, others(await memory.arecall(store, namespace, task_of(other, 1)))

        first, second, seen = asyncio.run(run())
    first_outcome, second_outcome = first["auction_outcome"], second["auction_outcome"]
    return {"name": name, "first_id": first_outcome["auction_id"], "first_recalled": first_outcome["recalled"],
            "second_recalled": second_outcome["recalled"], "written": second_outcome["memory_written"],
            "seen_from_other": seen}


def _wait(found: Callable[[], Any]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not found():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the other worker wrote nothing in {WAIT_S} s")
        time.sleep(0.1)


# ---- the benchmark ---------------------------------------------------------------------------------------------
WORDS = ("sort", "list", "integers", "strings", "parse", "csv", "file", "json", "merge", "intervals", "graph",
         "shortest", "path", "cache", "lru", "regex", "dates", "matrix", "transpose", "prime", "numbers", "tree",
         "binary", "search", "queue", "stack", "http", "retry", "hash", "map", "count", "words", "unique", "log")


def sample_record(i: int, rng: random.Random) -> AuctionRecord:
    task = " ".join(rng.sample(WORDS, 6)) + f" #{i}"
    plan = " ".join(rng.choice(WORDS) for _ in range(60))
    bids = [MemoryBid(bidder=b, plan=plan, plan_tokens=60, score=rng.random()) for b in ("tiny", "small", "large")]
    return AuctionRecord(auction_id=f"bench-{i}", task=task, pool=["tiny", "small", "large"], bids=bids,
                         provisional_winner="small", winner="small")


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"p50 {1000 * statistics.median(ordered):.1f} ms, p90 {1000 * p90:.1f} ms"


def _each(call: Callable[[Any], Any], inputs: list[Any]) -> list[float]:
    """Seconds of `call(x)` for each x."""
    samples = []
    for value in inputs:
        began = time.perf_counter()
        call(value)
        samples.append(time.perf_counter() - began)
    return samples


def bench(records: int) -> None:
    rng = random.Random(7)
    server = LocalServer()
    try:
        server.start()
        print(f"first start (initdb + start + CREATE EXTENSION vector): {server.start_s:.2f} s")
        began = time.perf_counter()
        server.stop()
        print(f"stop: {time.perf_counter() - began:.2f} s")
        server.start()
        print(f"start on the same data dir: {server.start_s:.2f} s")
        queries = [" ".join(rng.sample(WORDS, 4)) for _ in range(50)]
        memory = AuctionMemory(namespace=("bench",))
        namespace = memory.namespace_for(None)
        with postgres_store(server.uri, embeddings=HashingEmbeddings()) as store, postgres_store(server.uri) as plain:
            writes = _each(partial(memory.write, store, namespace), [sample_record(i, rng) for i in range(records)])
            print(f"write x{records} (AuctionMemory.write, 256-dim HNSW index): {_ms(writes)}")
            for size in (records, 4 * records):
                if size > records:  # grow the scope to 4x, through the indexed store (so both recalls see it)
                    for i in range(records, size, 100):
                        more = [sample_record(j, rng) for j in range(i, min(size, i + 100))]
                        store.batch([PutOp(namespace, r.auction_id, r.model_dump(mode="json"), index=["task"])
                                     for r in more])
                vector = _each(partial(memory.recall, store, namespace), queries)
                print(f"@{size} records: vector recall k=8 (PostgresStore search): {_ms(vector)}")
                lexical = _each(partial(memory.recall, plain, namespace), queries[:20])
                print(f"@{size} records: lexical recall k=8 (no index: listing + BM25): {_ms(lexical)}")
                listing = _each(lambda _: plain.search(namespace, limit=memory.max_records + 501), queries[:20])
                print(f"@{size} records:   of which the listing of the scope: {_ms(listing)}")
    finally:
        server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.pg")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("worker")
    run.add_argument("uri")
    run.add_argument("name")
    run.add_argument("other")
    run.add_argument("mode", choices=["sync", "async"])
    timing = commands.add_parser("bench")
    timing.add_argument("--records", type=int, default=300)
    args = parser.parse_args(argv)
    if args.command == "worker":
        print(json.dumps(worker(args.uri, args.name, args.other, args.mode)), flush=True)
    else:
        bench(args.records)


if __name__ == "__main__":
    main()
