"""The stream experiment: does the cheapest bidder win more often as the auction memory grows?

The paper's feedback loop (docs/method.md §2.8, §5.7): every auction is written to memory; on a new task, bidders
cheaper than the provisional winner recall similar past auctions as (losing plan, winning plan) pairs and rewrite
their bids. With memory the cheap agents' cumulative win share rises over the stream; without it, it stays flat.

This script runs the same stream of tasks twice through the real auction graph (`create_auction`): once with an
`AuctionMemory` over an `InMemoryStore` indexed with `HashingEmbeddings`, once without memory. Only the models are
fake (`ScriptedChatModel`):

- **Tasks.** Eight task families (sorting, CSV statistics, SQL, web lookup, regular expressions, HTTP APIs, date
  arithmetic, unit conversion), each a template with random slots, drawn in shuffled rounds so that every family
  recurs about every eight tasks with different wording.
- **Jury.** One rubric shared by all jurors: each family has key steps a good plan must contain (for unit
  conversion: none beyond checking the result). A plan scores 5 minus one per missing key step (at least 1). The
  juror reads the task from the plan's first step ("Restate the goal: ...").
- **Bidders.** small ($0.05/Mt) writes a generic plan, which only the unit-conversion family accepts; medium
  ($0.16/Mt) knows all key steps of two families (CSV, regex) and at most one elsewhere; large ($0.54/Mt) knows
  every key step and adds two more steps of its own. Without memory, small wins unit conversion, medium CSV and
  regex, large the rest: 1/8, 2/8 and 5/8 of the stream.
- **Learning, honestly.** In the outbid round small and medium answer from the refine prompt alone: they keep
  the recalled pairs whose past task shares enough content words with the new task, and adopt a step only when
  at least two WINNING plans of those similar tasks contain it. Nothing else is shared between the fakes and the
  jury; a bidder whose recalled winners disagree, or who recalls too few similar tasks, rewrites nothing new.

    .venv/bin/python benchmarks/stream_memory.py                      # 100 tasks, seed 0
    .venv/bin/python benchmarks/stream_memory.py --tasks 50 --seed 3
    .venv/bin/python benchmarks/stream_memory.py --plot stream.png    # also a plot (needs matplotlib)

The script prints Markdown tables and always exits 0.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from langgraph.store.memory import InMemoryStore

from langgraph_sale import AuctionMemory, Bidder, create_auction
from langgraph_sale.prompts import REVISED_PLAN
from langgraph_sale.testing import HashingEmbeddings, ScriptedChatModel

PRICES = {"small": 0.05, "medium": 0.16, "large": 0.54}
CHEAPEST = "small"
LARGEST = "large"
EMBED_DIMS = 256
SIMILAR = 0.2
"""Jaccard similarity of content words above which a learner treats a recalled task as like the new one."""
MIN_SUPPORT = 2
"""Winning plans of similar tasks that must share a step before a learner adopts it."""
MAX_STEPS = 6
RESTATE = "Restate the goal:"
CHECK = "Check the result against the task."


@dataclass(frozen=True)
class Family:
    """A kind of task: a template with slots, and the key steps the jury's rubric asks a plan for."""

    name: str
    template: str
    slots: dict[str, tuple[str, ...]]
    key_steps: tuple[str, ...]
    medium_knows: int
    """How many of the key steps medium's own plan has."""

    def task(self, rng: random.Random) -> str:
        return self.template.format(**{slot: rng.choice(values) for slot, values in self.slots.items()})


FAMILIES: tuple[Family, ...] = (
    Family(
        "sort",
        "Deduplicate and sort a list of {n} {items} loaded from {source}.",
        {"n": ("200", "5,000", "80,000", "1 million"),
         "items": ("email addresses", "product codes", "usernames", "integers", "ISBN numbers"),
         "source": ("a text file", "an S3 bucket", "a spreadsheet", "a REST endpoint")},
        ("Normalise the values (trim spaces, one letter case) before comparing them.",
         "Write unit tests for empty input, duplicates and a single element.",
         "Run the tests with the Python tool and fix the code until they pass."),
        1,
    ),
    Family(
        "csv",
        "Compute the mean and median of column '{column}' in the CSV export {file}.",
        {"column": ("price", "latency_ms", "age", "revenue", "rating"),
         "file": ("sales_2023.csv", "requests.csv", "survey.csv", "orders_q4.csv")},
        ("Load the file with the csv module and detect the delimiter and header.",
         "Skip the rows whose value does not parse as a number, and count them.",
         "Recompute both statistics with a second method to cross-check them."),
        3,
    ),
    Family(
        "sql",
        "Write a SQL query returning the top {n} {entity} by {metric} during {period}.",
        {"n": ("3", "5", "10", "20"), "entity": ("customers", "products", "stores", "sales reps"),
         "metric": ("total revenue", "order count", "average basket size", "refund rate"),
         "period": ("last month", "2023", "the holiday season", "each quarter")},
        ("Inspect the schema to find the tables, join keys and the date column.",
         "Run the query on a small sample with the SQL tool and read the rows.",
         "Decide how ties and NULL values in the ranking column are ordered."),
        1,
    ),
    Family(
        "lookup",
        "Find the year when {person} {event}, and cite a reliable source.",
        {"person": ("Ada Lovelace", "Alan Turing", "Grace Hopper", "Claude Shannon", "John von Neumann"),
         "event": ("published a first paper", "moved to a new city", "received a major award",
                   "started a famous project")},
        ("Search the web with two differently worded queries.",
         "Open at least two independent sources and compare the dates they give.",
         "Quote the sentence that states the year in the answer."),
        1,
    ),
    Family(
        "regex",
        "Write a regular expression matching {thing} inside {context}.",
        {"thing": ("ISO 8601 dates", "IPv4 addresses", "hex colour codes", "UK postcodes", "semantic versions"),
         "context": ("server log lines", "free-form emails", "Markdown documents", "JSON strings")},
        ("List matching and non-matching examples before writing the pattern.",
         "Test the pattern with the Python tool on every example.",
         "Anchor the pattern and escape its special characters."),
        3,
    ),
    Family(
        "http",
        "Fetch {resource} from the {api} API and summarise their {field} field.",
        {"resource": ("the latest releases", "open issues", "recent orders", "active users"),
         "api": ("GitHub", "Stripe", "Shopify", "internal billing"),
         "field": ("status", "created_at", "amount", "labels")},
        ("Read the API documentation for authentication, rate limits and pagination.",
         "Handle HTTP errors and retry on timeouts with backoff.",
         "Validate every JSON response against the expected fields."),
        1,
    ),
    Family(
        "dates",
        "How many {unit} lie between {start} and {end}?",
        {"unit": ("days", "business days", "weeks", "hours"),
         "start": ("1 March 2020", "29 February 2024", "15 January 1999", "31 December 2010"),
         "end": ("4 July 2021", "1 January 2030", "20 August 2001", "1 June 2012")},
        ("Compute the difference with the datetime module, not by hand.",
         "Check leap years, time zones and whether both end dates count."),
        0,
    ),
    Family(
        "units",
        "Convert {amount} {source_unit} into {target_unit}.",
        {"amount": ("3.5", "12", "250", "0.75", "1,000"),
         "source_unit": ("miles", "pounds", "gallons", "feet", "Fahrenheit degrees"),
         "target_unit": ("kilometres", "kilograms", "litres", "metres", "Celsius degrees")},
        (),
        0,
    ),
)

LARGE_EXTRAS = ("Compare two alternative approaches before committing to one.",
                "Write a short report of what was done and how it was verified.")
SMALL_STEPS = ("Work out the answer step by step.",)

_PAIR = re.compile(
    r"Past auction \d+\. Task:\n(?P<task>.*?)\nLOSING plan(?: \(yours\))?:\n<(?P<lt>plan-[0-9a-f]+)>\n.*?\n</(?P=lt)>\n"
    r"WINNING plan(?: \(yours\))?:\n<(?P<wt>plan-[0-9a-f]+)>\n(?P<winning>.*?)\n</(?P=wt)>",
    re.S,
)
_NEW_TASK = re.compile(r"New task:\n(?P<task>.*?)\n\n", re.S)
_CURRENT = re.compile(r"Your current plan:\n<(?P<tag>plan-[0-9a-f]+)>\n(?P<plan>.*?)\n</(?P=tag)>", re.S)
_STEP = re.compile(r"^\s*\d+\.\s*(.+?)\s*$", re.M)
_GOAL = re.compile(rf"{re.escape(RESTATE)}\s*(.+?)\s*$", re.M)
_STOP = frozenset("the and from into with when their during between inside what which".split())


# ---- plans, the jury and the learner -------------------------------------------------------------------------------
def numbered(steps: Sequence[str]) -> str:
    return "\n".join(f"{number}. {step}" for number, step in enumerate(steps, start=1))


def steps_of(plan: str) -> list[str]:
    """The steps of a numbered plan, without the task-specific restatement."""
    return [step for step in _STEP.findall(plan) if not step.startswith(RESTATE)]


def content_words(text: str) -> set[str]:
    return {word for word in re.findall(r"[a-z]+", text.lower()) if len(word) > 3 and word not in _STOP}


def similarity(a: str, b: str) -> float:
    left, right = content_words(a), content_words(b)
    return len(left & right) / len(left | right) if left | right else 0.0


def own_plan(bidder: str, family: Family, task: str) -> str:
    """The plan a bidder writes for a task on its own, before any outbid round."""
    if bidder == "large":
        steps = [*family.key_steps, *LARGE_EXTRAS]
    elif bidder == "medium":
        steps = [*family.key_steps[: family.medium_knows]]
    else:
        steps = list(SMALL_STEPS)
    return numbered([f"{RESTATE} {task}", *steps, CHECK])


def make_jury(task_family: dict[str, Family]) -> Callable[[str], int]:
    """The shared rubric: 5 minus one per key step of the task's family missing from the plan, at least 1."""

    def judge(plan: str) -> int:
        goal = _GOAL.search(plan)
        family = task_family.get(goal.group(1)) if goal else None
        if family is None:
            return 1  # a plan that does not say which task it is for
        lowered = plan.lower()
        missing = sum(1 for step in family.key_steps if step.lower() not in lowered)
        return max(1, 5 - missing)

    return judge


def learner(prompt: str) -> str:
    """A bidder's rewrite in the outbid round, computed from the refine prompt text and nothing else.

    It keeps the recalled auctions whose task is similar to the new one, and adopts the steps that at least
    `MIN_SUPPORT` of their winning plans share, in the order they first appear there.
    """
    new_task = (match.group("task") if (match := _NEW_TASK.search(prompt)) else "").strip()
    current = match.group("plan") if (match := _CURRENT.search(prompt)) else ""
    winners = [pair.group("winning") for pair in _PAIR.finditer(prompt)
               if similarity(pair.group("task"), new_task) >= SIMILAR]
    support: Counter[str] = Counter()
    order: dict[str, int] = {}
    for plan in winners:
        for step in dict.fromkeys(steps_of(plan)):
            support[step] += 1
            order.setdefault(step, len(order))
    adopted = sorted((step for step, count in support.items() if count >= MIN_SUPPORT and step != CHECK),
                     key=order.__getitem__)[: MAX_STEPS - 2]
    if not adopted:
        return f"Too few similar winning plans to learn from.\n{REVISED_PLAN}\n{current}"
    analysis = (f"The {len(winners)} winning plans of similar tasks share {len(adopted)} concrete steps that my "
                "plan lacked.")
    return f"{analysis}\n{REVISED_PLAN}\n{numbered([f'{RESTATE} {new_task}', *adopted, CHECK])}"


# ---- the stream ----------------------------------------------------------------------------------------------------
def make_stream(count: int, seed: int) -> list[tuple[Family, str]]:
    """`count` distinct tasks in shuffled rounds of the families (each family once per round)."""
    rng = random.Random(seed)
    stream: list[tuple[Family, str]] = []
    seen: set[str] = set()
    while len(stream) < count:
        families = list(FAMILIES)
        rng.shuffle(families)
        for family in families[: count - len(stream)]:
            for _ in range(100):
                task = family.task(rng)
                if task not in seen:
                    break
            seen.add(task)
            stream.append((family, task))
    return stream


def make_pool(stream: Sequence[tuple[Family, str]], execution_words: int) -> list[Bidder]:
    """The three fake bidders; each bids its own plan for the stream's tasks, in stream order (one bid each)."""
    judge = make_jury({task: family for family, task in stream})
    pool = []
    for name, price in PRICES.items():
        answer = f"Answer by {name}: " + " ".join(["step"] * execution_words)
        plans = [own_plan(name, family, task) for family, task in stream]
        model = ScriptedChatModel(plans=plans, jury=judge, answers=[answer],
                                  refinements=learner if name != LARGEST else None, confidence=0.8,
                                  name_hint=name)
        pool.append(Bidder(name, model, price_per_mtok=price, description=f"the {name} model of the pool"))
    return pool


@dataclass
class StreamRun:
    """The outcomes of one pass over the stream."""

    label: str
    winners: list[str] = field(default_factory=list)
    outbid_rounds: int = 0
    outbid_wins: int = 0
    cost_usd: float = 0.0
    overhead_usd: float = 0.0
    winner_prices: float = 0.0
    """Sum over the stream of the executing bidder's price ($/Mt): what one more execution token per task costs."""
    wall_s: float = 0.0

    def share(self, bidder: str, start: int = 0, stop: int | None = None) -> float:
        window = self.winners[start:stop]
        return sum(1 for winner in window if winner == bidder) / len(window) if window else 0.0

    def cumulative(self, bidder: str) -> list[float]:
        wins, shares = 0, []
        for number, winner in enumerate(self.winners, start=1):
            wins += winner == bidder
            shares.append(wins / number)
        return shares


def run_stream(stream: Sequence[tuple[Family, str]], *, with_memory: bool, execution_words: int) -> StreamRun:
    pool = make_pool(stream, execution_words)
    memory = AuctionMemory(k=8) if with_memory else None
    store = InMemoryStore(index={"dims": EMBED_DIMS, "embed": HashingEmbeddings(EMBED_DIMS)}) if with_memory else None
    app = create_auction(pool, memory=memory).compile(store=store)
    run = StreamRun("with memory" if with_memory else "without memory")
    started = time.perf_counter()
    for _, task in stream:
        result = app.invoke({"auction_task": task})
        outcome = result["auction_outcome"]
        # The fakes bid the stream's plans in turn: a check that this auction got this task's plans.
        if any(RESTATE + " " + task not in bid["plan"] for bid in outcome["bids"] if bid["phase"] == "bid"):
            raise RuntimeError(f"the fake bids are out of step with the stream at {task!r}")
        run.winners.append(outcome["winner"])
        run.outbid_rounds += outcome["refine_rounds"] > 0
        run.outbid_wins += bool(outcome["outbid"])
        run.cost_usd += outcome["total_cost_usd"]
        run.overhead_usd += sum(cost for phase, cost in outcome["cost_usd_by_phase"].items() if phase != "execute")
        run.winner_prices += PRICES[outcome["winner"]]
    run.wall_s = time.perf_counter() - started
    return run


# ---- the report ----------------------------------------------------------------------------------------------------
def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def plot(runs: Sequence[StreamRun], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for run in runs:
        shares = run.cumulative(CHEAPEST)
        axes.plot(range(1, len(shares) + 1), [s * 100 for s in shares], label=run.label)
    axes.set_xlabel("task")
    axes.set_ylabel(f"{CHEAPEST}'s cumulative win share (%)")
    axes.set_title("The cheapest bidder over the task stream")
    axes.set_ylim(0, 100)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=100, help="tasks in the stream (at least 10; default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the task stream (default 0)")
    parser.add_argument("--every", type=int, default=10, help="checkpoint interval in tasks (default 10)")
    parser.add_argument("--execution-words", type=int, default=1000,
                        help="length of every fake execution answer in tokens (default 1000): what executing a task "
                             "costs next to the auction's bids, jury and rewrites")
    parser.add_argument("--plot", metavar="PATH", help="also write a PNG plot of the cumulative shares")
    args = parser.parse_args(argv)
    if args.tasks < 10:
        parser.error("--tasks must be at least 10")
    if args.execution_words < 1:
        parser.error("--execution-words must be at least 1")
    if args.every < 1:
        parser.error("--every must be at least 1")
    started = time.perf_counter()
    stream = make_stream(args.tasks, args.seed)
    with_memory = run_stream(stream, with_memory=True, execution_words=args.execution_words)
    without = run_stream(stream, with_memory=False, execution_words=args.execution_words)
    runs = (with_memory, without)
    total_s = time.perf_counter() - started

    command = f"cd {os.getcwd()} && " + shlex.join([os.path.relpath(sys.executable), *sys.argv])
    half = args.tasks // 2
    prices = ", ".join(f"{name} ${price}/Mt" for name, price in PRICES.items())
    print("## Memory stream experiment: the cheapest bidder's win share over a task stream\n")
    print(f"Command: `{command}`  ")
    print(f"{args.tasks} tasks from {len(FAMILIES)} families in shuffled rounds (seed {args.seed}); fake bidders "
          f"{prices}; the same stream with `AuctionMemory` (k=8, `InMemoryStore` + `HashingEmbeddings`) and without "
          f"memory; {total_s:.1f} s in all ({with_memory.wall_s:.1f} s with memory, {without.wall_s:.1f} s "
          "without).\n")
    print(f"### {CHEAPEST}'s cumulative win share\n")
    print("| after task | with memory | without memory |")
    print("|---:|---:|---:|")
    curves = {run.label: run.cumulative(CHEAPEST) for run in runs}
    checkpoints = [*range(args.every, args.tasks + 1, args.every)]
    if not checkpoints or checkpoints[-1] != args.tasks:
        checkpoints.append(args.tasks)
    for point in checkpoints:
        print(f"| {point} | {percent(curves[with_memory.label][point - 1])} "
              f"| {percent(curves[without.label][point - 1])} |")
    print("\n### Summary\n")
    print("| | with memory | without memory |")
    print("|---|---:|---:|")
    rows: list[tuple[str, Callable[[StreamRun], str]]] = [
        (f"{CHEAPEST}'s final win share", lambda run: percent(run.share(CHEAPEST))),
        (f"{CHEAPEST}'s win share, tasks 1-{half}", lambda run: percent(run.share(CHEAPEST, 0, half))),
        (f"{CHEAPEST}'s win share, tasks {half + 1}-{args.tasks}", lambda run: percent(run.share(CHEAPEST, half))),
        ("medium's final win share", lambda run: percent(run.share("medium"))),
        (f"{LARGEST}'s (largest) final win share", lambda run: percent(run.share(LARGEST))),
        ("auctions with an outbid round", lambda run: str(run.outbid_rounds)),
        ("auctions won by a rewritten bid", lambda run: str(run.outbid_wins)),
        ("total cost (bids, jury, rewrites, execution)", lambda run: f"${run.cost_usd:.6f}"),
        ("of which auction overhead (bids, jury, rewrites)", lambda run: f"${run.overhead_usd:.6f}"),
    ]
    for label, cell in rows:
        print(f"| {label} | {cell(with_memory)} | {cell(without)} |")
    change = with_memory.cost_usd / without.cost_usd - 1 if without.cost_usd else 0.0
    print(f"\nWith memory the stream cost {'more' if change > 0 else 'less'} than without: {change * 100:+.1f}%, "
          f"with every execution writing {args.execution_words} tokens.", end=" ")
    slope_gap = (without.winner_prices - with_memory.winner_prices) / 1e6  # $ per extra execution token per task
    if slope_gap > 0:
        even = args.execution_words + (with_memory.cost_usd - without.cost_usd) / slope_gap
        print(f"The outbid rounds and their re-judging pay for themselves once an execution writes more than "
              f"about {max(0.0, even):,.0f} tokens (the cheaper winners' saving grows with execution length, the "
              "auction's overhead does not).")
    else:
        print("Memory did not move executions to cheaper bidders, so it cannot pay for its outbid rounds.")
    if args.plot:
        plot(runs, args.plot)
        print(f"Plot written to {args.plot}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
