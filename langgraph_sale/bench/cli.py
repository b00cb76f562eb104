"""`langgraph-sale bench`: run methods over a task suite with a pool; write results JSON, Markdown and plots.

    langgraph-sale bench --suite smoke --pool fake                      # the harness check, under a minute
    langgraph-sale bench --suite smoke --pool local --domains coding --methods alone,sale_nomem --orders 1
    langgraph-sale bench --suite bench --pool openai --base-url http://127.0.0.1:8000/v1 \\
        --models qwen3-4b,qwen3-14b,qwen3-32b --prices 0.05,0.16,0.36

Also `python -m langgraph_sale.bench ...` with the same options. An interrupted run resumes when the same command
runs again (see `langgraph_sale.bench.runner`).

The `langgraph-sale` command registers this with `add_parser(subparsers)`; `run(args)` runs it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langgraph_sale.bench.data import SPLIT_ALIASES, SPLITS, SUITES
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.jury import JURY_SCORINGS
from langgraph_sale.memory import RECALL_K
from langgraph_sale.prompts import PLAN_FORMATS

__all__ = ["add_parser", "add_arguments", "run", "main"]

DESCRIPTION = (
    "Run methods (each agent alone, random, oracle, kNN router, verifier cascade, SALE with and without memory, "
    "SALE ablations) over a task suite (coding: HumanEval, MBPP, ClassEval with the sandboxed Python tool; deep "
    "search: HotpotQA, MuSiQue with BM25) with a pool (fake, local, or an OpenAI-compatible endpoint), and write "
    "results.json, results.md, pareto.png and win_share.png. Interrupted runs resume when rerun."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `bench` on a parser."""
    parser.add_argument("--suite", default="smoke", choices=list(SUITES),
                        help="smoke: 6 coding tasks + 6 questions (bundled); bench: 80 + 200 (bundled); holdout: "
                             "150 + 500 held-out tasks (../shared/data/manifests/holdout.json): choose nothing on it")
    parser.add_argument("--pool", default=None, choices=["fake", "local", "openai", "file"],
                        help="fake: scripted agents (a harness check, the default); local: the package's llama-server "
                             "pool; openai: any OpenAI-compatible endpoint (--base-url, --models, --prices); file: the "
                             "pool --pool-file describes")
    parser.add_argument("--out", default=None, help="run folder (default bench-results/<suite>-<pool>)")
    parser.add_argument("--domains", default="coding,search", help="coding, search or both (default both)")
    parser.add_argument("--methods", default="all",
                        help="comma list of: alone (every agent), alone_<agent>, random, oracle, router_knn, cascade, "
                             "sale_nomem, sale, sale_skip, sale_no_price, sale_no_length, sale_no_entropy, "
                             "sale_no_jury, sale_value (with --value), sale_escalate; or all (every one but "
                             "sale_escalate, and sale_value only with --value)")
    parser.add_argument("--orders", type=int, default=3, help="task orders (mean ± std over them; default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the task orders (default 0)")
    parser.add_argument("--split", default="all", choices=[*SPLITS, *SPLIT_ALIASES],
                        help="all tasks, or the train or dev half (a hash of the task id; after --limit); test is "
                             "the dev half's earlier name")
    parser.add_argument("--limit", type=int, default=None, help="at most N tasks per domain, spread over the bins")
    parser.add_argument("--data", default=None, help="data root (default: bundled for smoke, ../shared/data)")
    parser.add_argument("--models", default=None, help="comma list of model ids (local: a subset of the pool)")
    parser.add_argument("--prices", default=None, help="comma list of $ per million tokens, one per model")
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint for --pool openai")
    parser.add_argument("--tasks", default=None, metavar="FILE",
                        help="your own tasks: a JSON Lines file, each task with its judge (tests, an answer, or a "
                             "module:function; langgraph_sale.bench.taskfile); replaces --suite")
    parser.add_argument("--pool-file", default=None, metavar="FILE",
                        help="a pool file (TOML: each bidder's provider, model, endpoint, prices, tools, limits; "
                             "langgraph_sale.poolfile); implies --pool file")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY", help="variable holding the endpoint's key")
    parser.add_argument("--no-logprobs", action="store_true", help="do not ask the endpoint for logprobs")
    parser.add_argument("--max-attempts", type=int, default=3, help="coding loop: code attempts at most (default 3)")
    parser.add_argument("--max-searches", type=int, default=3, help="search loop: searches at most (default 3)")
    parser.add_argument("--search-k", type=int, default=3, help="search loop: passages a search returns (default 3)")
    parser.add_argument("--passage-chars", type=int, default=600,
                        help="search loop: characters of each passage a search returns (default 600)")
    parser.add_argument("--exec-max-tokens", type=int, default=768, help="output cap of a coding step")
    parser.add_argument("--class-max-tokens", type=int, default=2048,
                        help="output cap of a class-level coding task's step (ClassEval; default 2048)")
    parser.add_argument("--bid-tokens", type=int, default=256, help="output cap of a bid (default 256)")
    parser.add_argument("--plan-format", default="steps", choices=list(PLAN_FORMATS),
                        help="bids as a few steps that end (steps, the default) or the earlier free plan (free)")
    parser.add_argument("--jury-scoring", default="digit", choices=list(JURY_SCORINGS),
                        help="jurors answer one digit read from its logprobs (digit, the default) or JSON (integer, "
                             "logprobs)")
    parser.add_argument("--no-jury-batch", action="store_true",
                        help="one jury request per (juror, bid) instead of one per juror over every plan")
    parser.add_argument("--bid-timeout", type=float, default=None,
                        help="seconds per bid or jury call (default 60 fake, 900 real)")
    parser.add_argument("--no-plan-guidance", action="store_true", help="winners execute without their plan")
    parser.add_argument("--weights", default=None, help="AuctionWeights JSON (e.g. from `langgraph-sale fit`)")
    parser.add_argument("--value", default=None, metavar="FILE",
                        help="a learned value model (langgraph-sale fit --value) for the sale_value method")
    parser.add_argument("--reuse", default=None, metavar="RUN",
                        help="seed a new run folder with another run's call and execution caches (a run folder, "
                             "or a committed record's gzipped shards, as in docs/results/runs/); the model server "
                             "starts only for a call they lack")
    parser.add_argument("--offline", action="store_true",
                        help="answer every call from the caches (a replay of --reuse RUN): start no model server, "
                             "need no installed pool, and stop at the first call the record lacks, naming it")
    parser.add_argument("--embedder", default="auto", choices=["auto", "hashing", "minilm"],
                        help="task embeddings for memory and router (auto: hashing for fake, else minilm if installed)")
    parser.add_argument("--recall-k", type=int, default=RECALL_K,
                        help=f"SALE with memory: past auctions recalled per outbid round (default {RECALL_K}, the "
                             "paper's k); sale_skip decides on min(3, k) of them")
    parser.add_argument("--router-k", type=int, default=5, help="router: neighbours (default 5)")
    parser.add_argument("--router-lambda", type=float, default=0.2,
                        help="router: weight of relative cost against pass probability (default 0.2)")
    parser.add_argument("--cascade-threshold", type=float, default=3.0,
                        help="cascade (search): mean jury score 0-5 that accepts an answer (default 3)")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop after N new task rows (exit 3) and report the orders completed; rerun to resume; "
                             "0 reports the rows the folder holds and runs nothing")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="tasks run at once for the methods without memory, on pools whose endpoints serve many "
                             "calls at once (openai, a pool file without local bidders, fake); results do not "
                             "depend on it (default 1)")
    parser.add_argument("--fresh", action="store_true", help="delete the run folder's files first")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `bench` on the `langgraph-sale` subparsers (sets `handler=run`)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench", help="benchmark SALE against single agents, routers and cascades", description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(handler=run)
    return parser


def _split(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = tuple(item.strip() for item in value.split(",") if item.strip())
    return items or None


def config_from(args: argparse.Namespace, argv: Sequence[str] | None = None) -> Any:
    """The `BenchConfig` of parsed arguments."""
    from langgraph_sale.bench.runner import BenchConfig, command_line

    domains = _split(args.domains) or ("coding", "search")
    if any(d not in ("coding", "search") for d in domains):
        raise AuctionConfigError("--domains", f"must be coding and/or search, got {args.domains!r}")
    methods = _split(args.methods)
    if methods is not None and "all" in methods:
        methods = None
    try:
        prices = tuple(float(p) for p in _split(args.prices) or ()) or None
    except ValueError as err:
        raise AuctionConfigError("--prices", f"must be numbers, got {args.prices!r}") from err
    pool = args.pool or ("file" if args.pool_file else "fake")
    suite = "file" if args.tasks else args.suite
    if args.pool_file and pool != "file":
        raise AuctionConfigError("--pool-file", f"describes the pool itself: drop --pool {pool}")
    for name in ("orders", "max_attempts", "max_searches", "search_k", "passage_chars", "exec_max_tokens",
                 "class_max_tokens", "bid_tokens", "recall_k", "router_k"):
        if getattr(args, name) < 1:
            raise AuctionConfigError(f"--{name.replace('_', '-')}", "must be at least 1")
    return BenchConfig(
        suite=suite, pool=pool, out=Path(args.out or f"bench-results/{suite}-{pool}"),
        pool_file=Path(args.pool_file) if args.pool_file else None, tasks=Path(args.tasks) if args.tasks else None,
        domains=domains, methods=methods, orders=args.orders, seed=args.seed, split=args.split,
        data=Path(args.data) if args.data else None, limit=args.limit, models=_split(args.models), prices=prices,
        base_url=args.base_url, api_key_env=args.api_key_env, logprobs=not args.no_logprobs,
        max_attempts=args.max_attempts, max_searches=args.max_searches, search_k=args.search_k,
        passage_chars=args.passage_chars, exec_max_tokens=args.exec_max_tokens,
        class_max_tokens=args.class_max_tokens,
        bid_tokens=args.bid_tokens, plan_format=args.plan_format, jury_scoring=args.jury_scoring,
        jury_batch=not args.no_jury_batch,
        bid_timeout=args.bid_timeout, plan_guidance=not args.no_plan_guidance,
        weights=Path(args.weights) if args.weights else None, value=Path(args.value) if args.value else None,
        reuse=Path(args.reuse) if args.reuse else None,
        embedder=args.embedder, recall_k=args.recall_k, router_k=args.router_k,
        router_lambda=args.router_lambda, cascade_threshold=args.cascade_threshold, stop_after=args.stop_after,
        offline=args.offline, fresh=args.fresh, progress=not args.quiet, concurrency=args.concurrency,
        command=command_line(argv if argv is not None else sys.argv[2:] if sys.argv[1:2] == ["bench"]
                             else sys.argv[1:]),
    )


def run(args: argparse.Namespace) -> int:
    """Run `bench` from parsed arguments; 0 done, 3 stopped by --stop-after, 4 failed (rerun), 130 interrupted.

    Raises:
        AuctionConfigError: On bad options or missing data (the `langgraph-sale` entry point prints it, exit 2).
    """
    from langgraph_sale.bench.runner import run_bench

    result = run_bench(config_from(args, getattr(args, "argv", None)))
    return {"complete": 0, "stopped": 3, "failed": 4}.get(result.status, 130)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m langgraph_sale.bench [options]`."""
    parser = argparse.ArgumentParser(prog="langgraph-sale bench", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        return run(args)
    except AuctionConfigError as err:
        print(f"langgraph-sale bench: error: {err}", file=sys.stderr)
        return 2
