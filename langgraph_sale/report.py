"""A readable account of one auction, from its final state: bids, jury, score breakdown, winner, cost by phase."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph_sale.types import AuctionOutcome, Bid, JuryScore, ScoreBreakdown

__all__ = ["format_auction"]


def _first_lines(text: str, lines: int = 2, width: int = 100) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()][:lines]
    return " / ".join(line[:width] for line in kept)


def _label(bid: Bid) -> str:
    # A rewritten bid of the outbid round is told apart from the bidder's first one.
    return bid.bidder if bid.phase == "bid" else f"{bid.bidder}~r{bid.round}"


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_auction(state: Mapping[str, Any], *, baseline_cost_usd: float | None = None,
                   baseline_name: str = "the largest bidder alone") -> str:
    """Render an auction's final state as plain text.

    Args:
        state: The auction graph's output (or a host state holding `auction_outcome`), or a state read mid-run.
        baseline_cost_usd: Optional cost of a baseline run (e.g. the largest model alone) to compare with.
        baseline_name: How to name that baseline.

    Examples:
        >>> from langgraph_sale import create_auction
        >>> from langgraph_sale.testing import fake_pool
        >>> state = create_auction(fake_pool()).compile().invoke({"auction_task": "Sort a list."})
        >>> "Winner: small" in format_auction(state)
        True
    """
    raw_outcome = state.get("auction_outcome") or {}
    # A finished auction's outcome carries the audit; a state read mid-run (a checkpoint) has it in its own keys.
    audit = raw_outcome if "status" in raw_outcome else {"bids": state.get("auction_bids", []),
                                                         "jury": state.get("auction_jury", []),
                                                         "scores": state.get("auction_scores") or {}}
    bids = [Bid.model_validate(b) for b in audit["bids"]]
    jury = [JuryScore.model_validate(j) for j in audit["jury"]]
    scores = {name: ScoreBreakdown.model_validate(s) for name, s in audit["scores"].items()}
    outcome = AuctionOutcome.model_validate(raw_outcome) if "status" in raw_outcome else None
    task = raw_outcome.get("task") or state.get("auction_task") or ""
    out = [f"Task: {_first_lines(task, 3, 120)}", *_bid_lines(bids), *_jury_lines(bids, jury),
           *_score_lines(scores)]
    if outcome is not None:
        out += [*_outcome_lines(outcome), *_cost_lines(outcome, baseline_cost_usd, baseline_name)]
    return "\n".join(out)


def _bid_lines(bids: list[Bid]) -> list[str]:
    out = ["", "Bids"]
    for bid in bids:
        if bid.ok:
            flag = " (estimated)" if bid.usage.estimated else ""
            out.append(f"  {_label(bid):<16} {bid.plan_tokens:>5} tokens{flag}  entropy {_fmt(bid.entropy)}  "
                       f"{bid.latency_s:6.2f} s  | {_first_lines(bid.plan)}")
        else:
            out.append(f"  {_label(bid):<16} FAILED: {bid.error}")
    return out


def _jury_lines(bids: list[Bid], jury: list[JuryScore]) -> list[str]:
    if not jury:
        return ["", "Jury: no juror asked (jury=False, or every juror's weight is 0)"] if any(
            bid.ok for bid in bids) else []
    pool_order = {bid.bidder: index for index, bid in enumerate(bids)}
    jurors = sorted({j.juror for j in jury}, key=lambda name: pool_order.get(name, 0))
    out = ["", "Jury (rows: juror, columns: bid author, ~rN a rewritten bid; '-' = dropped)"]
    judged = [b for b in bids if b.ok]
    width = max([12, *(len(_label(b)) + 2 for b in judged)])
    label = max([14, *(len(j) + 2 for j in jurors)])
    out.append("  " + " " * label + "".join(f"{_label(b):>{width}}" for b in judged))
    for juror in jurors:
        row = {j.bid_id: j.score for j in jury if j.juror == juror}
        cells = "".join(f"{_fmt(row.get(b.id), 2) if b.id in row else '':>{width}}" for b in judged)
        out.append(f"  {juror:<{label}}" + cells)
    return out


def _score_lines(scores: Mapping[str, ScoreBreakdown]) -> list[str]:
    if not scores:
        return []
    out = ["", "Scores (score = C - V, V = H + J; lowest wins)",
           f"  {'bidder':<16}{'price':>8}{'tokens':>8}{'C':>9}{'H':>9}{'J':>9}{'score':>10}"]
    for name, s in sorted(scores.items(), key=lambda item: item[1].score):
        out.append(f"  {name:<16}{s.price_per_mtok:>8.3f}{s.plan_tokens:>8}{s.C:>9.4f}{s.H:>9.4f}{s.J:>9.4f}"
                   f"{s.score:>10.4f}")
    out.append(f"  entropy: {next(iter(scores.values())).entropy_note}")
    return out


def _outcome_lines(outcome: AuctionOutcome) -> list[str]:
    out = ["", f"Winner: {outcome.winner or 'none'} ({outcome.reason})"]
    if outcome.refine_rounds:
        out.append(f"Outbid round: {outcome.recalled} past auctions recalled; "
                   + (f"{outcome.outbid_by} took the win from {outcome.provisional_winner}" if outcome.outbid
                      else f"{outcome.provisional_winner} kept the win"))
    if outcome.answer is not None:
        out.append(f"Answer: {_first_lines(outcome.answer, 6, 120)}")
    if outcome.execution_error:
        out.append(f"Execution failed: {outcome.execution_error}")
    if outcome.success is not None:
        out.append(f"Success: {outcome.success}")
    return out


def _cost_lines(outcome: AuctionOutcome, baseline_cost_usd: float | None, baseline_name: str) -> list[str]:
    out = ["", "Cost by phase"]
    for phase, cost in outcome.cost_usd_by_phase.items():
        out.append(f"  {phase:<8} {outcome.tokens_by_phase.get(phase, 0):>7} tokens  ${cost:.8f}")
    out.append(f"  {'total':<8} {outcome.total_tokens:>7} tokens  ${outcome.total_cost_usd:.8f}")
    if outcome.overhead_cost_share is not None and outcome.overhead_token_share is not None:
        out.append(f"  auction overhead: {outcome.overhead_cost_share:.1%} of cost, "
                   f"{outcome.overhead_token_share:.1%} of tokens")
    if baseline_cost_usd is not None and baseline_cost_usd > 0:
        ratio = outcome.total_cost_usd / baseline_cost_usd
        out.append(f"  against {baseline_name}: ${baseline_cost_usd:.8f} -> auction total is {ratio:.2f}x")
    return out
