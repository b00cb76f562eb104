"""The report of a run: `results.md`, `summary.json` (its figures), `results.json` (those, the rows and the
sessions) and two plots.

A run that stopped before its end (Ctrl-C, SIGTERM, `--stop-after`, a failed call) is reported over the task orders
each method completed; the report opens with a "Partial" note naming every order still missing tasks.

Metrics, per domain and per complexity bin, for every method, computed per task order and then given as
mean ± std over the orders (sample std; 0 with one order):

- **pass@1**: share of tasks whose final answer passes the judge; **F1** beside it for search.
- **µ$ / task**: every token of every call the method made or replayed (bids, jury, outbid rounds, verifiers,
  every execution it ran), at the pool's prices, per task, in millionths of a dollar.
- **$/Mt (paper)**: the paper's cost form: per task, the sum of the $/Mtok prices of the agents that executed
  (a cascade counts each agent it ran), averaged. The auction's own calls are not in it; they are in µ$ / task.
- **largest share**: share of tasks on which the largest agent executed.
- **overhead tokens / time**: share of the method's tokens (of its model seconds plus tool seconds) spent outside
  execution: bids, jury, outbid rounds and verifiers.
- **exec tokens / task**: execution tokens per task.
- **by phase**: for every method that spends outside execution, its tokens and model seconds per task in each
  phase (bids, jury, outbid rounds, verifier, execution), to show which part of an auction costs what.

The break-even table gives, for each auction, the execution length (tokens per task) at which the auction's
own cost equals the most it can save, `E* = auction $ / (p_largest - p_cheapest)`: the saving of running the
cheapest agent instead of the largest on every task, an optimistic bound; and the length at which the auction
is at most 10% of an always-largest bill, `9 * auction $ / p_largest`.

The jury spread (`jury_spread`) counts how often each juror gave each score to the first bids: a juror that gives
every plan the same score tells the auction nothing. The forecast check (`plan_forecast`) asks whether the cost
term's price × plan tokens foresees what each bidder's execution costs: Spearman's ρ between an agent's plan length
and its execution tokens on the same task, and how often the forecast names the cheaper of two executions, against
price alone and plan length alone.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from langgraph_sale.bench.dominance import as_json as dominance_json
from langgraph_sale.bench.dominance import dominance, dominance_rows
from langgraph_sale.bench.intervals import RESAMPLES, interval_header, interval_rows, method_intervals
from langgraph_sale.bench.methods import SALE_METHODS, alone_agent, alone_method

__all__ = ["write_report", "complete_orders", "aggregate", "order_metrics", "pareto_front", "plan_forecast",
           "jury_spread", "jury_table", "break_even_table", "markdown_table", "money", "share_cell", "METRICS",
           "BIN_ORDER"]

METRICS: tuple[tuple[str, str], ...] = (
    ("pass", "pass@1"), ("f1", "F1"), ("cost_udollars", "µ$ / task"), ("paper_mt", "$/Mt (paper)"),
    ("largest_share", "largest share"), ("overhead_tokens", "overhead tokens"), ("overhead_time", "overhead time"),
    ("exec_tokens", "exec tokens / task"),
)
PHASES: tuple[tuple[str, str], ...] = (
    ("bid", "bids"), ("jury", "jury"), ("refine", "outbid rounds"), ("verify", "verifier"), ("execute", "execution"),
)
OVERHEAD_PHASES = tuple(phase for phase, _ in PHASES if phase != "execute")
AUCTION_PHASES = ("bid", "jury", "refine")
METHOD_ORDER = ("random", "oracle", "router_knn", "cascade", "sale_nomem", "sale", "sale_no_price", "sale_no_length",
                "sale_no_entropy", "sale_no_jury")
BIN_ORDER = ("easy", "medium", "hard", "xhard")


def _sum(mapping: Mapping[str, float] | None, phases: Iterable[str] | None = None) -> float:
    mapping = mapping or {}
    return math.fsum(v for k, v in mapping.items() if phases is None or k in phases)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def order_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The metrics of one method over one task order (see the module docstring). Sums are exact (`math.fsum`), so
    the order of the rows changes no digit.

    Examples:
        >>> row = {"passed": True, "f1": 1.0, "cost_usd": {"execute": 2e-6, "bid": 1e-6}, "paper_mt": 0.05,
        ...        "largest_ran": False, "tokens": {"execute": 30, "bid": 10}, "seconds": {"execute": 3.0}}
        >>> m = order_metrics([row])
        >>> m["pass"], m["cost_udollars"], m["overhead_tokens"]
        (1.0, 3.0, 0.25)
    """
    n = len(rows)
    tokens = math.fsum(_sum(row.get("tokens")) for row in rows)
    overhead_tokens = math.fsum(_sum(row.get("tokens"), OVERHEAD_PHASES) for row in rows)
    seconds = math.fsum(_sum(row.get("seconds")) for row in rows)
    overhead_seconds = math.fsum(_sum(row.get("seconds"), OVERHEAD_PHASES) for row in rows)
    return {
        "pass": sum(bool(row["passed"]) for row in rows) / n,
        "f1": math.fsum(float(row.get("f1", 0.0)) for row in rows) / n,
        "cost_udollars": 1e6 * math.fsum(_sum(row.get("cost_usd")) for row in rows) / n,
        "paper_mt": math.fsum(float(row.get("paper_mt", 0.0)) for row in rows) / n,
        "largest_share": sum(bool(row.get("largest_ran")) for row in rows) / n,
        "overhead_tokens": overhead_tokens / tokens if tokens else 0.0,
        "overhead_time": overhead_seconds / seconds if seconds else 0.0,
        "exec_tokens": math.fsum(_sum(row.get("tokens"), ("execute",)) for row in rows) / n,
        "auction_udollars": 1e6 * math.fsum(_sum(row.get("cost_usd"), AUCTION_PHASES) for row in rows) / n,
        "exec_per_auction_token": _ratio(math.fsum(_sum(row.get("tokens"), ("execute",)) for row in rows),
                                         math.fsum(_sum(row.get("tokens"), AUCTION_PHASES) for row in rows)),
        "tokens": tokens / n,
        "seconds": seconds / n,
        "cheapest_share": sum(bool(row.get("cheapest_final")) for row in rows) / n,
        "tasks": float(n),
        **{f"{kind}_{phase}": math.fsum(_sum(row.get(kind), (phase,)) for row in rows) / n
           for kind in ("tokens", "seconds") for phase, _ in PHASES},
    }


def aggregate(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Metrics per group of `keys` (e.g. domain and method): each metric's mean, std and per-order values."""
    groups: dict[tuple[Any, ...], dict[int, list[Mapping[str, Any]]]] = {}
    for row in rows:
        group = tuple(row[key] for key in keys)
        groups.setdefault(group, {}).setdefault(int(row["order"]), []).append(row)
    result: dict[tuple[Any, ...], dict[str, Any]] = {}
    for group, orders in groups.items():
        per_order = [order_metrics(orders[order]) for order in sorted(orders)]
        result[group] = {
            metric: {"mean": statistics.fmean(m[metric] for m in per_order),
                     "std": statistics.stdev([m[metric] for m in per_order]) if len(per_order) > 1 else 0.0,
                     "values": [m[metric] for m in per_order]}
            for metric in per_order[0]
        }
        result[group]["orders"] = len(per_order)
    return result


def pareto_front(points: Mapping[str, tuple[float, float]]) -> list[str]:
    """The names whose (cost, pass) no other point beats on both (lower cost, higher pass), cheapest first.

    Examples:
        >>> pareto_front({"a": (1.0, 0.5), "b": (2.0, 0.4), "c": (3.0, 0.9)})
        ['a', 'c']
    """
    front, best = [], -math.inf
    for name, (_cost, passed) in sorted(points.items(), key=lambda item: (item[1][0], -item[1][1])):
        if passed > best:
            front.append(name)
            best = passed
    return front


def plan_forecast(rows: Sequence[Mapping[str, Any]], prices: Mapping[str, float], domain: str, *,
                  bid_cap: int | None = None) -> dict[str, Any] | None:
    """How well the cost term's forecast, price × plan tokens, predicts what the bidder's execution costs.

    Each agent's first bid on a task (from the SALE rows; the first bids see no memory, so every order has the
    same) is set against that agent's execution of the task alone (temperature 0: the same in every order).
    Returns None where the rows hold no such pairs (runs recorded before bids kept their plan length).

    - `agents`: per agent, the pairs, mean plan and execution tokens, the share of plans cut at `bid_cap` (a plan
      cut short says nothing of its length), and Spearman's ρ between plan and execution tokens, with its p-value
      (None without scipy, with fewer than 3 pairs or with a constant side);
    - `ranking`: over every task and pair of agents whose executions cost differently, the share in which the
      forecast named the cheaper execution (a tie counts half): by price × plan tokens (the cost term), by price
      alone, and by plan tokens alone.

    Examples:
        >>> rows = [{"domain": "d", "method": "sale", "task_id": t, "extra": {"bids": [
        ...             {"bidder": "s", "plan_tokens": 10 + i}, {"bidder": "l", "plan_tokens": 30 - i}]}}
        ...         for i, t in enumerate("abc")]
        >>> rows += [{"domain": "d", "method": f"alone_{a}", "task_id": t, "tokens": {"execute": n}}
        ...          for a, n in (("s", 100), ("l", 200)) for t in "abc"]
        >>> plan_forecast(rows, {"s": 1.0, "l": 3.0}, "d")["ranking"]
        {'pairs': 3, 'cost_term': 1.0, 'price': 1.0, 'plan_tokens': 1.0}
    """
    plans: dict[tuple[str, str], float] = {}
    executions: dict[tuple[str, str], float] = {}
    for row in rows:
        if row["domain"] != domain:
            continue
        if row["method"].startswith("sale"):
            for bid in (row.get("extra") or {}).get("bids") or []:
                if bid.get("plan_tokens") is not None:
                    plans.setdefault((row["task_id"], bid["bidder"]), float(bid["plan_tokens"]))
        elif (agent := alone_agent(row["method"])) is not None:
            executions.setdefault((row["task_id"], agent), _sum(row.get("tokens"), ("execute",)))
    paired = sorted(key for key in plans if key in executions)
    if not paired:
        return None
    try:
        from scipy.stats import spearmanr
    except ImportError:
        spearmanr = None
    agents: dict[str, dict[str, Any]] = {}
    for agent in sorted({bidder for _, bidder in paired}, key=lambda a: prices.get(a, 0.0)):
        keys = [key for key in paired if key[1] == agent]
        xs, ys = [plans[key] for key in keys], [executions[key] for key in keys]
        rho = p_value = None
        if spearmanr is not None and len(xs) >= 3 and len(set(xs)) > 1 and len(set(ys)) > 1:
            result = spearmanr(xs, ys)
            rho, p_value = float(result.statistic), float(result.pvalue)
        agents[agent] = {"tasks": len(xs), "plan_tokens": statistics.fmean(xs), "exec_tokens": statistics.fmean(ys),
                         "at_cap": sum(x >= bid_cap for x in xs) / len(xs) if bid_cap else None,
                         "spearman": rho, "p_value": p_value}
    # Per bid: what each forecast says its execution will cost, and what the execution cost.
    forecast = {key: {"cost_term": prices.get(key[1], 0.0) * plans[key], "price": prices.get(key[1], 0.0),
                      "plan_tokens": plans[key]} for key in paired}
    realised = {key: prices.get(key[1], 0.0) * executions[key] for key in paired}
    right = dict.fromkeys(("cost_term", "price", "plan_tokens"), 0.0)
    pairs = 0
    for _, bids in itertools.groupby(paired, key=lambda key: key[0]):  # sorted: one group per task
        for a, b in itertools.combinations(list(bids), 2):
            actual = realised[a] - realised[b]
            if actual == 0:
                continue
            pairs += 1
            for name in right:
                predicted = forecast[a][name] - forecast[b][name]
                right[name] += 0.5 if predicted == 0 else float((predicted < 0) == (actual < 0))
    ranking: dict[str, Any] = {"pairs": pairs, **{name: right[name] / pairs if pairs else None for name in right}}
    return {"agents": agents, "ranking": ranking}


def break_even_table(cells: Mapping[str, Mapping[str, Any]], cheapest_price: float, largest_price: float) -> str:
    """Per auction (a method's summary cell), its own tokens and µ$ a task, and the execution lengths at which it
    pays: E* = auction $ / (p_largest - p_cheapest), and where it is 10% of an always-largest bill."""
    lines = []
    for name, cell in cells.items():
        auction_usd = cell["auction_udollars"]["mean"] / 1e6
        tokens = cell["tokens"]["mean"] - cell["exec_tokens"]["mean"]
        spread = largest_price - cheapest_price
        e_star = auction_usd / (spread / 1e6) if spread > 0 else math.inf
        e_ten = 9 * auction_usd / (largest_price / 1e6) if largest_price > 0 else math.inf
        lines.append([name, f"{tokens:,.0f}", money(1e6 * auction_usd), f"{cell['exec_tokens']['mean']:,.0f}",
                      f"{e_star:,.0f}", f"{e_ten:,.0f}"])
    return markdown_table(["auction", "auction tokens / task", "auction µ$ / task", "exec tokens / task",
                   "break-even E* (exec tokens)", "auction <= 10% of always-largest (exec tokens)"], lines)


def cap_shares(rows: Sequence[Mapping[str, Any]], domain: str) -> dict[str, dict[str, list[int]]]:
    """Per method and bin: `[tasks whose execution ran a model call into the execution cap, tasks]` (a bin decided by
    truncation measures the cap, not the agents).

    Examples:
        >>> rows = [{"domain": "coding", "method": "alone_a", "bin": "easy", "exec_calls_capped": c} for c in (0, 2)]
        >>> cap_shares(rows, "coding")
        {'alone_a': {'easy': [1, 2]}}
    """
    shares: dict[str, dict[str, list[int]]] = {}
    for row in rows:
        if row["domain"] != domain or "exec_calls_capped" not in row:
            continue
        cell = shares.setdefault(row["method"], {}).setdefault(row["bin"], [0, 0])
        cell[0] += int(row["exec_calls_capped"] > 0)
        cell[1] += 1
    return shares


def jury_spread(rows: Sequence[Mapping[str, Any]], domain: str) -> dict[str, dict[str, int]]:
    """How each juror scored the first bids of the auctions: per juror, how many plans got each score (0-5, the
    expected score rounded). Each (task, bidder) counts once, from the first SALE row that has it judged.

    Examples:
        >>> rows = [{"domain": "d", "method": "sale", "task_id": t, "extra": {"bids": [
        ...     {"bidder": "s", "jury": {"l": 5.0}}, {"bidder": "l", "jury": {"l": 4.2}}]}} for t in "ab"]
        >>> jury_spread(rows, "d")
        {'l': {'4': 2, '5': 2}}
    """
    scores: dict[tuple[str, str, str], float] = {}
    for row in rows:
        if row["domain"] != domain or not row["method"].startswith("sale"):
            continue
        for bid in (row.get("extra") or {}).get("bids") or []:
            for juror, score in (bid.get("jury") or {}).items():
                if score is not None:
                    scores.setdefault((row["task_id"], bid["bidder"], juror), float(score))
    spread: dict[str, Counter[str]] = {}
    for (_, _, juror), score in scores.items():
        spread.setdefault(juror, Counter())[str(round(score))] += 1
    return {juror: dict(sorted(counts.items())) for juror, counts in sorted(spread.items())}


def jury_table(spread: Mapping[str, Mapping[str, int]]) -> str:
    """The jury spread as a table: plans scored, and the share of each score."""
    scores = sorted({score for counts in spread.values() for score in counts}, key=int, reverse=True)
    lines = []
    for juror, counts in spread.items():
        total = sum(counts.values())
        lines.append([juror, str(total), *[f"{100 * counts.get(score, 0) / total:.0f}%" for score in scores]])
    return markdown_table(["juror", "plans scored", *[f"scored {score}" for score in scores]], lines)


def _forecast_section(domain: str, forecast: Mapping[str, Any]) -> list[str]:
    md = [f"### {domain}: does the plan forecast the execution?", "",
          "The cost term ranks bids by price × plan tokens, a forecast of what the bidder's execution will cost. "
          "Each agent's first bid against its own execution of the same task alone:", ""]
    md.append(markdown_table(["agent", "tasks", "plan tokens", "plans at the cap", "exec tokens alone",
                      "Spearman ρ (plan, exec)", "p"], (
        [agent, str(a["tasks"]), f"{a['plan_tokens']:,.0f}",
         "-" if a["at_cap"] is None else f"{100 * a['at_cap']:.0f}%", f"{a['exec_tokens']:,.0f}",
         "-" if a["spearman"] is None else f"{a['spearman']:+.2f}",
         "-" if a["p_value"] is None else f"{a['p_value']:.2g}"]
        for agent, a in forecast["agents"].items())))
    ranking = forecast["ranking"]
    if ranking["pairs"]:
        md += ["", f"Over {ranking['pairs']} pairs of bids on the same task whose executions cost differently, the "
               f"cheaper execution was named by price × plan tokens in {100 * ranking['cost_term']:.0f}%, by price "
               f"alone in {100 * ranking['price']:.0f}%, by plan tokens alone in {100 * ranking['plan_tokens']:.0f}% "
               "(a tie counts half)."]
    return [*md, ""]


def _method_key(name: str) -> tuple[int, str]:
    if alone_agent(name) is not None:
        return (0, "")
    return (1 + METHOD_ORDER.index(name) if name in METHOD_ORDER else 99, name)


def _methods(rows: Sequence[Mapping[str, Any]], prices: Mapping[str, float]) -> list[str]:
    names = list(dict.fromkeys(row["method"] for row in rows))
    alone = {name: agent for name in names if (agent := alone_agent(name)) is not None}
    return (sorted(alone, key=lambda name: prices.get(alone[name], 0.0))
            + sorted((name for name in names if name not in alone), key=_method_key))


def money(value: float) -> str:
    """Millionths of a dollar as the reports print them: no decimals from 100, one from 1, two digits below."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}" if abs(value) >= 1 else f"{value:.2g}"


def _cell(cell: Mapping[str, Any], metric: str) -> str:
    mean, std = cell[metric]["mean"], cell[metric]["std"]
    if std < 1e-9 * max(1.0, abs(mean)):
        std = 0.0  # float noise of identical orders
    if metric in ("pass", "largest_share", "overhead_tokens", "overhead_time"):
        return f"{100 * mean:.1f}% ± {100 * std:.1f}"
    if metric == "f1":
        return f"{mean:.3f} ± {std:.3f}"
    if metric == "paper_mt":
        return f"{mean:.3f} ± {std:.3f}"
    if metric == "cost_udollars":
        return f"{money(mean)} ± {money(std)}"
    return f"{mean:,.0f} ± {std:,.0f}"


def _phase_cell(cell: Mapping[str, Any], phase: str) -> str:
    tokens, seconds = cell[f"tokens_{phase}"]["mean"], cell[f"seconds_{phase}"]["mean"]
    return f"{tokens:,.0f} / {seconds:,.1f} s" if tokens or seconds else "-"


def share_cell(cell: Sequence[int] | None) -> str:
    """`[hits, of]` as "hits of of (share)"; "-" for none."""
    return f"{cell[0]} of {cell[1]} ({cell[0] / cell[1]:.0%})" if cell and cell[1] else "-"


def _bin_cell(cell: Mapping[str, Any] | None) -> str:
    if cell is None:
        return "-"
    return f"{100 * cell['pass']['mean']:.0f}% / {money(cell['cost_udollars']['mean'])}"


def markdown_table(header: Sequence[str], lines: Iterable[Sequence[str]]) -> str:
    """A Markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def _plots(out: Path, domains: Sequence[str], summary: Mapping[tuple[Any, ...], Mapping[str, Any]],
           methods: Mapping[str, list[str]], rows: Sequence[Mapping[str, Any]], cheapest: str,
           title: str) -> list[Path]:
    if not domains:
        return []  # a run stopped before any method completed an order: nothing to plot yet
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    title = title.replace("$", r"\$")  # two dollar signs would open matplotlib's mathtext
    fig, axes = plt.subplots(1, len(domains), figsize=(7.5 * len(domains), 5.0), squeeze=False)
    colours = plt.get_cmap("tab20")
    for ax, domain in zip(axes[0], domains, strict=True):
        points: dict[str, tuple[float, float]] = {}
        for index, name in enumerate(methods[domain]):
            cell = summary[(domain, name)]
            x, y = cell["cost_udollars"]["mean"], cell["pass"]["mean"]
            hindsight = name == "oracle"
            style = "o" if name.startswith("sale") else "s" if alone_agent(name) is not None else "^"
            colour = "grey" if hindsight else colours(index % 20)
            ax.errorbar(x, y, xerr=cell["cost_udollars"]["std"], yerr=cell["pass"]["std"], fmt=style, color=colour,
                        mfc="none" if hindsight else colour, capsize=2, markersize=7,
                        label=f"{name} (hindsight)" if hindsight else name)
            if not hindsight:
                points[name] = (x, y)
        front = pareto_front(points)
        ax.step([points[n][0] for n in front], [points[n][1] for n in front], where="post", color="black",
                linewidth=1, alpha=0.6, label="Pareto front (oracle excluded)")
        costs = [p[0] for p in points.values() if p[0] > 0]
        if costs and max(costs) / min(costs) > 20:
            ax.set_xscale("log")
        ax.set_xlabel("cost per task (µ$, every call)")
        ax.set_ylabel("pass@1")
        ax.set_title(f"{domain}: pass@1 against cost")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = out / "pareto.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)

    streamed = {d: [m for m in ("sale", "sale_nomem", "router_knn", "cascade", "random") if m in methods[d]]
                for d in domains}
    if not any(streamed.values()):
        return written
    fig, axes = plt.subplots(1, len(domains), figsize=(6.5 * len(domains), 4.2), squeeze=False)
    for ax, domain in zip(axes[0], domains, strict=True):
        for name in streamed[domain]:
            streams: dict[int, list[Mapping[str, Any]]] = {}
            for row in rows:
                if row["domain"] == domain and row["method"] == name:
                    streams.setdefault(int(row["order"]), []).append(row)
            curves = []
            for stream in streams.values():
                stream = sorted(stream, key=lambda r: int(r["position"]))
                wins, curve = 0, []
                for index, row in enumerate(stream, start=1):
                    wins += bool(row.get("cheapest_final"))
                    curve.append(wins / index)
                curves.append(curve)
            length = min(len(c) for c in curves)
            mean = [statistics.fmean(c[i] for c in curves) for i in range(length)]
            low = [min(c[i] for c in curves) for i in range(length)]
            high = [max(c[i] for c in curves) for i in range(length)]
            xs = list(range(1, length + 1))
            ax.plot(xs, mean, label=name, linewidth=2 if name == "sale" else 1)
            ax.fill_between(xs, low, high, alpha=0.15)
        ax.set_xlabel("task in the stream")
        ax.set_ylabel(f"cumulative share run by {cheapest}")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{domain}: the cheapest agent's cumulative win share (mean, min-max over orders)")
        ax.title.set_fontsize(8)
        if streamed[domain]:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = out / "win_share.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written.append(path)
    return written


def complete_orders(rows: Sequence[Mapping[str, Any]], expected: Mapping[tuple[str, str, int], int]
                    ) -> tuple[list[Mapping[str, Any]], dict[tuple[str, str, int], tuple[int, int]]]:
    """Keep the rows of the (domain, method, order) groups that hold all their tasks; return them and, for every
    group of `expected` (its task count) still short, (tasks done, tasks expected).

    A metric over a part of an order would be a mean over other tasks than its neighbours' in the table.

    Examples:
        >>> rows = [{"domain": "d", "method": m, "order": 0, "task_id": t} for m, ts in (("a", "xy"), ("b", "x"))
        ...         for t in ts]
        >>> kept, missing = complete_orders(rows, {("d", "a", 0): 2, ("d", "b", 0): 2, ("d", "b", 1): 2})
        >>> sorted({row["method"] for row in kept}), missing
        (['a'], {('d', 'b', 0): (1, 2), ('d', 'b', 1): (0, 2)})
    """
    groups = [(row["domain"], row["method"], int(row["order"])) for row in rows]
    done = Counter(groups)
    missing = {group: (done[group], total) for group, total in expected.items() if done[group] < total}
    return [row for row, group in zip(rows, groups, strict=True) if group not in missing], missing


def _partial_note(status: str, missing: Mapping[tuple[str, str, int], tuple[int, int]]) -> list[str]:
    by_method: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
    for (domain, method, order), (done, total) in missing.items():  # in run order
        by_method.setdefault((domain, method), []).append((order, done, total))
    lines = []
    for (domain, method), orders in by_method.items():
        begun = [f"order {order} has {done} of {total} tasks" for order, done, total in orders if done]
        not_begun = [str(order) for order, done, _ in orders if not done]
        if not_begun:
            begun.append(f"order{'s' if len(not_begun) > 1 else ''} {', '.join(not_begun)} not begun")
        lines.append(f"> - {domain} `{method}`: " + "; ".join(begun))
    return [f"> **Partial: this run is {status}.** The tables cover the task orders each method completed; still "
            "missing (run the same command again to resume):", ">", *lines, ""]


def write_report(out: Path, rows: Sequence[Mapping[str, Any]], *, config: Any, pool: Any, meta: Mapping[str, Any],
                 run: Any, suite: Any, expected: Mapping[tuple[str, str, int], int] | None = None
                 ) -> tuple[str, list[Path]]:
    """Write results.json, summary.json, results.md, pareto.png and win_share.png; return the Markdown and the paths.

    `expected` gives each (domain, method, order) of the run its task count: groups with fewer rows are left out of
    the figures and listed in a "Partial" note (see `complete_orders`)."""
    rows, missing = complete_orders(rows, expected or {})
    prices = pool.prices()
    domains = [d for d in config.domains if any(row["domain"] == d for row in rows)]
    summary = aggregate(rows, ("domain", "method"))
    bins = aggregate(rows, ("domain", "bin", "method"))
    methods = {d: _methods([r for r in rows if r["domain"] == d], prices) for d in domains}
    cheapest, largest = pool.cheapest, pool.largest
    forecasts = {d: plan_forecast(rows, prices, d, bid_cap=config.bid_tokens) for d in domains}
    juries = {d: jury_spread(rows, d) for d in domains}
    caps = {d: cap_shares(rows, d) for d in domains}
    by_domain = {d: [r for r in rows if r["domain"] == d] for d in domains}
    intervals = {d: method_intervals(by_domain[d], methods[d], alone_method(largest)) for d in domains}
    verdicts = {d: [v for m in methods[d] if m in SALE_METHODS
                    for v in dominance(by_domain[d], m, cheapest=cheapest, largest=largest)] for d in domains}
    harness_check = pool.kind == "fake"
    title = (f"suite {config.suite}, pool {pool.kind} ({', '.join(f'{n} ${p:g}/Mt' for n, p in prices.items())}), "
             f"{config.orders} task orders" + (" - fake pool: a harness check, not a result" if harness_check else ""))
    sessions = list(meta.get("sessions", []))
    md: list[str] = [f"# Benchmark: suite `{config.suite}`, pool `{pool.kind}`", ""]
    if harness_check:
        md += ["> **Fake pool: a harness check, not a result.** The agents are scripted by fixed rules "
               "(`langgraph_sale.bench.fake`): bigger agents solve more, plans and jurors carry a known, noisy "
               "signal. The figures show the harness working, not how SALE does with real models.", ""]
    if missing:
        md += _partial_note(run.status, missing)
    # Nothing here depends on where or when the run was made (paths, sessions, wall time: those are in meta.json),
    # so a replay of the record writes this file again to the character.
    md += [f"Command: `{config.reproduce_command()}`", "",
           f"Pool (cheapest first): {', '.join(f'`{n}` ${p:g}/Mtok' for n, p in prices.items())}. "
           f"Tasks: {', '.join(f'{d} {len(suite.tasks[d])}' for d in domains)}; {config.orders} task orders "
           f"(seeds {config.seed * 1000}..{config.seed * 1000 + config.orders - 1}).",
           "Executors: " + "; ".join(
               ([f"coding write-test-fix loop of at most {config.max_attempts} attempts (visible examples only)"]
                if "coding" in domains else [])
               + ([f"search with at most {config.max_searches} BM25 searches"] if "search" in domains else []))
           + f"; plan guidance {'on' if config.plan_guidance else 'off'}; bids capped at {config.bid_tokens} tokens; "
           f"memory recalls {config.recall_k} past auctions per outbid round; "
           f"memory/router embeddings: {config.embedder}.", ""]
    for domain in domains:
        md += [f"## {domain}", ""]
        keys = [key for key, _ in METRICS if domain == "search" or key != "f1"]
        header = ["method", *[label for key, label in METRICS if key in keys]]
        md.append(markdown_table(header, ([name, *[_cell(summary[(domain, name)], key) for key in keys]]
                                  for name in methods[domain])))
        md.append("")
        md += [f"### {domain}: 95% bootstrap intervals over tasks", "",
               markdown_table(interval_header(largest), interval_rows(intervals[domain])), ""]
        if verdicts[domain]:
            md += [f"### {domain}: is SALE dominated?", "",
                   "A baseline dominates a SALE method when it is both better and cheaper beyond the paired 95% "
                   "intervals over tasks. Random routing at the method's own share of the largest agent is the "
                   "expectation from the agents' runs alone (`langgraph_sale.bench.dominance`). Execution tokens "
                   "per auction token: " + ", ".join(
                       f"{m} {summary[(domain, m)]['exec_per_auction_token']['mean']:.1f}"
                       for m in methods[domain] if m in SALE_METHODS) + ".", "",
                   markdown_table(["method", "baseline", "pass@1: baseline - method (points)",
                                   "µ$ / task: method - baseline", "dominated"], dominance_rows(verdicts[domain])),
                   ""]
        domain_bins = [b for b in BIN_ORDER if any((domain, b, m) in bins for m in methods[domain])]
        md += [f"### {domain} by complexity bin: pass@1 / µ$ per task (mean over orders)", ""]
        counts = {b: sum(1 for t in suite.tasks[domain] if t.bin == b) for b in domain_bins}
        md.append(markdown_table(["method", *[f"{b} ({counts[b]})" for b in domain_bins]], (
            [name, *[_bin_cell(bins.get((domain, b, name))) for b in domain_bins]] for name in methods[domain])))
        md.append("")
        if caps[domain]:
            md += [f"### {domain}: executions that ran into the output cap, by bin (all orders)", "",
                   markdown_table(["method", *domain_bins], (
                       [name, *[share_cell(caps[domain][name].get(b)) for b in domain_bins]]
                       for name in methods[domain] if name in caps[domain])), ""]
        auctions = [m for m in methods[domain] if m.startswith("sale")]
        if auctions:
            exec_alone = [summary.get((domain, alone_method(agent)), {}).get("exec_tokens", {}).get("mean")
                          for agent in (cheapest, largest)]
            md += [f"### {domain}: break-even execution length", "",
                   f"Execution tokens per task when run alone: {cheapest} "
                   f"{exec_alone[0] if exec_alone[0] is not None else float('nan'):,.0f}, {largest} "
                   f"{exec_alone[1] if exec_alone[1] is not None else float('nan'):,.0f}.", ""]
            md.append(break_even_table({name: summary[(domain, name)] for name in auctions}, prices[cheapest],
                                       prices[largest]))
            md.append("")
        # Where an auction's tokens and seconds go: the outbid prompt carries k recalled plan pairs, so one outbid
        # round can cost more than the bids and the jury together.
        spenders = [m for m in methods[domain] if summary[(domain, m)]["overhead_tokens"]["mean"] > 0]
        if spenders:
            md += [f"### {domain}: tokens / model seconds per task, by phase (mean over orders)", ""]
            md.append(markdown_table(["method", *[label for _, label in PHASES]], (
                [name, *[_phase_cell(summary[(domain, name)], phase) for phase, _ in PHASES]] for name in spenders)))
            md.append("")
        forecast = forecasts[domain]
        if forecast is not None:
            md += _forecast_section(domain, forecast)
        if juries[domain]:
            md += [f"### {domain}: how the jurors scored the plans", "",
                   "Each juror's score of every first bid (the expected 0-5 score, rounded), once per task and bidder:",
                   "", jury_table(juries[domain]), ""]
    files = _plots(out, domains, summary, methods, rows, cheapest, title)
    if files:
        md += ["## Figures", "", *[f"![{path.stem}]({path.name})" for path in files], ""]
    md += ["## Reading the columns", "",
           "pass@1: share of tasks whose final answer passes the task's own tests (coding) or matches the gold "
           "answer exactly (search). µ$ / task: every token of every call at the pool's prices (bids, jury, outbid "
           "rounds, verifiers, every execution run), in millionths of a dollar. $/Mt (paper): per task, the sum of "
           "the prices of the agents that executed. largest share: tasks on which the largest agent executed. "
           "overhead: share of tokens / of model and tool seconds outside execution. mean ± std over the task "
           "orders. Intervals: 95% percentile bootstrap over tasks (each task's value its mean over the orders; "
           f"{RESAMPLES} resamples, seed 0); a difference against the largest agent alone resamples the tasks both "
           "ran (paired). Times are the calls' own latencies run one after another "
           + ("(simulated for the fake pool: model calls from token counts, tool runs at fixed times)."
              if harness_check else "(measured)."), ""]
    markdown = "\n".join(md)
    (out / "results.md").write_text(markdown, encoding="utf-8")
    # summary.json: every figure of the report and nothing that depends on where or when it was made, so that it is
    # committed beside results.md and the published tables are made from it (langgraph_sale.bench.publish).
    figures = {
        "command": config.reproduce_command(),
        "harness_check": harness_check,
        "suite": config.suite, "pool": pool.kind,
        "agents": [{"name": n, "price_per_mtok": p} for n, p in prices.items()],
        "cheapest": cheapest, "largest": largest,
        "orders": config.orders,
        "status": "complete" if not missing else "partial",
        "missing": [{"domain": d, "method": m, "order": o, "done": done, "tasks": total}
                    for (d, m, o), (done, total) in sorted(missing.items())],
        "tasks": {d: {"all": len(suite.tasks[d]),
                      "bins": {b: sum(1 for t in suite.tasks[d] if t.bin == b) for b in BIN_ORDER
                               if any(t.bin == b for t in suite.tasks[d])}} for d in domains},
        "metrics": dict(METRICS),
        "summary": {d: {m: summary[(d, m)] for m in methods[d]} for d in domains},
        "bins": {d: {b: {m: bins[(d, b, m)] for m in methods[d] if (d, b, m) in bins}
                     for b in BIN_ORDER if any((d, b, m) in bins for m in methods[d])} for d in domains},
        "plan_forecast": forecasts,
        "jury_spread": juries,
        "cap_shares": caps,
        "intervals": {d: {m: {k: dataclasses.asdict(v) for k, v in own.items()} for m, own in intervals[d].items()}
                      for d in domains},
        "dominance": {d: dominance_json(verdicts[d]) for d in domains},
    }
    (out / "summary.json").write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    payload = {"created": time.strftime("%Y-%m-%d %H:%M:%S"), "typed_command": config.command,
               "fingerprint": meta.get("fingerprint"), "sessions": sessions, **figures, "status": run.status,
               "rows": [{k: v for k, v in row.items() if k not in ("memory",)} for row in rows]}
    (out / "results.json").write_text(json.dumps(payload, indent=1, default=str) + "\n", encoding="utf-8")
    return markdown, [out / "results.json", out / "summary.json", out / "results.md", *files]
