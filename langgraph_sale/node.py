"""`AuctionNode`: the auction as an object to compile into a host graph or to hand to an agent as a tool."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.graph import StateGraph
from pydantic import BaseModel, Field

from langgraph_sale.bidder import Bidder
from langgraph_sale.errors import AuctionConfigError, AuctionInputError
from langgraph_sale.graph import create_auction

__all__ = ["AuctionNode", "DEFAULT_TOOL_DESCRIPTION"]

DEFAULT_TOOL_DESCRIPTION = (
    "Hand a self-contained task to a pool of agents of different sizes and prices. Each agent bids a short plan; "
    "the best plan per cost wins, and its author does the task and returns the answer. Use it for work that a "
    "cheaper agent may do as well as an expensive one."
)


class _AuctionToolInput(BaseModel):
    task: str = Field(description="The complete, self-contained task to do.")


class AuctionNode:
    """The auction, ready to compile as a node of a host graph or to wrap as a tool.

    Args:
        bidders: The pool.
        **options: Any keyword option of `create_auction`.

    Example:
        >>> from langgraph_sale import AuctionNode
        >>> from langgraph_sale.testing import fake_pool
        >>> auction = AuctionNode(fake_pool())
        >>> app = auction.compile()
        >>> app.name
        'auction'
        >>> tool = auction.as_tool()
        >>> tool.invoke({"task": "Deduplicate and sort a list of integers."}).startswith("def solve")
        True
    """

    def __init__(self, bidders: Sequence[Bidder], **options: Any) -> None:
        self.bidders = list(bidders)
        self.options = dict(options)
        self.builder: StateGraph[Any, Any, Any, Any] = create_auction(self.bidders, **options)
        self._tool_graph: Any = None

    def compile(self, *, name: str = "auction", **compile_kwargs: Any) -> Any:
        """Compile the auction graph (`StateGraph.compile`), named "auction" unless told otherwise.

        Give two auctions in one host different names: `AuctionNode(...).compile(name="code_auction")`.

        The compiled graph runs up to |A|^2 tasks at once (the jury's fan-out): LangGraph's sync `invoke` otherwise
        uses a thread pool of `cpu_count + 4` workers, which serialises a jury on a small machine into waves
        (measured in benchmarks/bench_overhead.py). Per-server caps belong on the bidders (`CallLimiter`).
        """
        compiled = self.builder.compile(name=name, **compile_kwargs)
        return compiled.with_config(max_concurrency=max(4, len(self.bidders) ** 2))

    def as_tool(
        self,
        *,
        name: str = "run_auction",
        description: str = DEFAULT_TOOL_DESCRIPTION,
        **compile_kwargs: Any,
    ) -> BaseTool:
        """Wrap the auction as a tool whose one argument is the task and whose result is the winner's answer.

        Called with a tool call (as a `ToolNode` does), it returns a `ToolMessage` whose content is the answer and
        whose `artifact` is the `auction_outcome` (winner, cost by phase, overhead): the caller's graph can keep the
        account without the model reading it. The auction's custom events reach the caller's stream with
        `stream(..., subgraphs=True)`.

        Needs `route="internal"` (the auction must run the winner to have an answer). Inside a graph the tool's
        auction runs as a subgraph of the caller, so its stream events and the caller's store reach it.

        Raises:
            AuctionConfigError: When the auction was built with another route.
        """
        if self.options.get("route", "internal") != "internal":
            raise AuctionConfigError("route", "as_tool() needs route='internal': only then does the auction answer")
        graph = self.builder.compile(name=name, **compile_kwargs)

        def answer_of(result: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            outcome = result.get("auction_outcome") or {}
            if outcome.get("answer") is None:
                return (f"The auction produced no answer ({outcome.get('status')}: {outcome.get('reason')}).",
                        outcome)
            return str(outcome["answer"]), outcome

        def run(task: str, config: RunnableConfig) -> tuple[str, dict[str, Any]]:
            if not isinstance(task, str) or not task.strip():
                raise AuctionInputError("task", "must be non-empty text")
            return answer_of(graph.invoke({"auction_task": task, "messages": []}, config))

        async def arun(task: str, config: RunnableConfig) -> tuple[str, dict[str, Any]]:
            if not isinstance(task, str) or not task.strip():
                raise AuctionInputError("task", "must be non-empty text")
            return answer_of(await graph.ainvoke({"auction_task": task, "messages": []}, config))

        return StructuredTool.from_function(
            func=run, coroutine=arun, name=name, description=description, args_schema=_AuctionToolInput,
            response_format="content_and_artifact",
        )
