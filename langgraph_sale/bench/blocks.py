"""The docs' generated blocks: each kind of `<!-- report:... -->` block (`BLOCKS`) and `render_document`, which makes
every block of a document again from the committed `summary.json` files of the published runs (`Summaries`).

A block lies between an opening marker that says how to make it and a closing one,

    <!-- report:table rows="coding80:alone_*;coding80:sale=SALE" columns=pass,cost -->
    ...generated...
    <!-- /report -->

and its options are the keyword arguments of its `block_*` function. `langgraph_sale.bench.publish` runs it over
the documents (`langgraph-sale report`).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph_sale.bench.intervals import Interval, interval_header, interval_rows
from langgraph_sale.bench.methods import alone_agent
from langgraph_sale.bench.report import BIN_ORDER, markdown_table, money, share_cell
from langgraph_sale.errors import AuctionConfigError

if TYPE_CHECKING:
    from langgraph_sale.bench.publish import PublishedRun

__all__ = ["BLOCKS", "MARKER", "Summaries", "render_document"]

MARKER = re.compile(
    r"^(?P<indent>[ \t]*)<!-- report:(?P<kind>[a-z-]+)(?P<args>.*?)-->\n(?P<body>.*?)^[ \t]*<!-- /report -->",
    re.S | re.M)


# ---- reading the committed summaries ------------------------------------------------------------------------------
class Summaries:
    """The committed `summary.json` of every published run, read once each."""

    def __init__(self, runs: Mapping[str, PublishedRun], root: Path, *, spec: Path = Path("published.json")) -> None:
        self.runs, self.root, self.spec = runs, root, spec
        self._loaded: dict[str, dict[str, Any]] = {}
        self.figures: dict[str, bytes] = {}
        """Figures the blocks drew (PNG bytes), by path from the repository root: `publish` writes them."""

    def __call__(self, name: str) -> dict[str, Any]:
        if name not in self._loaded:
            if name not in self.runs:
                raise AuctionConfigError("report", f"no published run named {name!r} (see {self.spec})")
            path = self.root / self.runs[name].folder / "summary.json"
            if not path.is_file():
                raise AuctionConfigError("report", f"{path} is missing: run `langgraph-sale report --runs {name}`")
            self._loaded[name] = json.loads(path.read_text(encoding="utf-8"))
        return self._loaded[name]


def _domain(summary: Mapping[str, Any], domain: str | None) -> str:
    domains = list(summary["summary"])
    if domain is None:
        if len(domains) != 1:
            raise AuctionConfigError("report", f"the run has domains {domains}: say domain=")
        return str(domains[0])
    if domain not in domains:
        raise AuctionConfigError("report", f"the run has no {domain!r} domain (it has {domains})")
    return domain


@dataclass(frozen=True)
class Row:
    """One line of a table: a method of a published run, under a label."""

    run: str
    method: str
    label: str
    summary: Mapping[str, Any]
    domain: str

    @property
    def cell(self) -> Mapping[str, Any]:
        cell: Mapping[str, Any] = self.summary["summary"][self.domain][self.method]
        return cell

    def baseline(self) -> Mapping[str, Any]:
        """The run's largest agent alone: what the goals and the cost ratios are measured against."""
        cell: Mapping[str, Any] = self.summary["summary"][self.domain][f"alone_{self.summary['largest']}"]
        return cell


def _picked_rows(spec: str, summaries: Summaries, domain: str | None) -> list[Row]:
    """`run:method[=label];...`; `run:*` is every method of the run, `run:alone_*` every agent alone."""
    rows: list[Row] = []
    for item in filter(None, (part.strip() for part in spec.split(";"))):
        target, _, label = item.partition("=")
        run, _, method = target.partition(":")
        summary = summaries(run)
        dom = _domain(summary, domain)
        methods = list(summary["summary"][dom])
        if method in ("*", "alone_*"):
            picked = [m for m in methods if method == "*" or alone_agent(m) is not None]
        elif method in methods:
            picked = [method]
        else:
            raise AuctionConfigError("report", f"run {run} has no method {method!r} in {dom} (it has {methods})")
        rows += [Row(run, m, label or _default_label(m, summary), summary, dom) for m in picked]
    return rows


def _default_label(method: str, summary: Mapping[str, Any]) -> str:
    agent = alone_agent(method)
    return f"{agent} alone" if agent is not None else "oracle (hindsight)" if method == "oracle" else method


# ---- the blocks ---------------------------------------------------------------------------------------------------
def _pct(cell: Mapping[str, Any], metric: str, std: bool = True) -> str:
    mean, spread = 100 * cell[metric]["mean"], 100 * cell[metric]["std"]
    return f"{mean:.1f}%" + (f" ± {spread:.1f}" if std and spread >= 0.05 else "")


def _usd(cell: Mapping[str, Any], std: bool = True) -> str:
    mean, spread = cell["cost_udollars"]["mean"], cell["cost_udollars"]["std"]
    return money(mean) + (f" ± {money(spread)}" if std and spread >= 0.05 else "")


def _ratio(cell: Mapping[str, Any], baseline: Mapping[str, Any]) -> str:
    return f"{cell['cost_udollars']['mean'] / baseline['cost_udollars']['mean']:.2f}×"


def _count_cell(cell: Mapping[str, Any], metric: str) -> str:
    mean, spread = cell[metric]["mean"], cell[metric]["std"]
    return f"{mean:,.0f}" + (f" ± {spread:,.0f}" if spread >= 0.5 else "")


COLUMNS: dict[str, tuple[str, Callable[[Row], str]]] = {
    "pass": ("pass@1", lambda r: _pct(r.cell, "pass")),
    "em": ("EM (pass@1)", lambda r: _pct(r.cell, "pass")),
    "f1": ("F1", lambda r: f"{r.cell['f1']['mean']:.3f}"),
    "cost": ("µ$ / task", lambda r: _usd(r.cell)),
    "ratio": ("cost vs largest alone", lambda r: _ratio(r.cell, r.baseline())),
    "paper_mt": ("$/Mt", lambda r: f"{r.cell['paper_mt']['mean']:.3f}"),
    "largest": ("largest share", lambda r: _pct(r.cell, "largest_share")),
    "overhead": ("overhead tokens / time", lambda r: f"{_pct(r.cell, 'overhead_tokens', False)} / "
                                                     f"{_pct(r.cell, 'overhead_time', False)}"),
    "overhead_tokens": ("overhead tokens", lambda r: _pct(r.cell, "overhead_tokens")),
    "exec": ("exec tokens / task", lambda r: _count_cell(r.cell, "exec_tokens")),
    "auction": ("auction tokens / task", lambda r: f"{r.cell['tokens']['mean'] - r.cell['exec_tokens']['mean']:,.0f}"),
    "exec_ratio": ("exec tokens per auction token", lambda r: f"{r.cell['exec_per_auction_token']['mean']:.1f}"),
}


def _columns(value: str | None, default: str) -> list[str]:
    names = (value or default).split(",")
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise AuctionConfigError("report", f"unknown columns {unknown}; known: {', '.join(COLUMNS)}")
    return names


def block_table(summaries: Summaries, rows: str, columns: str | None = None, domain: str | None = None) -> str:
    """Methods of published runs (`rows`) against metric columns (`columns`, from `COLUMNS`)."""
    picked, names = _picked_rows(rows, summaries, domain), _columns(columns, "pass,cost,paper_mt,largest,overhead")
    return markdown_table(["method", *[COLUMNS[n][0] for n in names]], [[r.label, *[COLUMNS[n][1](r) for n in names]]
                                                                for r in picked])


def block_intervals(summaries: Summaries, rows: str, domain: str | None = None) -> str:
    """pass@1, µ$ a task and the largest agent's share of each row with its 95% bootstrap interval over tasks, and the
    paired differences against the largest agent alone (`langgraph_sale.bench.intervals`)."""
    picked = _picked_rows(rows, summaries, domain)
    table = {row.label: {name: Interval(**value) for name, value in
                         row.summary["intervals"][row.domain][row.method].items()} for row in picked}
    return markdown_table(interval_header(picked[0].summary["largest"]), interval_rows(table))


def block_pareto(summaries: Summaries, rows: str, file: str, link: str, domain: str | None = None) -> str:
    """pass@1 against µ$ a task of each row, with their 95% bootstrap intervals over tasks as bars and the Pareto
    front (the hindsight oracle left out of it), drawn into `file` (from the repository root) and shown by `link`
    (from the document)."""
    picked = _picked_rows(rows, summaries, domain)
    summaries.figures[file] = _pareto_png(picked)
    return f"![pass@1 against cost, with 95% intervals over tasks]({link})"


def _pareto_png(picked: Sequence[Row]) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from langgraph_sale.bench.report import pareto_front

    fig, ax = plt.subplots(figsize=(8.5, 5.0))
    colours = plt.get_cmap("tab20")
    points: dict[str, tuple[float, float]] = {}
    for index, row in enumerate(picked):
        spans = row.summary["intervals"][row.domain][row.method]
        cost, passed = spans["cost_udollars"], spans["pass"]
        hindsight = row.method == "oracle"
        style = "o" if row.method.startswith("sale") else "s" if alone_agent(row.method) is not None else "^"
        colour = "grey" if hindsight else colours(index % 20)
        ax.errorbar(cost["mean"], passed["mean"], xerr=[[cost["mean"] - cost["low"]], [cost["high"] - cost["mean"]]],
                    yerr=[[passed["mean"] - passed["low"]], [passed["high"] - passed["mean"]]], fmt=style,
                    color=colour, mfc="none" if hindsight else colour, capsize=2, markersize=7, label=row.label)
        if not hindsight:
            points[row.label] = (cost["mean"], passed["mean"])
    front = pareto_front(points)
    ax.step([points[n][0] for n in front], [points[n][1] for n in front], where="post", color="black", linewidth=1,
            alpha=0.6, label="Pareto front (oracle excluded)")
    ax.set_xlabel("cost per task (µ$, every call); bars: 95% bootstrap interval over tasks")
    ax.set_ylabel("pass@1")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def block_caps(summaries: Summaries, rows: str, domain: str | None = None) -> str:
    """Per row and bin, the executions that ran into the output cap (a bin decided by truncation measures the cap)."""
    picked = _picked_rows(rows, summaries, domain)
    counts = picked[0].summary["tasks"][picked[0].domain]["bins"]
    bins = [b for b in BIN_ORDER if b in counts] + [b for b in counts if b not in BIN_ORDER]
    return markdown_table(["method", *[f"{b} ({counts[b]})" for b in bins]], [
        [row.label, *[share_cell(row.summary["cap_shares"][row.domain].get(row.method, {}).get(b)) for b in bins]]
        for row in picked])


def block_bins(summaries: Summaries, rows: str, domain: str | None = None) -> str:
    """pass@1 / µ$ a task of each row in each complexity bin of its run (mean over orders)."""
    picked = _picked_rows(rows, summaries, domain)
    first = picked[0]
    counts = first.summary["tasks"][first.domain]["bins"]
    lines = []
    for row in picked:
        bins = row.summary["bins"][row.domain]
        lines.append([row.label, *[f"{100 * bins[b][row.method]['pass']['mean']:.0f}% / "
                                   f"{money(bins[b][row.method]['cost_udollars']['mean'])}"
                                   if row.method in bins.get(b, {}) else "-" for b in counts]])
    return markdown_table(["method", *[f"{b} ({n})" for b, n in counts.items()]], lines)


GOALS = (("pass", "pass@1 ≥ the largest alone"), ("cost", "cost ≤ 0.65×"), ("largest", "largest share ≤ 50%"))
"""The paper's three claims on its pool, as goals against the largest agent alone (docs/method.md §5.2)."""


def block_goals(summaries: Summaries, rows: str, domain: str | None = None) -> str:
    """The goals, per SALE configuration: pass@1 at least the largest agent's alone, cost at most 0.65× its cost,
    the largest agent on at most half the tasks; with the baseline and the hindsight oracle in a line above."""
    picked = _picked_rows(rows, summaries, domain)
    base = picked[0].baseline()
    base_pass, base_cost = base["pass"]["mean"], base["cost_udollars"]["mean"]
    tasks = picked[0].summary["tasks"][picked[0].domain]["all"]
    oracle = picked[0].summary["summary"][picked[0].domain].get("oracle")
    lines = []
    for row in picked:
        cell = row.cell
        passed, cost, largest = cell["pass"]["mean"], cell["cost_udollars"]["mean"], cell["largest_share"]["mean"]
        lines.append([
            row.label,
            f"{_pct(cell, 'pass')}: {'met' if passed >= base_pass - 1e-9 else '**not met**'}"
            + ("" if passed >= base_pass - 1e-9 else f" ({100 * (passed - base_pass):+.1f})"),
            f"{_usd(cell, False)} µ$ = {cost / base_cost:.2f}×: {'met' if cost <= 0.65 * base_cost else '**not met**'}",
            f"{_pct(cell, 'largest_share', False)}: {'met' if largest <= 0.5 else '**not met**'}"])
    intro = (f"{tasks} tasks; {picked[0].summary['largest']} alone passes {100 * base_pass:.1f}% at "
             f"{money(base_cost)} µ$ a task, so the cost goal is at most {money(0.65 * base_cost)} µ$."
             + (f" The hindsight oracle, a perfect router: {100 * oracle['pass']['mean']:.1f}% at "
                f"{money(oracle['cost_udollars']['mean'])} µ$ ({oracle['cost_udollars']['mean'] / base_cost:.2f}×)."
                if oracle else ""))
    return intro + "\n\n" + markdown_table(["SALE configuration", *[label for _, label in GOALS]], lines)


def block_skip(summaries: Summaries, pairs: str) -> str:
    """SALE against SALE + `SkipAuction` in the same run: `run:method:skipmethod[:domain]=label;...`."""
    lines = []
    for item in filter(None, (part.strip() for part in pairs.split(";"))):
        target, _, label = item.partition("=")
        run, method, skip, *domain = target.split(":")
        with_auction, skipping = (_picked_rows(f"{run}:{m}", summaries, domain[0] if domain else None)[0]
                                  for m in (method, skip))
        a, b = with_auction.cell, skipping.cell
        lines.append([label or run, _usd(a, False), _usd(b, False),
                      f"{b['cost_udollars']['mean'] / a['cost_udollars']['mean']:.2f}×",
                      f"{_pct(a, 'pass', False)} → {_pct(b, 'pass', False)}"])
    return markdown_table(["run", "SALE µ$ / task", "SALE + skip µ$ / task", "ratio", "pass@1, SALE → SALE + skip"],
                          lines)


def block_phases(summaries: Summaries, rows: str, domain: str | None = None) -> str:
    """Tokens / model seconds a task in each phase (bids, jury, outbid rounds, verifier, execution)."""
    from langgraph_sale.bench.report import PHASES, _phase_cell

    picked = _picked_rows(rows, summaries, domain)
    return markdown_table(["method", *[label for _, label in PHASES]],
                  [[row.label, *[_phase_cell(row.cell, phase) for phase, _ in PHASES]] for row in picked])


def block_forecast(summaries: Summaries, run: str, domain: str | None = None) -> str:
    """Does price × plan tokens foresee each bidder's execution cost? (the report's forecast check)."""
    from langgraph_sale.bench.report import _forecast_section

    summary = summaries(run)
    dom = _domain(summary, domain)
    forecast = summary["plan_forecast"][dom]
    if forecast is None:
        raise AuctionConfigError("report", f"run {run} has no forecast check in {dom}")
    return "\n".join(_forecast_section(dom, forecast)[4:]).strip()


def block_dominance(summaries: Summaries, run: str, methods: str | None = None, domain: str | None = None) -> str:
    """Is each SALE method of a run (or those in `methods`, a comma list) dominated by a baseline? (the report's
    dominance table, from its summary)."""
    from langgraph_sale.bench.dominance import dominance_rows, from_json

    summary = summaries(run)
    dom = _domain(summary, domain)
    wanted = [name.strip() for name in (methods or "").split(",") if name.strip()]
    verdicts = [d for d in from_json(summary["dominance"][dom]) if not wanted or d.method in wanted]
    if not verdicts:
        raise AuctionConfigError("report", f"run {run} has no dominance verdict in {dom} for {methods or 'any method'}")
    return markdown_table(["method", "baseline", "pass@1: baseline - method (points)", "µ$ / task: method - baseline",
                           "dominated"], dominance_rows(verdicts))


def block_jury(summaries: Summaries, run: str, domain: str | None = None) -> str:
    """How each juror scored the plans of a run (the share of each score)."""
    from langgraph_sale.bench.report import jury_table

    summary = summaries(run)
    return jury_table(summary["jury_spread"][_domain(summary, domain)])


def block_break_even(summaries: Summaries, rows: str, domain: str | None = None) -> str:
    """Each auction's own cost and the execution lengths at which it pays (the report's break-even table)."""
    from langgraph_sale.bench.report import break_even_table

    picked = _picked_rows(rows, summaries, domain)
    summary = picked[0].summary
    prices = {agent["name"]: agent["price_per_mtok"] for agent in summary["agents"]}
    return break_even_table({row.label: row.cell for row in picked}, prices[summary["cheapest"]],
                            prices[summary["largest"]])


def block_sessions(summaries: Summaries, runs: str) -> str:
    """The sittings that made the runs (their meta.json in the record): wall time and model calls made."""
    lines, wall, calls = [], 0.0, 0
    for name in runs.split(","):
        summaries(name)  # a published run
        path = summaries.root / summaries.runs[name].folder / "meta.json"
        sessions = json.loads(path.read_text(encoding="utf-8"))["sessions"] if path.is_file() else []
        run_wall = sum(float(s.get("wall_s", 0.0)) for s in sessions)
        run_calls = sum(int(s.get("fresh_calls", 0)) for s in sessions)
        wall, calls = wall + run_wall, calls + run_calls
        lines.append([name, str(len(sessions)), f"{run_wall / 3600:.1f} h", f"{run_calls:,}"])
    lines.append(["all", "", f"{wall / 3600:.1f} h", f"{calls:,}"])
    return markdown_table(["run", "sittings", "wall time", "model calls made"], lines)


def block_weights(summaries: Summaries, files: str) -> str:
    """Score weights side by side: `label=path.json;...` (paths from the repository root)."""
    from langgraph_sale.scoring import AuctionWeights

    columns = []
    for item in filter(None, (part.strip() for part in files.split(";"))):
        label, _, path = item.partition("=")
        columns.append((label, AuctionWeights.load(summaries.root / path) if path else AuctionWeights()))
    jurors = sorted({j for _, w in columns for j in w.w_jury})

    def juror(weights: Any, name: str) -> float:
        default = 1 / len(jurors) if weights.jury_default is None and not weights.w_jury else 0.0
        return float(weights.w_jury.get(name, weights.jury_default if weights.jury_default is not None else default))

    lines = [["`w_cost` (price × plan length)", *[f"{w.w_cost:.3g}" for _, w in columns]],
             ["`w_entropy`", *[f"{w.w_entropy:+.3g}" for _, w in columns]],
             *[[f"juror {j}", *[f"{juror(w, j):.3g}" for _, w in columns]] for j in jurors]]
    return markdown_table(["weight", *[label for label, _ in columns]], lines)


def block_ablation(summaries: Summaries, file: str) -> str:
    """The learned value's feature ablation (`langgraph-sale fit --value --ablation`): `file` from the repository
    root. Per feature set, the out-of-fold AUCs and the routing with the chosen `w_value`."""
    from langgraph_sale.value_ablation import ValueAblation

    ablation = ValueAblation.load(summaries.root / file)
    bidders = list(ablation.rows[0].auc_success) if ablation.rows else []

    def auc(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines = [[row.name, *[auc(row.auc_success[b]) for b in bidders], auc(row.auc_gain),
              f"{row.routing.passed}/{row.routing.tasks}",
              f"{row.routing.total_cost_usd * 1e6 / row.routing.tasks:.0f}", f"{row.routing.mean_loss:.3f}"]
             for row in ablation.rows]
    lines += [[f"*{name.replace('_', ' ')}*", *["" for _ in bidders], "", f"{ref.passed}/{ref.tasks}",
               f"{ref.total_cost_usd * 1e6 / ref.tasks:.0f}", f"{ref.mean_loss:.3f}"]
              for name, ref in ablation.reference.items()]
    return markdown_table(["features", *[f"AUC, {b} succeeds" for b in bidders], "AUC, gain", "passed",
                           "µ$ a task", "mean loss"], lines)


def block_commands(summaries: Summaries, runs: str) -> str:
    """The commands that replay the runs from the record (no pool needed), one a line."""
    names = runs.split(",")
    for name in names:
        summaries(name)  # a published run, with its report
    return "```bash\n" + "\n".join(summaries.runs[name].command() for name in names) + "\n```"


BLOCKS: dict[str, Callable[..., str]] = {
    "table": block_table, "bins": block_bins, "goals": block_goals, "skip": block_skip, "phases": block_phases,
    "forecast": block_forecast, "weights": block_weights, "commands": block_commands, "jury": block_jury,
    "break-even": block_break_even, "sessions": block_sessions, "dominance": block_dominance,
    "ablation": block_ablation, "intervals": block_intervals, "caps": block_caps, "pareto": block_pareto,
}


def render_document(text: str, summaries: Summaries, *, where: str = "document") -> str:
    """`text` with every report block made again from the summaries (see the module docstring)."""

    def render(match: re.Match[str]) -> str:
        kind = match.group("kind")
        block = f"{where}, block report:{kind}"
        if kind not in BLOCKS:
            raise AuctionConfigError("report", f"{block}: unknown block report:{kind}; known: {', '.join(BLOCKS)}")
        try:
            options = dict(item.split("=", 1) for item in shlex.split(match.group("args")))
        except ValueError as err:
            raise AuctionConfigError("report", f"{block}: options must be key=value: {err}") from err
        try:
            body = BLOCKS[kind](summaries, **options)
        except (TypeError, AuctionConfigError) as err:
            raise AuctionConfigError("report", f"{block}: {err}") from err
        indent = match.group("indent")  # a block inside a list item keeps the item's indentation
        lines = [f"{indent}{line}" if line else "" for line in body.splitlines()]
        opening = f"{indent}<!-- report:{kind}{match.group('args')}-->"
        return "\n".join([opening, *lines, f"{indent}<!-- /report -->"])

    return MARKER.sub(render, text)
