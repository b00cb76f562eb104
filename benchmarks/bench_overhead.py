"""How much wall time the auction adds on top of its model calls, measured against LangGraph itself.

Two questions, each answered as a ratio so that a noisy machine hits both sides of it alike (every variant runs
once per repetition, in a rotating order, and the figure is the median over repetitions):

1. **Parallelism.** Four fake bidders whose bid and jury calls each take 200 ms (execution: 0 ms, the stricter
   case, since execution time would only dilute the ratio). If the four bids overlap and the sixteen jury
   judgments (4 jurors x 4 bids, each through the juror's structured-output path) overlap, the auction takes one
   bid round plus one jury round: 400 ms. The figure is auction / 400 ms, for `ainvoke` and for sync `invoke`,
   whose `Send` tasks run in LangGraph's thread pool: its default size is Python's `min(32, cpu_count + 4)`, so
   `invoke` is also measured with `config={"max_concurrency": 16}`. A bare LangGraph graph of the same shape
   (below) is measured beside it, to tell LangGraph's own limits from the auction's.
2. **Framework overhead.** The auction with instant fake models against a bare LangGraph graph of the same shape
   built here with plain `langgraph`: START -> open -(Send x 4)-> bid -> collect -(Send x 16)-> judge -> score
   -(conditional edge)-> one of 4 execute nodes -> record -> END, with `operator.add` list reducers, where every
   bid, judge and execute node calls the same `ScriptedChatModel` instances once, as the auction does: the judges
   through structured output (`with_structured_output(JuryVerdict)`, built once per juror), as a LangGraph user
   would write a jury that must answer a number. The figure is auction / bare, per run, for `invoke` and for
   `ainvoke`; the same-work comparison leaves the auction's own bookkeeping (records, entropy, usage, prompts,
   timeouts, events) as the difference.

The goal of both ratios is at most 1.3x. The script always exits 0; the table says which goals are met. With
`--breakdown` it also times the instant auction with its jurors on the plain-text path and without the call
timeout wrapper, which shows how much of the overhead those two parts carry.

    .venv/bin/python benchmarks/bench_overhead.py              # full run
    .venv/bin/python benchmarks/bench_overhead.py --quick      # a smoke run, a few repetitions
    .venv/bin/python benchmarks/bench_overhead.py --breakdown  # full run plus the breakdown table
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import operator
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Annotated, Any

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from typing_extensions import TypedDict

from langgraph_sale import AuctionNode, Bidder, create_auction
from langgraph_sale.jury import JuryVerdict
from langgraph_sale.prompts import BID_MARKER, JURY_MARKER
from langgraph_sale.testing import ScriptedChatModel

NAMES = ("alpha", "beta", "gamma", "delta")
PRICES = {"alpha": 0.02, "beta": 0.06, "gamma": 0.2, "delta": 0.54}
TASK = "Write a Python function that removes duplicates from a list of integers and returns it sorted."
CALL_S = 0.2
"""Latency of every slow bid and jury call in the parallelism measurement."""
GOAL = 1.3

Latency = float | dict[str, float]
Runner = Callable[[], float]


# ---- the pool -------------------------------------------------------------------------------------------------
def make_models(latency: Latency, *, structured: bool = True) -> dict[str, ScriptedChatModel]:
    """One scripted model per bidder; `latency` is per call kind (bid, jury, execute) or one float.

    `structured=False` makes the models refuse tool calling, so the auction's jurors take their plain-text path.
    """
    return {
        name: ScriptedChatModel(
            plans=[f"1. Restate the task. 2. Write the function ({name}). 3. Run unit tests on edge cases."],
            jury=[3 + i % 3],
            answers=[f"def solve(xs):\n    return sorted(set(xs))  # {name}"],
            latency_s=latency,
            structured=structured,
            name_hint=name,
        )
        for i, name in enumerate(NAMES)
    }


def make_auction(models: dict[str, ScriptedChatModel], **options: Any) -> Any:
    """The auction over the models, with every default of `create_auction` (timeouts, retries, full jury)."""
    pool = [Bidder(name, models[name], price_per_mtok=PRICES[name]) for name in NAMES]
    return create_auction(pool, **options).compile(name="auction")


def make_auction_node(models: dict[str, ScriptedChatModel]) -> Any:
    """The same auction compiled the way the README does, `AuctionNode(...).compile()`, which sizes LangGraph's
    sync thread pool for the jury's fan-out."""
    return AuctionNode([Bidder(name, models[name], price_per_mtok=PRICES[name]) for name in NAMES]).compile()


# ---- the bare graph: plain langgraph, the auction's shape ---------------------------------------------------------
class BareState(TypedDict, total=False):
    """State of the bare graph: the same two fan-in lists as the auction, with plain `operator.add` reducers."""

    task: str
    bids: Annotated[list[dict[str, Any]], operator.add]
    judgments: Annotated[list[dict[str, Any]], operator.add]
    winner: str
    answer: str
    outcome: dict[str, Any]


class BidPayload(TypedDict):
    bidder: str
    task: str


class JudgePayload(TypedDict):
    juror: str
    bidder: str
    task: str
    plan: str


def _bid_prompt(payload: BidPayload) -> list[Any]:
    return [SystemMessage(f"{BID_MARKER} You are {payload['bidder']}. Write a short numbered plan."),
            HumanMessage(f"Task:\n{payload['task']}\n\nYour plan:")]


def _jury_prompt(payload: JudgePayload) -> list[Any]:
    return [SystemMessage(f'{JURY_MARKER} Score the plan 0-5. Reply only with JSON {{"score": N}}.'),
            HumanMessage(f"Task:\n{payload['task']}\n\nPlan:\n{payload['plan']}")]


def _score_of(text: Any) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        return 0


def _winner(state: BareState) -> str:
    value: dict[str, list[int]] = {}
    for judgment in state.get("judgments", []):
        value.setdefault(judgment["bidder"], []).append(judgment["score"])
    tokens: dict[str, int] = {bid["bidder"]: len(bid["plan"].split()) for bid in state.get("bids", [])}
    return min(tokens, key=lambda name: (PRICES[name] * tokens[name] / 1000 - statistics.fmean(value[name]), name))


def make_bare(models: dict[str, ScriptedChatModel], *, use_async: bool, structured_jury: bool = True) -> Any:
    """The auction's graph shape in plain langgraph; every model node calls the same fake model once.

    Sync bodies for `invoke`, async bodies for `ainvoke` (plain `add_node` takes one body per node).
    """

    def open_(state: BareState) -> dict[str, Any]:
        return {"task": state["task"], "bids": [], "judgments": []}

    def send_bids(state: BareState) -> list[Send]:
        return [Send("bid", BidPayload(bidder=name, task=state["task"])) for name in NAMES]

    def collect(state: BareState) -> dict[str, Any]:
        return {"outcome": {"bids": len(state.get("bids", []))}}

    def send_judgments(state: BareState) -> list[Send]:
        return [Send("judge", JudgePayload(juror=juror, bidder=bid["bidder"], task=state["task"], plan=bid["plan"]))
                for bid in state.get("bids", []) for juror in NAMES]

    def score(state: BareState) -> dict[str, Any]:
        return {"winner": _winner(state)}

    def after_score(state: BareState) -> str:
        return f"execute_{state['winner']}"

    def record(state: BareState) -> dict[str, Any]:
        return {"outcome": {"winner": state["winner"], "answer": state["answer"],
                            "judgments": len(state.get("judgments", []))}}

    def bid_update(payload: BidPayload, content: Any) -> dict[str, Any]:
        return {"bids": [{"bidder": payload["bidder"], "plan": str(content)}]}

    def judge_update(payload: JudgePayload, content: Any) -> dict[str, Any]:
        return {"judgments": [{"juror": payload["juror"], "bidder": payload["bidder"], "score": _score_of(content)}]}

    def bid(payload: BidPayload) -> dict[str, Any]:
        return bid_update(payload, models[payload["bidder"]].invoke(_bid_prompt(payload)).content)

    async def abid(payload: BidPayload) -> dict[str, Any]:
        return bid_update(payload, (await models[payload["bidder"]].ainvoke(_bid_prompt(payload))).content)

    # `structured_jury=False`: plain text calls, less work than the auction's jury does (a stricter reference).
    jurors: dict[str, Any] = {
        name: model.with_structured_output(JuryVerdict, method="json_schema") if structured_jury else model
        for name, model in models.items()}

    def verdict(answer: Any) -> Any:
        return answer.score if structured_jury else answer.content

    def judge(payload: JudgePayload) -> dict[str, Any]:
        return judge_update(payload, verdict(jurors[payload["juror"]].invoke(_jury_prompt(payload))))

    async def ajudge(payload: JudgePayload) -> dict[str, Any]:
        return judge_update(payload, verdict(await jurors[payload["juror"]].ainvoke(_jury_prompt(payload))))

    def make_execute(name: str) -> Any:
        def execute(state: BareState) -> dict[str, Any]:
            return {"answer": str(models[name].invoke([HumanMessage(state["task"])]).content)}

        async def aexecute(state: BareState) -> dict[str, Any]:
            return {"answer": str((await models[name].ainvoke([HumanMessage(state["task"])])).content)}

        return aexecute if use_async else execute

    def asynced(func: Callable[[BareState], Any]) -> Callable[[BareState], Awaitable[Any]]:
        async def body(state: BareState) -> Any:
            return func(state)

        return body

    graph: StateGraph[Any, Any, Any, Any] = StateGraph(BareState)
    control: Callable[[Callable[[BareState], Any]], Any] = asynced if use_async else (lambda func: func)
    graph.add_node("open", control(open_))
    bid_body: Any = abid if use_async else bid
    judge_body: Any = ajudge if use_async else judge
    graph.add_node("bid", bid_body, input_schema=BidPayload)
    graph.add_node("collect", control(collect))
    graph.add_node("judge", judge_body, input_schema=JudgePayload)
    graph.add_node("score", control(score))
    for name in NAMES:
        graph.add_node(f"execute_{name}", make_execute(name))
        graph.add_edge(f"execute_{name}", "record")
    graph.add_node("record", control(record))
    graph.add_edge(START, "open")
    graph.add_conditional_edges("open", send_bids, ["bid"])
    graph.add_edge("bid", "collect")
    graph.add_conditional_edges("collect", send_judgments, ["judge"])
    graph.add_edge("judge", "score")
    graph.add_conditional_edges("score", after_score, [f"execute_{name}" for name in NAMES])
    graph.add_edge("record", END)
    return graph.compile(name="bare")


# ---- measuring ----------------------------------------------------------------------------------------------------
def _check_auction(result: dict[str, Any]) -> None:
    audit = result.get("auction_outcome") or {}  # what a caller receives: the outcome, with every bid and judgment
    bids, jury = audit.get("bids", []), audit.get("jury", [])
    ok = len(bids) == len(NAMES) and len(jury) == len(NAMES) ** 2 and all(j.get("score") is not None for j in jury)
    if not ok or not result.get("auction_winner") or result["auction_outcome"].get("status") != "executed":
        raise RuntimeError(f"the auction did not run as expected: {len(bids)} bids, {len(jury)} judgments, "
                           f"outcome {result.get('auction_outcome')}")


def _check_bare(result: dict[str, Any]) -> None:
    if len(result["bids"]) != len(NAMES) or len(result["judgments"]) != len(NAMES) ** 2 or not result["answer"]:
        raise RuntimeError(f"the bare graph did not run as expected: {result}")


@dataclass
class Variant:
    """One thing to time: a graph, a mode, a config."""

    label: str
    app: Any
    check: Callable[[dict[str, Any]], None]
    inputs: dict[str, Any]
    use_async: bool = False
    config: RunnableConfig | None = None
    times: list[float] = field(default_factory=list)

    def runner(self, loop: asyncio.AbstractEventLoop) -> Runner:
        def run() -> float:
            started = time.perf_counter()
            if self.use_async:
                result = loop.run_until_complete(self.app.ainvoke(self.inputs, config=self.config))
            else:
                result = self.app.invoke(self.inputs, config=self.config)
            elapsed = time.perf_counter() - started
            self.check(result)
            return elapsed

        return run

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times) * 1000


def measure(variants: Sequence[Variant], *, repeats: int, warmup: int, loop: asyncio.AbstractEventLoop) -> None:
    """Run every variant once per repetition, rotating the order, after `warmup` untimed rounds."""
    runners = [variant.runner(loop) for variant in variants]
    for run in runners * warmup:
        run()
    for rep in range(repeats):
        shift = rep % len(variants)
        for index in [*range(shift, len(variants)), *range(shift)]:
            gc.collect()
            variants[index].times.append(runners[index]())


def paired_ratio(numerator: Variant, denominator: Variant) -> float:
    """Median over repetitions of the per-repetition ratio (robust to drift between repetitions)."""
    return statistics.median(a / b for a, b in zip(numerator.times, denominator.times, strict=True))


def _verdict(ratio: float) -> str:
    # Three decimals on a miss, so that a ratio shown as 1.30x never reads as both 1.3x and missed.
    return "met" if ratio <= GOAL else f"**missed** ({ratio:.3f}x)"


# ---- the report ---------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs per variant of the overhead measurement (default 60; --quick 10); "
                             "the parallelism measurement takes a sixth of it, at least 3")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few repetitions, one warm-up round")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the instant auction with parts of it switched off, to show where its "
                             "overhead goes")
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (10 if args.quick else 60)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    parallel_repeats = max(3, repeats // 6)
    warmup = 1 if args.quick else 3
    inputs_auction = {"auction_task": TASK}
    inputs_bare = {"task": TASK}
    loop = asyncio.new_event_loop()
    started = time.perf_counter()

    # 1. Parallelism: 200 ms bids and jury calls, instant execution.
    slow = make_models({"bid": CALL_S, "jury": CALL_S, "execute": 0.0})
    auction, bare_sync = make_auction(slow), make_bare(slow, use_async=False)
    node = make_auction_node(slow)
    bare_async = make_bare(slow, use_async=True)
    wide: RunnableConfig = {"max_concurrency": len(NAMES) ** 2}
    parallel = [
        Variant("auction `ainvoke`", auction, _check_auction, inputs_auction, use_async=True),
        Variant("auction `invoke` (`AuctionNode.compile()`)", node, _check_auction, inputs_auction),
        Variant("auction `invoke`, max_concurrency=16", auction, _check_auction, inputs_auction, config=wide),
        Variant("auction `invoke`, LangGraph's default pool", auction, _check_auction, inputs_auction),
        Variant("bare `invoke`", bare_sync, _check_bare, inputs_bare),
        Variant("bare `invoke`, max_concurrency=16", bare_sync, _check_bare, inputs_bare, config=wide),
        Variant("bare `ainvoke`", bare_async, _check_bare, inputs_bare, use_async=True),
    ]
    measure(parallel, repeats=parallel_repeats, warmup=1, loop=loop)

    # 2. Framework overhead: instant models.
    instant = make_models(0.0)
    auction, bare_sync = make_auction(instant), make_bare(instant, use_async=False)
    bare_async = make_bare(instant, use_async=True)
    overhead = [
        Variant("auction `invoke`", auction, _check_auction, inputs_auction),
        Variant("bare `invoke`", bare_sync, _check_bare, inputs_bare),
        Variant("auction `ainvoke`", auction, _check_auction, inputs_auction, use_async=True),
        Variant("bare `ainvoke`", bare_async, _check_bare, inputs_bare, use_async=True),
        Variant("bare `invoke`, text jury", make_bare(instant, use_async=False, structured_jury=False), _check_bare,
                inputs_bare),
        Variant("bare `ainvoke`, text jury", make_bare(instant, use_async=True, structured_jury=False), _check_bare,
                inputs_bare, use_async=True),
    ]
    ablations: list[tuple[str, Any]] = []
    if args.breakdown:
        text = make_models(0.0, structured=False)
        ablations = [
            ("jurors on the plain-text path (models without tool calling)", make_auction(text)),
            ("`bid_timeout=None` (no timeout wrapper around bid and jury calls)",
             make_auction(instant, bid_timeout=None)),
            ("both of the above", make_auction(text, bid_timeout=None)),
        ]
        for label, app in ablations:
            overhead.append(Variant(f"{label}, `invoke`", app, _check_auction, inputs_auction))
            overhead.append(Variant(f"{label}, `ainvoke`", app, _check_auction, inputs_auction, use_async=True))
    measure(overhead, repeats=repeats, warmup=warmup, loop=loop)
    loop.close()
    total_s = time.perf_counter() - started

    ideal_ms = 2 * CALL_S * 1000
    command = f"cd {os.getcwd()} && " + shlex.join([os.path.relpath(sys.executable), *sys.argv])
    workers = min(32, (os.cpu_count() or 1) + 4)
    print("## langgraph_sale overhead benchmark\n")
    print(f"Command: `{command}`  ")
    print(f"Python {platform.python_version()}, langgraph {version('langgraph')}, langchain-core "
          f"{version('langchain-core')}, {os.cpu_count()} CPUs (LangGraph's default sync pool: {workers} threads); "
          f"{total_s:.0f} s in all.\n")
    print(f"### 1. Parallelism: 4 bidders, bid and jury calls 200 ms each, execution 0 ms "
          f"(median of {parallel_repeats} runs; ideal = bid round + jury round = {ideal_ms:.0f} ms)\n")
    print("| variant | median ms | ideal ms | ratio | goal <= 1.3x |")
    print("|---|---:|---:|---:|---|")
    for variant in parallel:
        ratio = variant.median_ms / ideal_ms
        goal = _verdict(ratio) if variant.label.startswith("auction") and "default pool" not in variant.label \
            else "(reference)"
        print(f"| {variant.label} | {variant.median_ms:.0f} | {ideal_ms:.0f} | {ratio:.2f}x | {goal} |")
    print(f"\n### 2. Framework overhead: instant models, auction vs bare same-shape graph "
          f"(median of {repeats} runs after {warmup} warm-up rounds)\n")
    print("| mode | auction ms/run | bare ms/run | ratio of medians | median paired ratio | goal <= 1.3x |")
    print("|---|---:|---:|---:|---:|---|")
    for mode, auction_variant, bare_variant in (("`invoke`", overhead[0], overhead[1]),
                                                ("`ainvoke`", overhead[2], overhead[3]),
                                                ("`invoke`, against a text-call jury", overhead[0], overhead[4]),
                                                ("`ainvoke`, against a text-call jury", overhead[2], overhead[5])):
        ratio = auction_variant.median_ms / bare_variant.median_ms
        paired = paired_ratio(auction_variant, bare_variant)
        goal = _verdict(ratio) if "text-call" not in mode else "(stricter reference)"
        print(f"| {mode} | {auction_variant.median_ms:.1f} | {bare_variant.median_ms:.1f} | {ratio:.2f}x "
              f"| {paired:.2f}x | {goal} |")
    if ablations:
        print(f"\n### 3. Breakdown: the instant auction with one part switched off (median of {repeats} runs, "
              "same interleaving as table 2)\n")
        print("| variant | mode | ms/run | vs bare | share of the default auction's time it removes |")
        print("|---|---|---:|---:|---:|")
        for index, variant in enumerate(overhead[6:]):
            mode, auction_variant, bare_variant = (("`ainvoke`", overhead[2], overhead[3]) if variant.use_async
                                                   else ("`invoke`", overhead[0], overhead[1]))
            label = ablations[index // 2][0]
            saved = 1 - variant.median_ms / auction_variant.median_ms
            print(f"| {label} | {mode} | {variant.median_ms:.1f} | {variant.median_ms / bare_variant.median_ms:.2f}x "
                  f"| {saved:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
