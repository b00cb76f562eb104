"""Training examples for `langgraph_sale.fit` from a bench run: the auctions' bid features beside every agent's
execution outcome on the same task.

A bench run that includes `alone` and a SALE method holds, for each task, every bidder's first bid as the scorer
saw it (cost feature, entropy feature, each juror's score; stored in the SALE rows' `extra.bids`) and every agent's
own execution of the task (the `alone_<agent>` rows: passed or not, and its cost). One `FitExample` per task pairs
them, with what each juror's calls cost in that auction (the fit charges a juror's calls wherever it gives
the juror a weight). The execution is the agent's plain run, not the plan-guided run it would make as a winner: the one
execution every agent makes of every task in a bench run, and the outcome a routing decision is about.

    langgraph-sale fit --from-bench bench-results/coding-local --split train --out weights.json

With `memory_k`, each candidate also gets the learned value's memory feature (`value_fit.memory_rates`): its success
rate on the `memory_k` most similar other tasks of the split, by the run's own task embeddings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langgraph_sale.bench.data import DOMAINS, load_suite, split_name, split_of
from langgraph_sale.bench.meter import read_jsonl
from langgraph_sale.bench.methods import alone_agent
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.fit_examples import FitCandidate, FitExample

__all__ = ["fit_examples"]


def _rows(run: Path) -> list[dict[str, Any]]:
    path = run / "rows.jsonl"
    if not path.is_file():
        raise AuctionConfigError("--from-bench", f"{run} holds no rows.jsonl: not a bench run folder")
    return [row for row in read_jsonl(path).values() if "task_id" in row]


def _jury_cost_by_juror(row: dict[str, Any]) -> dict[str, float]:
    """The auction's jury cost, split over the jurors who scored: the row records only the total, and every juror
    reads the same prompts (each bid, once), so each one's share goes with its price."""
    total = float((row.get("cost_usd") or {}).get("jury", 0.0))
    prices = {bid["bidder"]: bid["price_per_mtok"] for bid in row["extra"]["bids"]}
    asked = {juror for bid in row["extra"]["bids"] for juror, score in (bid.get("jury") or {}).items()
             if score is not None and juror in prices}
    paid = sum(prices[juror] for juror in asked)
    return {juror: total * prices[juror] / paid for juror in sorted(asked)} if paid > 0 else {}


def _task_vectors(run: Path, task_ids: list[str], domain: str | None) -> list[list[float]]:
    """The tasks' embeddings, by the suite and the embedder the run recorded in its meta.json."""
    from langgraph_sale.bench.runner import make_embeddings

    try:
        fingerprint = json.loads((run / "meta.json").read_text(encoding="utf-8"))["fingerprint"]
    except (OSError, ValueError, KeyError) as err:
        raise AuctionConfigError("--memory-k", f"{run}/meta.json does not say the run's suite and embedder: {err}"
                                 ) from err
    suite = load_suite(fingerprint["suite"], domains=DOMAINS if domain is None else (domain,))
    texts = {task.id: task.text for tasks in suite.tasks.values() for task in tasks}
    missing = [task_id for task_id in task_ids if task_id not in texts]
    if missing:
        raise AuctionConfigError("--memory-k", f"the {fingerprint['suite']} suite has no task {missing[0]!r}")
    return make_embeddings(fingerprint.get("embedder", "hashing")).embed_documents([texts[t] for t in task_ids])


def fit_examples(run: str | Path, *, split: str = "train", method: str = "sale_nomem",
                 domain: str | None = None, memory_k: int | None = None) -> list[FitExample]:
    """One `FitExample` per task of `split` on which `method` held an auction and every bidder ran alone.

    Raises:
        AuctionConfigError: When the folder is not a run, or holds no usable task (naming what is missing).

    Examples:
        >>> import tempfile, pathlib
        >>> from langgraph_sale.bench.runner import BenchConfig, run_bench
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> _ = run_bench(BenchConfig(out=out, domains=("coding",), methods=("alone", "sale_nomem"), orders=1,
        ...                           progress=False), echo=lambda text: None)
        >>> examples = fit_examples(out, split="all")
        >>> len(examples), [c.bidder for c in examples[0].candidates]
        (6, ['small', 'medium', 'large'])
    """
    run = Path(run)
    auctions: dict[str, dict[str, Any]] = {}
    alone: dict[tuple[str, str], dict[str, Any]] = {}
    for row in _rows(run):
        if domain is not None and row.get("domain") != domain:
            continue
        if split != "all" and split_of(row["task_id"]) != split_name(split):
            continue
        if row["method"] == method and (row.get("extra") or {}).get("bids"):
            auctions.setdefault(row["task_id"], row)
        elif (agent := alone_agent(row["method"])) is not None:
            alone.setdefault((row["task_id"], agent), row)
    examples = []
    for task_id, row in auctions.items():
        bids = row["extra"]["bids"]
        runs = [alone.get((task_id, bid["bidder"])) for bid in bids]
        if any(r is None for r in runs):
            continue  # a bidder that did not run alone on this task: no outcome to learn from
        examples.append(FitExample(task_id=task_id, jury_cost_usd=_jury_cost_by_juror(row),
                                   task_chars=row["extra"].get("task_chars"), candidates=[
            FitCandidate(bidder=bid["bidder"], price_per_mtok=bid["price_per_mtok"], cost_feature=bid["cost_feature"],
                         entropy_feature=bid.get("entropy_feature"), jury=bid.get("jury") or {},
                         plan_tokens=bid.get("plan_tokens"),
                         success=bool(r["passed"]), cost_usd=sum((r.get("cost_usd") or {}).values()))
            for bid, r in zip(bids, runs, strict=True) if r is not None]))
    if not examples:
        raise AuctionConfigError("--from-bench", f"no task of split {split!r} in {run} has both a {method} auction "
                                 "and every bidder's alone run: run the bench with --methods alone," + method)
    if memory_k is not None:
        from langgraph_sale.value_fit import memory_rates

        return memory_rates(examples, _task_vectors(run, [e.task_id for e in examples], domain), k=memory_k)
    return examples
