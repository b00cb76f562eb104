"""Typed errors raised by the auction.

Every error names the field or input that is wrong, so a misconfigured pool fails where it is built (or where a
run starts) instead of deep inside a parallel branch.
"""

from __future__ import annotations

__all__ = ["AuctionConfigError", "AuctionInputError", "BidTimeoutError"]


class AuctionConfigError(ValueError):
    """The pool or an auction option is invalid; raised when the graph is built.

    Example:
        >>> from langgraph_sale.errors import AuctionConfigError
        >>> try:
        ...     raise AuctionConfigError("bidders", "the pool is empty")
        ... except AuctionConfigError as err:
        ...     print(err.field)
        bidders
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class AuctionInputError(AuctionConfigError):
    """The run's input is invalid (for example an empty task); raised when the run starts.

    Example:
        >>> from langgraph_sale.errors import AuctionInputError
        >>> str(AuctionInputError("auction_task", "must be non-empty text"))
        'auction_task: must be non-empty text'
    """


class BidTimeoutError(Exception):
    """A model call of the auction (a bid or a jury judgment) ran past its timeout.

    Not a subclass of `TimeoutError` on purpose: LangGraph's default `RetryPolicy` does not retry `OSError`
    (and so not `TimeoutError`), while a slow model server is exactly what a retry should cover.

    Example:
        >>> from langgraph_sale.errors import BidTimeoutError
        >>> str(BidTimeoutError("small", 5.0))
        'small did not answer within 5.0 s'
    """

    def __init__(self, bidder: str, timeout_s: float) -> None:
        self.bidder = bidder
        self.timeout_s = timeout_s
        super().__init__(f"{bidder} did not answer within {timeout_s} s")
