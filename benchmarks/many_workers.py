"""Many workers, one memory, under faults: worker processes run auctions from one queue against one PostgreSQL store
and checkpointer, while one of them is killed with SIGKILL, and what they leave behind is checked.

A queue of `--tasks` tasks (a table in the same database, claimed with `FOR UPDATE SKIP LOCKED` under a lease) is
worked by `--workers` processes, each compiling the same auction (`create_auction(pool, memory=AuctionMemory(
scope_key="user_id"))`, memory and the outbid round on, scripted bidders whose calls take `--latency-ms`) against the
embedded PostgreSQL (`langgraph_sale.stores.local_postgres`; `PostgresSaver` and `PostgresStore` with a vector
index). A task's thread id is its id, and it runs in the scope of one of four users. Worker 0 is killed with
SIGKILL `--kills` times, mid-run, and started again; the task it held is claimed by another worker once its lease
runs out, and resumed from its checkpoint (`invoke(None)`) rather than started again.

Each step is checkpointed before the next begins (`durability="sync"`): under the default ("async") a SIGKILL can
lose the last steps' checkpoints, and a resumed run that opens the auction again writes its memory record under a
new auction id beside the first.

A worker renews the lease of the task it holds while it lives (a heartbeat), so only a dead worker's task is claimed
again: a slow worker on a loaded machine is not, which would run one thread in two processes at once. The killer
stops worker 0 with SIGSTOP before it looks at what worker 0 holds, so that the task it kills in is the one it saw.

Afterwards, from the database alone:

- every task has exactly one outcome (its queue row, done, with its auction id) and exactly one memory record,
  the one of that auction, in its own user's scope;
- no record of one scope is visible from another: each scope holds only its own tasks, and a recall made with one
  user's context returns none of another's;
- the ledger of every finished run equals the sum of its calls: the cost by phase adds up to the total, and equals
  what its bids, judgments and execution record (a resumed run does not count a call twice);
- the recall a later auction makes sees every earlier record of its scope.

Then the same queue with one worker and no kill, for the throughput ratio.

    .venv/bin/python benchmarks/many_workers.py                          # 200 tasks, 4 workers, 2 kills
    .venv/bin/python benchmarks/many_workers.py --tasks 24 --workers 3 --kills 1 --json   # the test's run

Exits 1 when an invariant is broken.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langgraph_sale import AuctionMemory, Bidder, create_auction  # noqa: E402 - after the path set-up
from langgraph_sale.prompts import REVISED_PLAN  # noqa: E402
from langgraph_sale.testing import HashingEmbeddings, ScriptedChatModel  # noqa: E402

USERS = ("ada", "bo", "cy", "dee")
NAMESPACE = ("many_workers",)
PRICES = {"tiny": 0.02, "small": 0.06, "large": 0.54}
LEASE_S = 8.0
HEARTBEAT_S = LEASE_S / 4
DIMS = 64


def task_text(index: int) -> str:
    """Task i: one of eight families, so that memory has similar past auctions to recall."""
    family = ("deduplicate and sort", "parse dates in", "merge intervals of", "count words in", "validate emails in",
              "flatten nested", "rotate a matrix of", "find cycles in")[index % 8]
    return f"Task {index:04d}: write a Python function to {family} the input (case {index})."


def pool(latency_s: float) -> list[Bidder]:
    """tiny / small / large: the jury likes tested plans, so small wins unless outbid; every call takes latency."""
    plans = {"tiny": "1. Write it. 2. Done, a vague plan.", "small": "1. Write the function. 2. Run unit tests.",
             "large": "1. Study the spec. 2. Design. 3. Implement. 4. Run unit tests. 5. Review."}
    return [Bidder(name, ScriptedChatModel(plans=[plan], refinements=[f"They tested.\n{REVISED_PLAN}\n{plan} Test it."],
                                           jury={"vague": 1, "unit tests": 5}, jury_default=3,
                                           answers=[f"def solve(xs):  # by {name}\n    return sorted(set(xs))"],
                                           latency_s=latency_s, name_hint=name), price_per_mtok=price)
            for name, plan in plans.items() for price in [PRICES[name]]]


def memory() -> AuctionMemory:
    return AuctionMemory(namespace=NAMESPACE, scope_key="user_id")


@contextlib.contextmanager
def durable(uri: str) -> Iterator[tuple[Any, Any]]:
    from langgraph.checkpoint.postgres import PostgresSaver

    from langgraph_sale.stores import postgres_store

    with PostgresSaver.from_conn_string(uri) as saver, \
            postgres_store(uri, embeddings=HashingEmbeddings(DIMS), dims=DIMS, setup=False) as store:
        yield saver, store


def setup(uri: str, tasks: int, table: str) -> None:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver

    from langgraph_sale.stores import postgres_store

    with PostgresSaver.from_conn_string(uri) as saver:
        saver.setup()
    with postgres_store(uri, embeddings=HashingEmbeddings(DIMS), dims=DIMS):
        pass
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (task_id text PRIMARY KEY, scope text NOT NULL, task text NOT NULL, "
                     "state text NOT NULL DEFAULT 'pending', worker int, lease_until timestamptz, claims int "
                     "NOT NULL DEFAULT 0, resumed boolean NOT NULL DEFAULT false, auction_id text, outcome jsonb, "
                     "done_by int, how text, pid int)")
        with conn.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} (task_id, scope, task) VALUES (%s, %s, %s)",
                               [(f"{table}-{i:04d}", USERS[i % len(USERS)], task_text(i)) for i in range(tasks)])


def claim(conn: Any, table: str, worker: int) -> tuple[str, str, str, bool] | None:
    """The next task: pending, or held by a worker whose lease ran out (it died); None when all are claimed."""
    row = conn.execute(
        f"UPDATE {table} SET state = 'claimed', worker = %s, pid = %s, "
        "lease_until = now() + make_interval(secs => %s), "
        "claims = claims + 1, resumed = resumed OR state = 'claimed' "
        f"WHERE task_id = (SELECT task_id FROM {table} WHERE state = 'pending' OR (state = 'claimed' AND "
        "lease_until < now()) ORDER BY task_id FOR UPDATE SKIP LOCKED LIMIT 1) "
        "RETURNING task_id, scope, task, resumed", (worker, os.getpid(), LEASE_S)).fetchone()
    return None if row is None else (row[0], row[1], row[2], bool(row[3]))


@contextlib.contextmanager
def heartbeat(uri: str, table: str, task_id: str, worker: int) -> Iterator[None]:
    """Renew the lease of the task this worker holds every HEARTBEAT_S until the block ends: only a worker that died
    (its heartbeat with it) lets its lease run out."""
    import psycopg

    stop = threading.Event()

    def renew() -> None:
        with psycopg.connect(uri, autocommit=True) as conn:
            while not stop.wait(HEARTBEAT_S):
                conn.execute(f"UPDATE {table} SET lease_until = now() + make_interval(secs => %s) "
                             "WHERE task_id = %s AND worker = %s AND state = 'claimed'", (LEASE_S, task_id, worker))

    beating = threading.Thread(target=renew, name=f"lease-{task_id}", daemon=True)
    beating.start()
    try:
        yield
    finally:
        stop.set()
        beating.join()


def work(uri: str, table: str, worker: int, latency_s: float) -> int:
    """One worker: claim, run (or resume) the task's auction, record its outcome; until the queue is empty."""
    import psycopg

    with durable(uri) as (saver, store), psycopg.connect(uri, autocommit=True) as conn:
        app = create_auction(pool(latency_s), memory=memory()).compile(checkpointer=saver, store=store)
        while True:
            claimed = claim(conn, table, worker)
            if claimed is None:
                left = conn.execute(f"SELECT count(*) FROM {table} WHERE state <> 'done'").fetchone()[0]
                if left == 0:
                    return 0
                time.sleep(0.2)  # a task held by a worker that may be dead: wait for its lease to run out
                continue
            task_id, scope, task, _ = claimed
            config = {"configurable": {"thread_id": task_id}}
            with heartbeat(uri, table, task_id, worker):
                state = app.get_state(config)
                if state.values.get("auction_outcome"):  # finished, but its outcome was not recorded
                    how, result = "finished", state.values
                elif state.created_at is not None:
                    # A run that a killed worker left half done: resume it from its checkpoint. `state.next` is no
                    # test of that: it is empty once every task of the last checkpoint has saved its writes.
                    how, result = "resumed", app.invoke(None, config, context={"user_id": scope}, durability="sync")
                else:
                    how, result = "new", app.invoke({"auction_task": task}, config, context={"user_id": scope},
                                                    durability="sync")
            outcome = result["auction_outcome"]
            conn.execute(f"UPDATE {table} SET state = 'done', auction_id = %s, outcome = %s, done_by = %s, how = %s "
                         "WHERE task_id = %s AND worker = %s AND state = 'claimed'",
                         (outcome["auction_id"], json.dumps(outcome), worker, how, task_id, worker))


def spawn(uri: str, table: str, worker: int, latency_s: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", str(worker), "--uri", uri,
                             "--table", table, "--latency-ms", str(latency_s * 1000)], cwd=ROOT,
                            stderr=subprocess.PIPE)


def done_count(uri: str, table: str) -> int:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table} WHERE state = 'done'").fetchone()[0])


def mid_auction(uri: str, table: str, *, pid: int) -> bool:
    """Whether the worker process `pid` holds a task whose auction has begun (its thread has checkpoints) and not
    ended: the moment to kill it, so that another worker must resume the run from where it stopped."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        row = conn.execute(f"SELECT q.task_id FROM {table} q WHERE q.state = 'claimed' AND q.pid = %s AND EXISTS "
                           "(SELECT 1 FROM checkpoints c WHERE c.thread_id = q.task_id AND c.checkpoint_ns = %s"
                           " GROUP BY c.thread_id HAVING count(*) >= 2)", (pid, "")).fetchone()
    return row is not None


def run_queue(uri: str, table: str, *, tasks: int, workers: int, kills: int, latency_s: float) -> dict[str, Any]:
    """Set up the queue, run the workers (killing worker 0 `kills` times), and return the wall time and kills."""
    setup(uri, tasks, table)
    started = time.perf_counter()
    processes = {w: spawn(uri, table, w, latency_s) for w in range(workers)}
    kill_at = [math.ceil(tasks * (k + 1) / (kills + 1)) for k in range(kills)]
    killed: list[dict[str, Any]] = []
    while any(p.poll() is None for p in processes.values()):
        done = done_count(uri, table)
        victim = processes[0]
        if kill_at and done >= kill_at[0] and victim.poll() is None:
            # Stopped first, so that it cannot finish the task it is seen holding and take the next before the kill.
            os.kill(victim.pid, signal.SIGSTOP)
            if mid_auction(uri, table, pid=victim.pid):
                kill_at.pop(0)
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait()
                killed.append({"pid": victim.pid, "after_done": done})
                processes[0] = spawn(uri, table, 0, latency_s)  # the slot gets a new process
            else:
                os.kill(victim.pid, signal.SIGCONT)
        time.sleep(0.05)
    wall = time.perf_counter() - started
    failed = [(w, p.returncode, (p.stderr.read() if p.stderr else b"").decode()[-800:])
              for w, p in processes.items() if p.returncode != 0]
    if failed:
        raise SystemExit(f"a worker failed: {failed}")
    return {"wall_s": wall, "killed": killed}


def verify(uri: str, table: str, tasks: int) -> dict[str, Any]:
    """The invariants of the module docstring, from the database; each as a count of what breaks it."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        rows = conn.execute(f"SELECT task_id, scope, task, state, auction_id, outcome, claims, resumed, how FROM "
                            f"{table}").fetchall()
    hows = {r[0]: r[8] for r in rows}
    how = Counter(hows.values())
    outcomes = {r[0]: r for r in rows}
    problems: dict[str, list[str]] = {"outcome": [], "memory": [], "scope": [], "ledger": [], "recall": []}
    for task_id, _, _, state, auction_id, outcome, _, _, _ in rows:
        if state != "done" or not auction_id or not outcome or outcome.get("auction_id") != auction_id:
            problems["outcome"].append(task_id)
            continue
        phases = outcome["cost_usd_by_phase"]
        audit = sum(b["usage"]["cost_usd"] for b in outcome["bids"]) + sum(
            j["usage"]["cost_usd"] for j in outcome["jury"]) + phases.get("execute", 0.0)
        if not (math.isclose(sum(phases.values()), outcome["total_cost_usd"], rel_tol=1e-9, abs_tol=1e-15)
                and math.isclose(audit, outcome["total_cost_usd"], rel_tol=1e-9, abs_tol=1e-15)):
            problems["ledger"].append(task_id)
    with durable(uri) as (_, store):
        by_scope: dict[str, list[Any]] = {}
        for user in USERS:
            by_scope[user] = store.search((*NAMESPACE, user), limit=100_000)
        auction_ids = [item.value.get("auction_id") for items in by_scope.values() for item in items]
        expected = {r[4] for r in rows if r[4]}
        if sorted(auction_ids) != sorted(expected):
            # Which tasks the records no outcome points to are of, and how those tasks were done: the first clue.
            task_of = {r[2]: r[0] for r in rows}
            orphans = sorted({task_of.get(item.value.get("task"), "?") for items in by_scope.values() for item in items
                              if item.value.get("auction_id") not in expected})
            problems["memory"].append(f"{len(auction_ids)} records for {len(expected)} outcomes "
                                      f"({len(auction_ids) - len(set(auction_ids))} duplicated); records no outcome "
                                      f"points to, of tasks {orphans}, done as {[hows.get(t) for t in orphans]}")
        for user, items in by_scope.items():
            own = {r[2] for r in rows if r[1] == user}
            stray = [item.key for item in items if item.value.get("task") not in own]
            problems["scope"] += [f"{user}: {key}" for key in stray]
            # A later auction of this user recalls from its scope: it sees every earlier record, and only those.
            bound = AuctionMemory(namespace=NAMESPACE, scope_key="user_id", k=len(items) or 1).bind(
                store, {"user_id": user})
            recalled = bound.recall(task_text(0))
            if {r.auction_id for r in recalled} != {item.value.get("auction_id") for item in items}:
                problems["recall"].append(f"{user}: recalled {len(recalled)} of {len(items)}")
    resumed = sum(1 for r in rows if r[7])
    return {"tasks": tasks, "outcomes": sum(1 for r in rows if r[3] == "done"), "reclaimed": resumed,
            "from_checkpoint": int(how.get("resumed", 0)), "finished_unrecorded": int(how.get("finished", 0)),
            "claims": sum(r[6] for r in rows), "problems": {k: v[:10] for k, v in problems.items()},
            "broken": sum(len(v) for v in problems.values()), "outcome_rows": len(outcomes)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--uri", default=None, help="a PostgreSQL URI (default: an embedded server of its own)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the account")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--table", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        return work(args.uri, args.table, args.worker, args.latency_ms / 1000)
    with contextlib.ExitStack() as stack:
        uri = args.uri
        if uri is None:
            from langgraph_sale.stores import local_postgres

            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="many-workers-"))
            os.chmod(folder, 0o755)  # the server runs as the postgres user where this runs as root
            uri = stack.enter_context(local_postgres(f"{folder}/pg", initdb_options=("--no-sync",)))
        latency = args.latency_ms / 1000
        many = run_queue(uri, "q_many", tasks=args.tasks, workers=args.workers, kills=args.kills, latency_s=latency)
        checked = verify(uri, "q_many", args.tasks)
        one = run_queue(uri, "q_one", tasks=args.tasks, workers=1, kills=0, latency_s=latency)
        result = {**checked, "workers": args.workers, "kills": many["killed"], "wall_s_many": round(many["wall_s"], 2),
                  "wall_s_one": round(one["wall_s"], 2), "tasks_per_s_many": round(args.tasks / many["wall_s"], 2),
                  "tasks_per_s_one": round(args.tasks / one["wall_s"], 2),
                  "speedup": round(one["wall_s"] / many["wall_s"], 2)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.tasks} tasks, {args.workers} workers, worker 0 killed with SIGKILL {len(many['killed'])} times "
              f"(after {', '.join(str(k['after_done']) for k in many['killed'])} tasks were done)")
        print(f"outcomes: {result['outcomes']} of {args.tasks}; tasks a killed worker held, claimed again: "
              f"{result['reclaimed']} ({result['from_checkpoint']} resumed from its checkpoint, "
              f"{result['finished_unrecorded']} found finished); claims: {result['claims']}")
        print(f"invariants broken: {result['broken']} {json.dumps(result['problems'])}")
        print(f"throughput: {result['tasks_per_s_many']} tasks/s with {args.workers} workers, "
              f"{result['tasks_per_s_one']} with one: {result['speedup']}x")
    return 0 if result["broken"] == 0 and result["outcomes"] == args.tasks else 1


if __name__ == "__main__":
    sys.exit(main())
