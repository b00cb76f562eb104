"""Phase 5: the winner executes the task in its own agent subgraph, guided by its plan.

A bidder's `agent` is any compiled graph that takes and returns `messages`. Without one, `default_executor` builds
the executor from the bidder's model and tools:

- no tools: one model call (a loop without tools is one call, and a graph around it only adds overhead);
- tools the model calls natively (`bind_tools`): a model <-> ToolNode loop with a step limit;
- tools through a JSON decision step (`langgraph_sale.json_decision`; `Bidder(tool_calling="json")`, or a model
  whose `bind_tools` is not implemented): small local models cannot emit tool calls (docs/local-models.md §3), but
  a JSON schema enforced by the server's grammar can make them choose, and each choice of tool becomes an ordinary
  `AIMessage.tool_calls` entry, so the same ToolNode runs it and the history stays in LangGraph's usual shape.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
)
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from typing_extensions import TypedDict

from langgraph_sale.bidder import Bidder
from langgraph_sale.json_decision import JsonDecisionStep, decision_schema, parse_decision
from langgraph_sale.metrics import call_usage, message_text
from langgraph_sale.prompts import guidance_message
from langgraph_sale.types import CallUsage

__all__ = [
    "default_executor",
    "decision_schema",
    "parse_decision",
    "execution_input",
    "read_execution",
    "DEFAULT_MAX_STEPS",
]

DEFAULT_MAX_STEPS = 8
"""Model calls the default executor makes at most (each may be followed by one round of tool calls)."""


class _ExecutorState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    executor_steps: int


class _SingleCall:
    """The default executor of a bidder without tools: its model called once on the messages."""

    def __init__(self, bidder: Bidder) -> None:
        self.bidder = bidder

    def invoke(self, value: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        limiter = self.bidder.limiter
        with limiter.slot() if limiter is not None else contextlib.nullcontext():
            answer = self.bidder.model.invoke(value["messages"], config)
        return {"messages": [*value["messages"], answer]}

    async def ainvoke(self, value: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        limiter = self.bidder.limiter
        async with limiter.aslot() if limiter is not None else contextlib.nullcontext():
            answer = await self.bidder.model.ainvoke(value["messages"], config)
        return {"messages": [*value["messages"], answer]}


def default_executor(bidder: Bidder, *, max_steps: int = DEFAULT_MAX_STEPS) -> Any:
    """Build the default executor of a bidder from its model and tools (see the module docstring).

    The tool loop stops when the model answers without choosing a tool or after `max_steps` model calls; in the
    JSON protocol the last allowed step may only answer. It takes and returns `{"messages": [...]}`, like an agent.

    Examples:
        >>> from langgraph_sale.testing import ScriptedChatModel
        >>> from langchain_core.messages import HumanMessage
        >>> agent = default_executor(Bidder("small", ScriptedChatModel(answers=["4"]), 0.1))
        >>> agent.invoke({"messages": [HumanMessage("2 + 2?")]})["messages"][-1].content
        '4'
    """
    tools = list(bidder.tools)
    if not tools:
        return _SingleCall(bidder)
    protocol = bidder.tool_calling
    model: Any = bidder.model
    if protocol == "native":
        try:
            model = bidder.model.bind_tools(tools)
        except NotImplementedError:
            protocol = "json"
    step = JsonDecisionStep(bidder.model, tools) if protocol == "json" else None
    limiter = bidder.limiter

    def call_model(state: _ExecutorState, config: RunnableConfig) -> dict[str, Any]:
        steps = state.get("executor_steps", 0)
        with limiter.slot() if limiter is not None else contextlib.nullcontext():
            if step is not None:
                answer = step.invoke(state["messages"], config, last_step=steps + 1 >= max_steps)
            else:
                answer = model.invoke(state["messages"], config)
        return {"messages": [answer], "executor_steps": steps + 1}

    async def acall_model(state: _ExecutorState, config: RunnableConfig) -> dict[str, Any]:
        steps = state.get("executor_steps", 0)
        async with limiter.aslot() if limiter is not None else contextlib.nullcontext():
            if step is not None:
                answer = await step.ainvoke(state["messages"], config, last_step=steps + 1 >= max_steps)
            else:
                answer = await model.ainvoke(state["messages"], config)
        return {"messages": [answer], "executor_steps": steps + 1}

    def after_model(state: _ExecutorState) -> str:
        last = state["messages"][-1]
        wants_tools = isinstance(last, AIMessage) and bool(last.tool_calls)
        return "tools" if wants_tools and state.get("executor_steps", 0) < max_steps else "deliver"

    def deliver(state: _ExecutorState, config: RunnableConfig) -> dict[str, Any]:
        missing = _undelivered(state["messages"])
        if missing is None:
            return {}
        with limiter.slot() if limiter is not None else contextlib.nullcontext():
            again = (step.invoke([*state["messages"], HumanMessage(ASK_FOR_CODE)], config, last_step=True)
                     if step is not None else bidder.model.invoke([*state["messages"], HumanMessage(ASK_FOR_CODE)],
                                                                   config))
        return {"messages": _delivered(again, missing)}

    async def adeliver(state: _ExecutorState, config: RunnableConfig) -> dict[str, Any]:
        missing = _undelivered(state["messages"])
        if missing is None:
            return {}
        async with limiter.aslot() if limiter is not None else contextlib.nullcontext():
            again = (await step.ainvoke([*state["messages"], HumanMessage(ASK_FOR_CODE)], config, last_step=True)
                     if step is not None else await bidder.model.ainvoke(
                         [*state["messages"], HumanMessage(ASK_FOR_CODE)], config))
        return {"messages": _delivered(again, missing)}

    from langgraph._internal._runnable import RunnableCallable  # sync + async node bodies, as ToolNode uses

    graph = StateGraph(_ExecutorState)
    graph.add_node("model", RunnableCallable(call_model, acall_model))
    graph.add_node("tools", ToolNode(tools))
    graph.add_node("deliver", RunnableCallable(deliver, adeliver))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", after_model, ["tools", "deliver"])
    graph.add_edge("tools", "model")
    graph.add_edge("deliver", END)
    return graph.compile(name=f"executor_{bidder.name}")


# ---- delivering what the task asked for ----------------------------------------------------------------------------
ASK_FOR_CODE = ("The task asks for code, and your final answer has none. Reply with the complete code the task asks "
                "for (with any imports it needs) in one ```python code block, not with what it printed.")
"""Asked once when a task that asks for code is answered without code after code ran (`DELIVERY`)."""
DELIVERY = "sale_delivery"
"""Where the final answer's `response_metadata` says how it was delivered when it was not the model's first final
answer: "asked_again" (the model was asked once more and answered with code) or "last_code" (it did not: the last
code that ran is the answer). `read_execution` reports it as the execution's `delivery`."""
_ASKS_FOR_CODE = re.compile(r"\b(function|class|method|def|code|program|script|implement)\b", re.I)
_HAS_CODE = re.compile(r"```|^\s*(def|class)\s", re.M)


def _ran_code(messages: Sequence[BaseMessage]) -> str | None:
    """The last code a tool was called with in this run (an argument that reads as Python), else None."""
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            for call in reversed(message.tool_calls):
                code = next((v for v in call["args"].values() if isinstance(v, str) and _HAS_CODE.search(v)), None)
                if code is not None:
                    return code
    return None


def _undelivered(messages: Sequence[BaseMessage]) -> str | None:
    """The last code that ran, when the task asks for code and the final answer has none after code ran (a model
    that answers with what its code printed); None when the answer is what was asked for."""
    task = next((message_text(m) for m in messages if isinstance(m, HumanMessage)), "")
    final = messages[-1]
    if not isinstance(final, AIMessage) or final.tool_calls or not _ASKS_FOR_CODE.search(task):
        return None
    if _HAS_CODE.search(message_text(final)):
        return None
    return _ran_code(messages)


def _delivered(again: AIMessage, last_code: str) -> list[AIMessage]:
    """The answer asked for once more, if it holds code; else the last code that ran, as the answer."""
    if not again.tool_calls and _HAS_CODE.search(message_text(again)):
        again.response_metadata = {**(again.response_metadata or {}), DELIVERY: "asked_again"}
        return [again]
    answer = AIMessage(f"```python\n{last_code.rstrip()}\n```", response_metadata={DELIVERY: "last_code"})
    return [again, answer]  # the second try is kept for its tokens; the answer is the last message


def execution_input(task: str, plan: str, *, guided: bool) -> dict[str, list[BaseMessage]]:
    """The executor's input: the plan as guidance (when `guided` and there is a plan), then the task.

    Examples:
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
        usage = usage + call_usage(message, price_per_mtok=bidder.pricing)
    answer = message_text(ai_messages[-1]) if ai_messages else ""
    delivery = (ai_messages[-1].response_metadata or {}).get(DELIVERY) if ai_messages else None
    return {
        "bidder": bidder.name,
        "answer": answer,
        "usage": usage.to_state(),
        "wall_s": time.perf_counter() - started,
        "error": None,
        **({"delivery": delivery} if delivery else {}),
    }
