"""langgraph-sale: SALE (Strategy Auctions for Workload Efficiency) for LangGraph.

Every agent of a pool bids a short plan; a jury of the agents scores the bids; each bid's score is cost minus value;
the winner executes the task in its own subgraph, guided by its plan.

Examples:
    >>> from langgraph_sale import create_auction
    >>> from langgraph_sale.testing import fake_pool
    >>> app = create_auction(fake_pool()).compile(name="auction")
    >>> app.invoke({"auction_task": "Sort a list."})["auction_winner"]
    'small'
"""

from langgraph_sale.bidder import Bidder
from langgraph_sale.errors import AuctionConfigError, AuctionInputError
from langgraph_sale.escalation import Escalate
from langgraph_sale.graph import create_auction, route_to_winner
from langgraph_sale.memory import AuctionMemory
from langgraph_sale.node import AuctionNode
from langgraph_sale.options import AuctionOptions
from langgraph_sale.pricing import Pricing
from langgraph_sale.scoring import AuctionWeights, CostValueScorer
from langgraph_sale.skipping import SkipAuction
from langgraph_sale.state import AuctionState
from langgraph_sale.types import AuctionOutcome
from langgraph_sale.value import ValueModel, ValueScorer

# What a user builds an auction with. The records in state are in `langgraph_sale.types` (Bid, JuryScore,
# ScoreBreakdown, CallUsage), memory's in `langgraph_sale.memory` (AuctionRecord), the errors in
# `langgraph_sale.errors`, the phases in `langgraph_sale.phases`.
__all__ = [
    "Bidder",
    "Pricing",
    "AuctionOptions",
    "create_auction",
    "AuctionNode",
    "route_to_winner",
    "AuctionState",
    "AuctionOutcome",
    "AuctionMemory",
    "SkipAuction",
    "Escalate",
    "AuctionWeights",
    "CostValueScorer",
    "ValueModel",
    "ValueScorer",
    "AuctionConfigError",
    "AuctionInputError",
]
