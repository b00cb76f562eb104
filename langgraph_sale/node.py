"""`AuctionNode`: the auction as one node of a host graph, or as a tool.

    builder = StateGraph(MessagesState)
    builder.add_node("auction", AuctionNode(pool))

The node runs the auction graph (`create_auction`) as a subgraph on the host's messages (or its `auction_task`),
sync or async, its events reaching the host's stream (`stream(..., subgraphs=True)`, `stream_mode="custom"`). It
hands back the winner's answer as one new message named after the winner, and, for a host that declares them,
`auction_winner`, `auction_plan` and `auction_outcome` (the audit: every bid's score terms, the cost by phase). The
rest of the auction's state (bids, jury, scores, scratch) stays inside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langgraph._internal._runnable import RunnableCallable
from langgraph.graph import StateGraph
from pydantic import BaseModel, Field

from langgraph_sale.bidder import Bidder
from langgraph_sale.errors import AuctionConfigError, AuctionInputError
from langgraph_sale.graph import create_auction, options_of
from langgraph_sale.options import AuctionOptions

__all__ = ["AuctionNode", "DEFAULT_TOOL_DESCRIPTION", "HANDED_BACK"]

DEFAULT_TOOL_DESCRIPTION = (
    "Hand a self-contained task to a pool of agents of different sizes and prices. Each agent bids a short plan; "
    "the best plan per cost wins, and its author does the task and returns the answer. Use it for work that a "
    "cheaper agent may do as well as an expensive one."
)
HANDED_BACK = ("auction_winner", "auction_plan", "auction_outcome")
"""What the node hands a host besides the answer message (a host that does not declare a key does not get it)."""


class _AuctionToolInput(BaseModel):
    task: str = Field(description="The complete, self-contained task to do.")


class AuctionNode(RunnableCallable):
    """The auction, as a node of a host graph (over `MessagesState` or the host's own state), or compiled, or as a
    tool.

    Args:
        bidders: The pool.
        options: The auction's options (`AuctionOptions`), or give its fields as keywords.
        name: The node's name, and the compiled graph's.
        **fields: `AuctionOptions` fields.

    Raises:
        AuctionConfigError: On an invalid pool or option, naming the field.

    Examples:
        >>> from langgraph.graph import START, MessagesState, StateGraph
        >>> from langgraph_sale import AuctionNode
        >>> from langgraph_sale.testing import fake_pool
        >>> builder = StateGraph(MessagesState)
        >>> _ = builder.add_node("auction", AuctionNode(fake_pool())).add_edge(START, "auction")
        >>> answer = builder.compile().invoke({"messages": [("user", "Sort a list.")]})["messages"][-1]
        >>> answer.name, answer.content.startswith("def solve")
        ('small', True)
    """

    def __init__(self, bidders: Sequence[Bidder], options: AuctionOptions | None = None, *, name: str = "auction",
                 **fields: Any) -> None:
        self.bidders = list(bidders)
        self.options = options_of(options, fields)
        self.builder: StateGraph[Any, Any, Any, Any] = create_auction(self.bidders, self.options)
        self.graph = self.compile(name=name)
        super().__init__(self._call, self._acall, name=name)

    def compile(self, *, name: str = "auction", **compile_kwargs: Any) -> Any:
        """Compile the auction graph (`StateGraph.compile`), named "auction" unless told otherwise.

        Give two auctions in one host different names: `AuctionNode(...).compile(name="code_auction")`.

        The compiled graph runs up to |A|^2 tasks at once (the jury's fan-out without `jury_batch`, or an outbid
        round's judgments one plan a request): LangGraph's sync `invoke` otherwise
        uses a thread pool of `cpu_count + 4` workers, which serialises a jury on a small machine into waves
        (measured in benchmarks/bench_overhead.py). Per-server caps belong on the bidders (`CallLimiter`).
        """
        compiled = self.builder.compile(name=name, **compile_kwargs)
        return compiled.with_config(max_concurrency=max(4, len(self.bidders) ** 2))

    # ---- as a node ----------------------------------------------------------------------------------------------
    def _call(self, state: Mapping[str, Any], config: RunnableConfig) -> dict[str, Any]:
        return _handed_back(state, self.graph.invoke(_auction_input(state), config))

    async def _acall(self, state: Mapping[str, Any], config: RunnableConfig) -> dict[str, Any]:
        return _handed_back(state, await self.graph.ainvoke(_auction_input(state), config))

    # ---- as a tool ----------------------------------------------------------------------------------------------
    def as_tool(  # type: ignore[override]  # Runnable.as_tool's arg_types has no meaning here
        self,
        args_schema: type[BaseModel] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        **compile_kwargs: Any,
    ) -> BaseTool:
        """Wrap the auction as a tool whose one argument is the task and whose result is the winner's answer.

        Called with a tool call (as a `ToolNode` does), it returns a `ToolMessage` whose content is the answer and
        whose `artifact` is the `auction_outcome` (winner, cost by phase, overhead): the caller's graph can keep the
        account without the model reading it. The auction's custom events reach the caller's stream with
        `stream(..., subgraphs=True)`.

        Needs `route="internal"` (the auction must run the winner to have an answer). Inside a graph the tool's
        auction runs as a subgraph of the caller, so its stream events and the caller's store reach it.

        Args:
            args_schema: The tool's arguments (default: one `task` string); a schema of your own must have `task`.
            name: The tool's name (default "run_auction").
            description: What the tool says to the model (default `DEFAULT_TOOL_DESCRIPTION`).
            **compile_kwargs: Passed to `StateGraph.compile`.

        Raises:
            AuctionConfigError: When the auction was built with another route, or `args_schema` has no `task`.

        Examples:
            >>> from langgraph_sale.testing import fake_pool
            >>> tool = AuctionNode(fake_pool()).as_tool()
            >>> tool.invoke({"task": "Deduplicate and sort a list of integers."}).startswith("def solve")
            True
        """
        if self.options.route != "internal":
            raise AuctionConfigError("route", "as_tool() needs route='internal': only then does the auction answer")
        if args_schema is not None and "task" not in args_schema.model_fields:
            raise AuctionConfigError("args_schema", "must have a `task` field: the tool's one input is the task")
        name = name or "run_auction"
        graph = self.builder.compile(name=name, **compile_kwargs)

        def answer_of(result: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            outcome = result.get("auction_outcome") or {}
            if outcome.get("answer") is None:
                return (f"The auction produced no answer ({outcome.get('status')}: {outcome.get('reason')}).",
                        outcome)
            return str(outcome["answer"]), outcome

        def run(task: str, config: RunnableConfig, **_others: Any) -> tuple[str, dict[str, Any]]:
            return answer_of(graph.invoke(_task_input(task), config))

        async def arun(task: str, config: RunnableConfig, **_others: Any) -> tuple[str, dict[str, Any]]:
            return answer_of(await graph.ainvoke(_task_input(task), config))

        return StructuredTool.from_function(
            func=run, coroutine=arun, name=name, description=description or DEFAULT_TOOL_DESCRIPTION,
            args_schema=args_schema or _AuctionToolInput, response_format="content_and_artifact",
        )


def _task_input(task: str) -> dict[str, Any]:
    if not isinstance(task, str) or not task.strip():
        raise AuctionInputError("task", "must be non-empty text")
    return {"auction_task": task, "messages": []}


def _auction_input(state: Mapping[str, Any]) -> dict[str, Any]:
    """What the auction reads of the host's state: its messages, and its `auction_task` where it has one."""
    return {"messages": list(state.get("messages") or []),
            **({"auction_task": state["auction_task"]} if state.get("auction_task") is not None else {})}


def _handed_back(state: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, Any]:
    """The host's update: the messages the auction added (the answer), and the decision and its audit."""
    seen = {message.id for message in state.get("messages") or [] if getattr(message, "id", None)}
    added = [message for message in result.get("messages") or [] if message.id not in seen]
    return {"messages": added, **{key: result[key] for key in HANDED_BACK if key in result}}
