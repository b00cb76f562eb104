"""A bidder: one agent of the pool, with its model, its price and (optionally) its own executor subgraph."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool

from langgraph_sale.calls import auction_call
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.limits import CallLimiter
from langgraph_sale.pricing import Pricing

__all__ = ["Bidder", "validate_pool"]

_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


class Bidder:
    """One agent of the pool: it bids a plan, sits on the jury and, when it wins, executes the task.

    Args:
        name: Unique snake_case name; the auction's executor node for it is `execute_<name>`.
        model: Any LangChain chat model (`ChatOpenAI`, `ChatOllama`, a fake). It writes the bidder's plans and
            jury scores, and runs the default executor when `agent` is None.
        price_per_mtok: Dollars per million tokens: one number for every kind of token, or a `Pricing` with the
            provider's input, cached-input and output prices (`langgraph_sale.pricing`). The scorer's cost term
            and the pool's order read the output price (`Bidder.price_per_mtok`).
        agent: The executor subgraph: any compiled LangGraph graph that takes and returns `messages`. None builds
            a default executor from `model` and `tools` (a model <-> ToolNode loop with a step limit).
        tools: Tools of the default executor; also named in the bid prompt so plans can refer to them.
        description: A short description of the agent, given to it in the bid prompt.
        tool_calling: How the default executor lets the model use `tools`: "native" binds them (`bind_tools`;
            a model without it falls back to "json"), "json" asks for a JSON decision per step, bounded by a JSON
            schema, for models that cannot emit tool calls (the small local models: docs/local-models.md §3).
        limiter: A `CallLimiter` capping this bidder's model calls in flight (bids, jury, default executor);
            bidders on one local server share one, so the server is not oversubscribed.
        grammar: The model's server takes a llama.cpp GBNF `grammar` in the request body (llama-server does; the
            local pool sets it): a juror reading every plan in one request is then held to one digit per plan.

    Raises:
        AuctionConfigError: On a name that is not snake_case, a negative or non-finite price, or a model that is
            not a chat model.

    Examples:
        >>> from langgraph_sale.testing import ScriptedChatModel
        >>> small = Bidder("small", ScriptedChatModel(plans=["1. Do it."]), price_per_mtok=0.05)
        >>> small.name, small.price_per_mtok
        ('small', 0.05)
    """

    def __init__(
        self,
        name: str,
        model: BaseChatModel,
        price_per_mtok: float | Pricing,
        *,
        agent: Any | None = None,
        tools: Sequence[BaseTool] = (),
        description: str = "",
        tool_calling: Literal["native", "json"] = "native",
        limiter: CallLimiter | None = None,
        grammar: bool = False,
    ) -> None:
        if not isinstance(name, str) or not _SNAKE_CASE.match(name):
            raise AuctionConfigError(
                "Bidder.name", f"must be snake_case (lowercase letters, digits and underscores), got {name!r}"
            )
        if not isinstance(model, BaseChatModel):
            raise AuctionConfigError(
                f"Bidder({name}).model", f"must be a langchain BaseChatModel, got {type(model).__name__}"
            )
        self.pricing = Pricing.of(price_per_mtok, field=f"Bidder({name}).price_per_mtok")
        """What the bidder's calls cost: input, cached input and output, in $ per million tokens."""
        if agent is not None and not (hasattr(agent, "invoke") and hasattr(agent, "ainvoke")):
            raise AuctionConfigError(
                f"Bidder({name}).agent", "must be a compiled LangGraph graph (or None for the default executor)"
            )
        self.name = name
        self.model = model
        self.price_per_mtok = self.pricing.output
        """The output price: what the scorer's cost term and the pool's order read."""
        self.agent = agent
        self.tools: tuple[BaseTool, ...] = tuple(tools)
        self.description = description
        if tool_calling not in ("native", "json"):
            raise AuctionConfigError(f"Bidder({name}).tool_calling",
                                     f'must be "native" or "json", got {tool_calling!r}')
        self.tool_calling: Literal["native", "json"] = tool_calling
        if limiter is not None and not isinstance(limiter, CallLimiter):
            raise AuctionConfigError(f"Bidder({name}).limiter", f"must be a CallLimiter, got {type(limiter).__name__}")
        self.limiter = limiter
        self.grammar = bool(grammar)
        self._auction_models: dict[tuple[int, tuple[str, ...], str | None, int | None], Any] = {}

    def auction_model(self, max_tokens: int, stop: tuple[str, ...] = (), *, grammar: str | None = None,
                      top_logprobs: int | None = None) -> Any:
        """The model as the auction calls it for bids and jury answers: capped at `max_tokens`, stopped at `stop`
        where given, constrained by `grammar` and with `top_logprobs` where given, and tagged `nostream` (built once
        per setting; see `langgraph_sale.calls.auction_call`)."""
        key = (max_tokens, stop, grammar, top_logprobs)
        runnable = self._auction_models.get(key)
        if runnable is None:
            runnable = self._auction_models[key] = auction_call(self.model, max_tokens, stop=stop, grammar=grammar,
                                                                top_logprobs=top_logprobs)
        return runnable

    def __repr__(self) -> str:
        return f"Bidder(name={self.name!r}, price_per_mtok={self.price_per_mtok!r})"


def validate_pool(bidders: Sequence[Bidder]) -> dict[str, Bidder]:
    """Check a pool and index it by name, keeping pool order.

    Raises:
        AuctionConfigError: On an empty pool, a member that is not a `Bidder`, or duplicate names.

    Examples:
        >>> from langgraph_sale.testing import ScriptedChatModel
        >>> pool = [Bidder("a", ScriptedChatModel(), 1.0), Bidder("b", ScriptedChatModel(), 2.0)]
        >>> list(validate_pool(pool))
        ['a', 'b']
    """
    if isinstance(bidders, Bidder) or not isinstance(bidders, Sequence) or isinstance(bidders, str):
        raise AuctionConfigError("bidders", "must be a list of Bidder")
    if len(bidders) == 0:
        raise AuctionConfigError("bidders", "the pool is empty; give at least one Bidder")
    pool: dict[str, Bidder] = {}
    for position, bidder in enumerate(bidders):
        if not isinstance(bidder, Bidder):
            raise AuctionConfigError(f"bidders[{position}]", f"must be a Bidder, got {type(bidder).__name__}")
        if bidder.name in pool:
            raise AuctionConfigError("bidders", f"duplicate bidder name {bidder.name!r}")
        pool[bidder.name] = bidder
    return pool
