"""Phase 5: the winner executes the task in its own agent subgraph, guided by its plan.

A bidder's `agent` is any compiled graph that takes and returns `messages`. Without one, `default_executor` builds
a model <-> ToolNode loop with a step limit from the bidder's model and tools.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from typing_extensions import TypedDict

from langgraph_sale.bidder import Bidder
from langgraph_sale.metrics import call_usage, message_text
from langgraph_sale.prompts import guidance_message
from langgraph_sale.types import CallUsage

__all__ = ["default_executor", "execution_input", "read_execution", "DEFAULT_MAX_STEPS"]

DEFAULT_MAX_STEPS = 8
"""Model calls the default executor makes at most (each may be followed by one round of tool calls)."""


class _ExecutorState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    executor_steps: int


def default_executor(bidder: Bidder, *, max_steps: int = DEFAULT_MAX_STEPS) -> Any:
    """Build the default executor of a bidder: its model, with its tools bound, in a loop with a ToolNode.

    The loop stops when the model answers without tool calls or after `max_steps` model calls. A model without
    tool calling runs without tools.

    Example:
        >>> from langgraph_sale.testing import ScriptedChatModel
        >>> from langchain_core.messages import HumanMessage
        >>> agent = default_executor(Bidder("small", ScriptedChatModel(answers=["4"]), 0.1))
        >>> agent.invoke({"messages": [HumanMessage("2 + 2?")]})["messages"][-1].content
        '4'
    """
    model: Any = bidder.model
    tools = list(bidder.tools)
    if tools:
        try:
            model = bidder.model.bind_tools(tools)
        except NotImplementedError:
            tools = []

    limiter = bidder.limiter

    def call_model(state: _ExecutorState, config: RunnableConfig) -> dict[str, Any]:
        with limiter.slot() if limiter is not None else contextlib.nullcontext():
            answer = model.invoke(state["messages"], config)
        return {"messages": [answer], "executor_steps": state.get("executor_steps", 0) + 1}

    async def acall_model(state: _ExecutorState, config: RunnableConfig) -> dict[str, Any]:
        async with limiter.aslot() if limiter is not None else contextlib.nullcontext():
            answer = await model.ainvoke(state["messages"], config)
        return {"messages": [answer], "executor_steps": state.get("executor_steps", 0) + 1}

    def after_model(state: _ExecutorState) -> str:
        last = state["messages"][-1]
        wants_tools = isinstance(last, AIMessage) and bool(last.tool_calls)
        return "tools" if wants_tools and tools and state.get("executor_steps", 0) < max_steps else END

    from langgraph._internal._runnable import RunnableCallable  # sync + async node bodies, as ToolNode uses

    graph = StateGraph(_ExecutorState)
    graph.add_node("model", RunnableCallable(call_model, acall_model))
    graph.add_edge(START, "model")
    if tools:
        graph.add_node("tools", ToolNode(tools))
        graph.add_conditional_edges("model", after_model, ["tools", END])
        graph.add_edge("tools", "model")
    else:
        graph.add_edge("model", END)
    return graph.compile(name=f"executor_{bidder.name}")


def execution_input(task: str, plan: str, *, guided: bool) -> dict[str, list[BaseMessage]]:
    """The executor's input: the plan as guidance (when `guided` and there is a plan), then the task.

    Example:
        >>> [m.type for m in execution_input("2 + 2?", "1. Add.", guided=True)["messages"]]
        ['system', 'human']
    """
    messages: list[BaseMessage] = []
    if guided and plan.strip():
        messages.append(guidance_message(plan))
    messages.append(HumanMessage(task))
    for message in messages:
        # Ids let `read_execution` tell what the executor produced from what it was sent.
        message.id = f"sale-input-{uuid.uuid4().hex}"
    return {"messages": messages}


def read_execution(
    sent: dict[str, list[BaseMessage]], result: Any, bidder: Bidder, started: float
) -> dict[str, Any]:
    """Summarise an executor's run: the final answer, the usage of every model call it made, the wall time."""
    sent_ids = {message.id for message in sent["messages"]}
    produced = [m for m in (result or {}).get("messages", []) if m.id not in sent_ids]
    ai_messages = [m for m in produced if isinstance(m, AIMessage)]
    usage = CallUsage()
    for message in ai_messages:
        usage = usage + call_usage(message, price_per_mtok=bidder.price_per_mtok)
    answer = message_text(ai_messages[-1]) if ai_messages else ""
    return {
        "bidder": bidder.name,
        "answer": answer,
        "usage": usage.to_state(),
        "wall_s": time.perf_counter() - started,
        "error": None,
    }
