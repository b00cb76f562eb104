"""The auction's graph state: every key but `messages` is prefixed `auction_`, so it drops into host graphs.

Keys written by parallel branches (`auction_bids`, `auction_jury`) have a reducer that merges records by id and
starts afresh when a new auction begins: a checkpointed thread never mixes two auctions' bids, and a host graph
that declares the same keys receives the subgraph's final list without duplicates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.channels.last_value import LastValue
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from langgraph_sale.errors import AuctionInputError

__all__ = ["AuctionState", "AuctionInput", "AuctionOutput", "BidRequest", "JudgeRequest", "merge_records",
           "run_setting", "check_task_text", "AUCTION_KEYS", "OUTPUT_KEYS"]


def check_task_text(value: Any) -> None:
    r"""Refuse task text that no checkpointer can store and no model can read: a NUL character (PostgreSQL's JSON
    cannot hold it) or an unpaired surrogate (an undecodable byte; not UTF-8).

    Raises:
        AuctionInputError: Naming `auction_task` and the position of the offending character.

    Examples:
        >>> check_task_text("Sort a list.")
        >>> check_task_text("Sort\x00 a list.")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        langgraph_sale.errors.AuctionInputError: auction_task: holds a NUL character at position 4, ...
    """
    if not isinstance(value, str):
        return
    if "\x00" in value:
        raise AuctionInputError("auction_task", f"holds a NUL character at position {value.index(chr(0))}, which "
                                "checkpointers (PostgreSQL JSON) cannot store; remove it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise AuctionInputError("auction_task", f"holds an unpaired surrogate at position {err.start} (an "
                                "undecodable byte), which is not UTF-8: decode the input with errors='replace'"
                                ) from None


class TaskChannel(LastValue[Any]):
    """`auction_task`'s channel: a `LastValue` that checks each write (`check_task_text`) as it is applied, before
    the step is checkpointed, so bad text is a typed error and not a database error at the end of the run."""

    def update(self, values: Sequence[Any]) -> bool:
        for value in values:
            check_task_text(value)
        return super().update(values)


def merge_records(
    left: Sequence[dict[str, Any]] | None, right: Sequence[dict[str, Any]] | None
) -> list[dict[str, Any]]:
    """Reducer for record lists: merge by `id` (a re-sent record replaces itself), keep only the newest auction.

    Examples:
        >>> a = [{"id": "1", "auction_id": "x"}]
        >>> merge_records(a, [{"id": "1", "auction_id": "x"}, {"id": "2", "auction_id": "x"}])
        [{'id': '1', 'auction_id': 'x'}, {'id': '2', 'auction_id': 'x'}]
        >>> merge_records(a, [{"id": "3", "auction_id": "y"}])
        [{'id': '3', 'auction_id': 'y'}]
    """
    left = list(left or [])
    right = list(right or [])
    if not right:
        return left
    current = right[-1].get("auction_id")
    merged: dict[Any, dict[str, Any]] = {}
    for record in left + right:
        if record.get("auction_id") != current:
            continue
        merged[record.get("id")] = record
    return list(merged.values())


class AuctionState(TypedDict, total=False):
    """The state of an auction graph (and the keys a host graph declares to see the auction's results).

    Examples:
        >>> from langgraph_sale.state import AuctionState
        >>> class HostState(AuctionState):
        ...     task: str  # a host key of its own; the auction never touches it
        >>> "auction_winner" in HostState.__annotations__
        True
    """

    messages: Annotated[list[AnyMessage], add_messages]
    """The winner's answer is appended as one `AIMessage(name=<bidder>)`; bids never go here."""
    auction_task: Annotated[str | None, TaskChannel(str)]
    """The task text; when absent (or left from the previous auction while a new human message arrived), the last
    human message."""
    auction_id: str
    auction_bids: Annotated[list[dict[str, Any]], merge_records]
    """One `Bid` per bidder and phase (JSON dicts)."""
    auction_jury: Annotated[list[dict[str, Any]], merge_records]
    """One `JuryScore` per (juror, bid); the usage of a batched request is carried by the first of its judgments."""
    auction_scores: dict[str, dict[str, Any]]
    """Per bidder, the `ScoreBreakdown` of its latest bid."""
    auction_provisional: str | None
    auction_winner: str | None
    auction_plan: str | None
    auction_usage: dict[str, dict[str, Any]]
    """Per phase (bid, jury, refine, execute), a `CallUsage`: tokens, dollars, calls, estimated."""
    auction_cost_usd: dict[str, float]
    """Per phase, dollars; plus `total`."""
    auction_execution: dict[str, Any]
    """The winner's run: answer, usage, wall time, error (internal routing only). With `escalate`, the run whose
    answer stands (of the bidder the task was last handed to), the runs a check rejected before it (`rejected`),
    and the check's verdict (`checked`)."""
    auction_clock: dict[str, float]
    """Wall-clock marks of the phases (epoch seconds), for the overhead share of time."""
    auction_outcome: dict[str, Any]
    """The `AuctionOutcome` of the last auction to finish (empty while one runs): winner, plan, cost by phase,
    overhead share, success."""
    auction_run: dict[str, Any]
    """The running auction's notes for its outcome, each written where it is decided: where the task came from,
    why the winner won (`reason`), how it ended where that is decided before execution (`status`: over_budget,
    no_bids, rejected), whether memory skipped it or the fallback runs, and who approved it."""
    auction_budget: dict[str, Any]
    """The task's budget and each bidder's expected execution cost (empty without a budget)."""
    auction_refine: dict[str, Any]
    """The outbid round in progress: its number, the past auctions recalled, and each eligible bidder's request."""


AUCTION_KEYS: tuple[str, ...] = tuple(AuctionState.__annotations__)
"""Every key of the auction's own state."""


class AuctionInput(TypedDict, total=False):
    """What an auction reads from its caller: the task, as `auction_task` or as the last human message.

    Examples:
        >>> sorted(AuctionInput.__annotations__)
        ['auction_task', 'messages']
    """

    messages: Annotated[list[AnyMessage], add_messages]
    auction_task: Annotated[str | None, TaskChannel(str)]


class AuctionOutput(TypedDict, total=False):
    """What an auction hands back: the winner's answer in `messages`, the winner, its plan, and the outcome with
    the audit (every bid's score terms, the jury, the ledger). Bids, jury, scores and the run's notes stay inside.

    Examples:
        >>> sorted(AuctionOutput.__annotations__)
        ['auction_outcome', 'auction_plan', 'auction_winner', 'messages']
    """

    messages: Annotated[list[AnyMessage], add_messages]
    auction_winner: str | None
    auction_plan: str | None
    auction_outcome: dict[str, Any]


OUTPUT_KEYS: tuple[str, ...] = tuple(AuctionOutput.__annotations__)
"""The keys an auction hands back (`AuctionOutput`); a host declares those it wants to receive."""


def run_setting(context: Any, config: Mapping[str, Any] | None, key: str) -> Any:
    """A per-run setting: the run context's field `key` (a mapping key or an attribute), else
    `config["configurable"][key]`; None when neither has it.

    Examples:
        >>> run_setting({"user_id": "ada"}, None, "user_id"), run_setting(None, {"configurable": {"k": 1}}, "k")
        ('ada', 1)
    """
    value = context.get(key) if isinstance(context, Mapping) else getattr(context, key, None)
    if value is None and config is not None:
        value = (config.get("configurable") or {}).get(key)
    return value


class BidRequest(TypedDict):
    """The payload of one `Send` to the bid node. In an outbid round it carries the bidder's current plan and the
    recalled (losing, winning) plan pairs; a first bid has them empty."""

    auction_id: str
    bidder: str
    task: str
    phase: str
    round: int
    current_plan: str
    contrast: list[dict[str, Any]]


class JudgeRequest(TypedDict):
    """The payload of one `Send` to the judge node: one juror and the bids it judges (every bid of the round it
    sits on the panel of, with `jury_batch`; one bid otherwise)."""

    auction_id: str
    juror: str
    task: str
    bids: list[dict[str, Any]]
