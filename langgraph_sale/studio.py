"""Graphs for LangGraph Studio and `langgraph dev` (see `langgraph.json` at the repository root).

They build at import with no checkpointer (the server brings its own persistence and refuses graphs that carry
one) and no API key: the pool is the scripted fake pool, whose calls take a little time so the phases can be
watched in Studio.

Example:
    >>> from langgraph_sale import studio
    >>> {"bid", "judge", "score", "execute_small"} <= set(studio.auction.get_graph().nodes)
    True
"""

from __future__ import annotations

from langgraph_sale.graph import create_auction
from langgraph_sale.testing import fake_pool

__all__ = ["auction", "decide_auction"]

_LATENCY_S = 0.05

auction = create_auction(fake_pool(latency_s=_LATENCY_S)).compile(name="auction")
"""The full auction on the fake pool: bids, jury, scores, and the winner's execution."""

decide_auction = create_auction(fake_pool(latency_s=_LATENCY_S), route="decide").compile(name="decide_auction")
"""The decision only (route="decide"): bids, jury, scores and the winner, for a host graph to route on."""
