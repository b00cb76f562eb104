"""The bench against a remote API: tasks one at a time against tasks at once, side by side in one run.

A stand-in remote endpoint (`langgraph_sale.testing.FakeOpenAIEndpoint`: OpenAI-compatible, on loopback, every
request answered after `--delay-s`, requests served at once) backs a two-bidder pool file; a task file of `--tasks`
questions is benched with the methods that need no memory (each agent alone, random, the oracle, the cascade), once
with `--concurrency 1` and once with `--concurrency N`, each in a fresh run folder so nothing is served from a
cache. It prints both wall times, their ratio, the most requests the endpoint served at once, and whether the two
runs' rows agree (they must: concurrency changes when a task runs, never what it gives).

    .venv/bin/python benchmarks/bench_remote_concurrency.py                     # 20 tasks, concurrency 8, 0.3 s
    .venv/bin/python benchmarks/bench_remote_concurrency.py --tasks 40 --concurrency 16 --delay-s 1.0

Exits 1 when the rows differ.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langgraph_sale.bench.runner import BenchConfig, run_bench
from langgraph_sale.testing import FakeOpenAIEndpoint


def answer(messages: list[dict[str, Any]]) -> str:
    """The endpoint's reply: a verifier's JSON score, else a short answer."""
    last = str(messages[-1].get("content") or "") if messages else ""
    return '{"score": 4}' if '{"score": N}' in last else "ANSWER: 3"


def rows_of(out: Path) -> dict[str, tuple[Any, ...]]:
    lines = (out / "rows.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["key"]: (row["passed"], row["final"], row["answer"], row["tokens"], row["cost_usd"])
            for row in map(json.loads, lines)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--delay-s", type=float, default=0.3, help="seconds the endpoint takes per request")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    tasks = work / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": f"q{i}", "task": f"What is {i} plus zero?", "judge": {"answer": str(i)}})
                             + "\n" for i in range(args.tasks)), encoding="utf-8")
    with FakeOpenAIEndpoint(answer, delay_s=args.delay_s) as endpoint:
        pool = work / "pool.toml"
        pool.write_text("".join(f'[[bidder]]\nname = "{name}"\nprovider = "openai"\nmodel = "{name}"\n'
                                f'base_url = "{endpoint.url}"\nprice = {price}\nmax_concurrency = 64\n'
                                for name, price in (("small", 0.1), ("large", 0.5))), encoding="utf-8")
        walls, requests = {}, {}
        for concurrency in (1, args.concurrency):
            out = work / f"run-{concurrency}"
            config = BenchConfig(tasks=tasks, pool="file", pool_file=pool, out=out, concurrency=concurrency,
                                 methods=("alone", "random", "oracle", "cascade"), orders=1, progress=False)
            before = endpoint.requests
            started = time.perf_counter()
            run_bench(config, echo=lambda text: None)
            walls[concurrency], requests[concurrency] = time.perf_counter() - started, endpoint.requests - before
        peak = endpoint.peak
    same = rows_of(work / "run-1") == rows_of(work / f"run-{args.concurrency}")
    ratio = walls[args.concurrency] / walls[1]
    print(f"{args.tasks} tasks, 2 bidders, methods alone/random/oracle/cascade, endpoint delay {args.delay_s} s")
    print(f"one at a time: {walls[1]:.1f} s ({requests[1]} requests)")
    print(f"concurrency {args.concurrency}: {walls[args.concurrency]:.1f} s ({requests[args.concurrency]} requests, "
          f"at most {peak} at once)")
    print(f"ratio: {ratio:.3f} (goal: well under 0.2); rows agree: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
