"""What an auction costs, today's way against the new one, on the local pool, side by side in one run.

The same tasks (20 coding tasks and 20 questions of the `bench` suite, spread over its bins) go through two auctions
of the same two bidders (Qwen2.5-Coder-0.5B and 1.5B, the full jury, the default weights, decide only: nobody
executes), one task after the other so that both meet the same machine:

- today's: free plans under a word budget (`plan_format="free"`) and JSON jury answers (`jury_scoring="integer"`),
  the rubric and the bidder in a system message of their own;
- the new one: plans of 3-5 steps that end at a stop sequence (`"steps"`) and one-token jury reads from the
  digit's logprobs (`"digit"`), every prompt ordered so that what is shared comes first (one system message for
  every call, then the task, then the bidder or the plan), so llama-server's prompt cache serves the shared part.

Per phase it prints tokens billed (input, cached input, output), dollars at the pool's prices (one price a token,
`langgraph_sale.local.default_prices`) and at provider-style prices, and wall time; how often the two auctions pick
the same winner; the share of plans that hit the cap; the jury's output tokens per judgment and the input it
processed beyond what the cache served; and, for the new auction, the jury's wall time against one batched pass of
the slowest juror over the same plans (one request holding every plan, its prefix as cached as the jury's).

Provider-style prices: each model's pool price as the input price, a quarter of it for cached input and four times
it for output (the ratios of OpenAI's GPT-4.1 family: $2.00, $0.50 and $8.00 per million tokens).

Every auction is kept in `--out` (JSON Lines, one line per task and auction), so a rerun resumes; `--report`
prints the tables from what is there.

    python benchmarks/bench_auction_cost.py --out bench-results/auction-cost    # about 30 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from scipy.stats import spearmanr

from langgraph_sale import Bidder, Pricing, create_auction
from langgraph_sale.bench.data import load_suite
from langgraph_sale.jury_batch import batch_order
from langgraph_sale.local import MODELS as LOCAL_MODELS
from langgraph_sale.local import LocalServer, ensure_pool, local_bidders
from langgraph_sale.prompts import jury_batch_messages
from langgraph_sale.tools import bm25_tool, python_tool

MODELS = ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")
AUCTIONS = {"today": {"plan_format": "free", "jury_scoring": "integer", "jury_batch": False},
            "each": {"plan_format": "steps", "jury_scoring": "digit", "jury_batch": False},
            "new": {"plan_format": "steps", "jury_scoring": "digit", "jury_batch": True}}
"""today's auction; plans that end and one-token reads, one jury request per (juror, bid); the same, one jury
request per juror over every plan (the default)."""
PHASES = ("bid", "jury")


def provider_pricing(price: float) -> Pricing:
    """Provider-style prices around a pool price: input, a quarter for cached input, four times for output."""
    return Pricing(input=price, cached_input=price / 4, output=price * 4)


def pick_tasks(coding: int, questions: int) -> tuple[list[Any], Any]:
    suite = load_suite("bench", domains=("coding", "search"), limit=max(coding, questions))
    return suite.tasks["coding"][:coding] + suite.tasks["search"][:questions], suite


def pool_for(domain: str, base_url: str, corpora: Mapping[str, Any], task: Any) -> list[Bidder]:
    tools = [python_tool()] if domain == "coding" else [bm25_tool(corpora[task.corpus])]
    return local_bidders(base_url, models=list(MODELS), tools=tools, max_tokens=512)


def batched_pass(base_url: str, model: str, task: str, plans: Sequence[str]) -> float:
    """Seconds of one request to `model` that reads every plan after the shared prefix and answers one digit a
    plan: the batched juror's own request, with the plans in the other order, so that what the server's cache holds
    for it is what it held for the juror (the system message and the task, from the bid; not the plans)."""
    juror = next(spec.bidder for spec in LOCAL_MODELS if spec.id == model)
    order = batch_order(juror, task, plans)[::-1]
    messages = jury_batch_messages(task, [plans[i] for i in order])
    body = {"model": model, "max_tokens": len(plans), "temperature": 0,
            "grammar": "root ::= " + " ".join(["[0-5]"] * len(plans)),
            "messages": [{"role": "system" if m.type == "system" else "user", "content": m.content}
                         for m in messages]}
    request = urllib.request.Request(f"{base_url}/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310 - the loopback server
        json.loads(response.read())
    return time.perf_counter() - started


def empty_caches(base_url: str) -> None:
    """Restart both models' servers (the router's unload, then a one-token request that loads the model again), so an
    auction meets the caches a new task meets: its own bids and jury calls may reuse what they process, nothing
    reuses an earlier auction's prompts. Two auctions with the same bid prompt one after the other would otherwise
    serve the second's bids from the first's, from a slot or from the server's host-memory prompt cache."""
    root = base_url.removesuffix("/v1")
    for model in MODELS:
        if _status(root).get(model) == "unloaded":
            continue
        request = urllib.request.Request(f"{root}/models/unload", data=json.dumps({"model": model}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the loopback server
            response.read()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(_status(root).get(model) != "unloaded" for model in MODELS):
        time.sleep(0.2)
    for model in MODELS:
        _one_token(base_url, model, "unrelated")


def _status(root: str) -> dict[str, str]:
    with urllib.request.urlopen(f"{root}/models", timeout=60) as response:  # noqa: S310 - the loopback server
        return {m["id"]: m["status"]["value"] for m in json.loads(response.read())["data"]}


def _one_token(base_url: str, model: str, text: str) -> None:
    body = {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": text}]}
    request = urllib.request.Request(f"{base_url}/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310 - the loopback server
        response.read()


def run_auction(pool: list[Bidder], task: Any, options: Mapping[str, Any], cap: int) -> dict[str, Any]:
    app = create_auction(pool, route="decide", max_bid_tokens=cap, refine=False, **options).compile()
    clock: dict[str, float] = {}
    state: dict[str, Any] = {}
    # The phases' clock marks are internal state: read from the nodes' updates; the outcome from the last values.
    for mode, chunk in app.stream({"auction_task": task.text}, stream_mode=["updates", "values"]):
        if mode == "values":
            state = chunk
            continue
        for update in chunk.values():
            if isinstance(update, dict) and isinstance(update.get("auction_clock"), dict):
                clock.update(update["auction_clock"])
    outcome = state["auction_outcome"]
    return {
        "winner": outcome.get("winner"),
        "bids": [{"bidder": b["bidder"], "plan": b.get("plan", ""), "plan_tokens": b.get("plan_tokens", 0),
                  "usage": b.get("usage", {}), "error": b.get("error")} for b in outcome.get("bids", [])],
        "jury": [{"juror": j["juror"], "bidder": j["bidder"], "score": j.get("score"), "method": j.get("method"),
                  "usage": j.get("usage", {}), "latency_s": j.get("latency_s", 0.0), "error": j.get("error")}
                 for j in outcome.get("jury", [])],
        "wall_s": {"bid": clock["bids_done"] - clock["opened"], "jury": clock["decided"] - clock["bids_done"]},
    }


def measure(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "auctions.jsonl"
    done = {(r["task"], r["auction"]) for r in _rows(rows_path)}
    tasks, suite = pick_tasks(args.coding, args.questions)
    ensure_pool()
    with LocalServer() as server, rows_path.open("a", encoding="utf-8") as sink:
        for number, task in enumerate(tasks, start=1):
            pool = pool_for(task.domain, server.openai_url, suite.corpora, task)
            for name, options in AUCTIONS.items():
                if (task.id, name) in done:
                    continue
                empty_caches(server.openai_url)
                row = {"task": task.id, "domain": task.domain, "auction": name, "cap": args.cap,
                       **run_auction(pool, task, options, args.cap)}
                if options["jury_batch"]:
                    plans = [b["plan"] for b in sorted(row["bids"], key=lambda b: b["bidder"])
                             if b["plan"] and not b["error"]]
                    row["batched_pass_s"] = batched_pass(server.openai_url, MODELS[-1], task.text, plans)
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                print(f"[{number}/{len(tasks)}] {task.id} {name}: winner {row['winner']}, bids "
                      f"{row['wall_s']['bid']:.1f} s, jury {row['wall_s']['jury']:.1f} s", flush=True)


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _agent_price(bidder: str) -> float:
    return next(model.price_per_mtok for model in LOCAL_MODELS if model.bidder == bidder)


def _calls(row: Mapping[str, Any], phase: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
    if phase == "bid":
        return ((b["bidder"], b["usage"]) for b in row["bids"])
    return ((j["juror"], j["usage"]) for j in row["jury"])


def phase_figures(rows: Sequence[Mapping[str, Any]], phase: str) -> dict[str, float]:
    """Per auction: tokens billed, dollars at pool and at provider-style prices, wall seconds."""
    totals = {"input": 0.0, "cached": 0.0, "output": 0.0, "usd_pool": 0.0, "usd_provider": 0.0,
              "usd_provider_input": 0.0, "wall_s": 0.0}
    for row in rows:
        for agent, usage in _calls(row, phase):
            inputs, cached, output = (int(usage.get(k, 0)) for k in ("input_tokens", "cached_input_tokens",
                                                                      "output_tokens"))
            price = _agent_price(agent)
            totals["input"] += inputs
            totals["cached"] += cached
            totals["output"] += output
            totals["usd_pool"] += Pricing.of(price).cost(input_tokens=inputs, output_tokens=output)
            totals["usd_provider"] += provider_pricing(price).cost(input_tokens=inputs, output_tokens=output,
                                                                   cached_input_tokens=cached)
            if phase == "bid":  # what reading the bid prompts costs: a floor for any auction that asks every bidder
                totals["usd_provider_input"] += provider_pricing(price).cost(input_tokens=inputs, output_tokens=0,
                                                                             cached_input_tokens=cached)
        totals["wall_s"] += row["wall_s"][phase]
    return {key: value / max(1, len(rows)) for key, value in totals.items()}


def report(rows: Sequence[Mapping[str, Any]]) -> str:
    """The tables and ratios of the tasks every auction ran."""
    names = [name for name in AUCTIONS if any(r["auction"] == name for r in rows)]
    paired = sorted(set.intersection(*({r["task"] for r in rows if r["auction"] == name} for name in names)))
    by = {name: sorted((r for r in rows if r["auction"] == name and r["task"] in paired), key=lambda r: r["task"])
          for name in names}
    coding = sum(1 for r in by[names[0]] if r["domain"] == "coding")
    lines = [f"{len(paired)} tasks ({coding} coding, {len(paired) - coding} questions), each through "
             f"{', '.join(names)}; figures per auction (mean over tasks).", "",
             "| auction | phase | input tok | cached input tok | output tok | $ pool prices | $ provider-style "
             "| wall s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    whole = {name: _phase_rows(name, by[name], lines) for name in names}
    lines += ["", f"| / today | {' | '.join(name for name in names if name != 'today')} | goal |",
              f"|---|{'---:|' * (len(names) - 1)}---|", *_ratios(whole, by)]
    lines += ["", "| | " + " | ".join(names) + " | goal |", f"|---|{'---:|' * len(names)}---|",
              *_plans_and_judgments(by)]
    executions = alone_execution_tokens()
    if executions:
        lines.append("| Spearman's rho, plan tokens against the same agent's execution tokens (alone, from the "
                     "record) | " + " | ".join(f"{_rank_correlation(by[name], executions):+.2f}" for name in names)
                     + " | |")
    return "\n".join(lines)


def _phase_rows(name: str, rows: Sequence[Mapping[str, Any]], lines: list[str]) -> dict[str, float]:
    sums: dict[str, float] = {}
    for phase in (*PHASES, "auction"):
        f = sums if phase == "auction" else phase_figures(rows, phase)
        if phase != "auction":
            for key, value in f.items():
                sums[key] = sums.get(key, 0.0) + value
        lines.append(f"| {name} | {phase} | {f['input']:.0f} | {f['cached']:.0f} | {f['output']:.0f} | "
                     f"{f['usd_pool'] * 1e6:.1f} µ$ | {f['usd_provider'] * 1e6:.1f} µ$ | {f['wall_s']:.1f} |")
    return sums


def _ratios(whole: Mapping[str, Mapping[str, float]], by: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """One row a ratio, one column an auction against today's."""
    old, names = whole["today"], [name for name in whole if name != "today"]

    def row(label: str, value: Callable[[Mapping[str, float]], float], goal: str) -> str:
        base = old["usd_provider"] if label.startswith("of which") else value(old)
        cells = [value(whole[name]) / base if base else math.nan for name in names]
        return f"| {label} | " + " | ".join(f"{cell:.2f}" for cell in cells) + f" | {goal} |"

    same = [sum(a["winner"] == b["winner"] for a, b in zip(by["today"], by[name], strict=True)) for name in names]
    return [row("tokens billed (input, cached input and output)", lambda f: f["input"] + f["output"], "at most 0.50"),
            row("tokens processed (input the cache did not serve, and output)",
                lambda f: f["input"] - f["cached"] + f["output"], ""),
            row("wall time", lambda f: f["wall_s"], "at most 0.50"),
            row("$ at provider-style prices", lambda f: f["usd_provider"], "at most 0.33"),
            row("of which the bidders reading their prompts (no plan written, no jury)",
                lambda f: f["usd_provider_input"], ""),
            row("$ at the pool's prices", lambda f: f["usd_pool"], ""),
            "| same winner as today's | " + " | ".join(f"{n} of {len(by['today'])}" for n in same) + " | |"]


def _plans_and_judgments(by: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """One row a figure, one column an auction."""
    figures = {name: _judgment_figures(rows) for name, rows in by.items()}

    def row(label: str, key: str, goal: str = "") -> str:
        return f"| {label} | " + " | ".join(figures[name][key] for name in by) + f" | {goal} |"

    return [row("plans that hit the cap", "capped", "under 20%"), row("plan tokens, median", "median"),
            row("jury requests an auction", "requests"), row("output tokens a judgment", "output", "at most one"),
            row("judgments read another way than their first (retry, or one request a plan)", "second"),
            row("judgments without a score", "unscored"),
            row("jury input not served by the cache, an auction", "uncached"),
            row("tokens of the plans judged, an auction", "plans"),
            row("jury wall time / one batched pass of the 1.5B over the plans (median)", "batched", "at most 1.3"),
            row("jury wall time / the slowest juror's own requests in it (median)", "slowest", "at most 1.3"),
            row("jury wall time / its own requests' latencies summed (median)", "own")]


def _judgment_figures(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    bids = [(r, b) for r in rows for b in r["bids"] if not b["error"]]
    capped = sum(b["plan_tokens"] >= r["cap"] for r, b in bids)
    judgments = [j for r in rows for j in r["jury"]]
    scored = [j for j in judgments if j["score"] is not None]
    output = sum(int(j["usage"].get("output_tokens", 0)) for j in scored) / max(1, len(scored))
    # The auction's own way of reading a judgment is its most common one; the rest were read another way.
    methods = Counter(j["method"] for j in scored)
    second = len(scored) - (methods.most_common(1)[0][1] if methods else 0)
    requests = sum(int(j["usage"].get("calls", 0)) for j in judgments) / max(1, len(rows))
    uncached = sum(int(j["usage"].get("input_tokens", 0)) - int(j["usage"].get("cached_input_tokens", 0))
                   for j in judgments) / max(1, len(rows))
    plans = sum(b["plan_tokens"] for r in rows for b in r["bids"] for j in r["jury"] if j["bidder"] == b["bidder"])
    ratios = [r["wall_s"]["jury"] / r["batched_pass_s"] for r in rows if r.get("batched_pass_s")]
    own = [r["wall_s"]["jury"] / spent for r in rows if (spent := sum(j.get("latency_s", 0.0) for j in r["jury"]))]
    slowest = [r["wall_s"]["jury"] / spent for r in rows if (spent := max(_juror_seconds(r).values(), default=0.0))]
    return {"capped": f"{capped} of {len(bids)} ({capped / max(1, len(bids)):.0%})",
            "median": f"{statistics.median(b['plan_tokens'] for _, b in bids) if bids else 0:.0f}",
            "requests": f"{requests:.1f}", "output": f"{output:.2f}", "second": f"{second} of {len(scored)}",
            "unscored": f"{len(judgments) - len(scored)}", "uncached": f"{uncached:,.0f}",
            "plans": f"{plans / max(1, len(rows)):,.0f}",
            "batched": f"{statistics.median(ratios):.2f}" if ratios else "-",
            "own": f"{statistics.median(own):.2f}" if own else "-",
            "slowest": f"{statistics.median(slowest):.2f}" if slowest else "-"}


def _juror_seconds(row: Mapping[str, Any]) -> dict[str, float]:
    """Each juror's requests in the auction, in seconds (a batch's latency is carried by its first judgment)."""
    seconds: dict[str, float] = {}
    for judgment in row["jury"]:
        seconds[judgment["juror"]] = seconds.get(judgment["juror"], 0.0) + judgment.get("latency_s", 0.0)
    return seconds


def alone_execution_tokens() -> dict[tuple[str, str], int]:
    """Execution tokens of each agent run alone on each task, replayed offline from the committed record (the
    published runs over every coding task and every question); empty where the record is missing."""
    from langgraph_sale.bench.publish import load_spec, replay

    spec = load_spec()
    tokens: dict[tuple[str, str], int] = {}
    with tempfile.TemporaryDirectory() as work:
        for name in ("coding80", "search200"):
            record = spec[name].record if name in spec else None
            if record is None or not record.exists():
                continue
            folder = replay(spec[name], Path(work))
            for row in _rows(folder / "rows.jsonl"):
                if row["method"].startswith("alone_") and row["order"] == 0:
                    tokens[(row["method"].removeprefix("alone_"), row["task_id"])] = int(row["tokens"]["execute"])
    return tokens


def _rank_correlation(rows: Sequence[Mapping[str, Any]], executions: Mapping[tuple[str, str], int]) -> float:
    pairs = [(b["plan_tokens"], executions[(b["bidder"], r["task"])]) for r in rows for b in r["bids"]
             if not b["error"] and (b["bidder"], r["task"]) in executions]
    if len(pairs) < 3:
        return math.nan
    return float(spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coding", type=int, default=20, help="coding tasks (default 20)")
    parser.add_argument("--questions", type=int, default=20, help="questions (default 20)")
    parser.add_argument("--cap", type=int, default=128, help="bid token cap (default 128, as the bench's runs)")
    parser.add_argument("--out", default="bench-results/auction-cost", help="where the auctions are kept")
    parser.add_argument("--report", action="store_true", help="only print the tables from --out")
    args = parser.parse_args(argv)
    if not args.report:
        measure(args)
    rows = _rows(Path(args.out) / "auctions.jsonl")
    if not rows:
        print("no auctions measured yet", file=sys.stderr)
        return 1
    print(report(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
