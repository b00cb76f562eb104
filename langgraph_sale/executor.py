"""Phase 5: the winner executes the task in its own agent subgraph, guided by its plan.

A bidder's `agent` is any compiled graph that takes and returns `messages`. Without one, `default_executor` builds
the executor from the bidder's model and tools:

- no tools: one model call (a loop without tools is one call, and a graph around it only adds overhead);
- tools the model calls natively (`bind_tools`): a model <-> ToolNode loop with a step limit;
- tools through a JSON decision step (`Bidder(tool_calling="json")`, or a model whose `bind_tools` is not
  implemented): small local models cannot emit tool calls (docs/local-models.md §3), but a JSON schema enforced
  by the server's grammar can make them choose. Each step the model answers `{"tool": <name>, "args": {...}}` or
  `{"final_answer": "..."}`; a choice of tool becomes an ordinary `AIMessage.tool_calls` entry, so the same
  ToolNode runs it and the history stays in LangGraph's usual shape.
"""

from __future__ import annotations

import contextlib
import json
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
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode
from typing_extensions import TypedDict

from langgraph_sale.bidder import Bidder
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

FINAL_ANSWER = "final_answer"


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
    step = _JsonDecisionStep(bidder.model, tools) if protocol == "json" else None
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


# ---- the JSON decision step: tools for models without native tool calls ----------------------------------------
def decision_schema(tools: Sequence[BaseTool], *, allow_tools: bool = True) -> dict[str, Any]:
    """The JSON schema of one executor step: call one of `tools` with its arguments, or give the final answer.

    Examples:
        >>> from langchain_core.tools import tool
        >>> @tool
        ... def add(a: int, b: int) -> int:
        ...     \"\"\"Add two integers.\"\"\"
        ...     return a + b
        >>> [choice["required"] for choice in decision_schema([add])["properties"]["step"]["anyOf"]]
        [['tool', 'args'], ['final_answer']]
    """
    final = {
        "type": "object",
        "properties": {FINAL_ANSWER: {"type": "string"}},
        "required": [FINAL_ANSWER],
        "additionalProperties": False,
    }
    choices: list[dict[str, Any]] = []
    if allow_tools:
        for tool in tools:
            parameters = convert_to_openai_tool(tool)["function"].get("parameters") or {"type": "object"}
            choices.append({
                "type": "object",
                "properties": {"tool": {"type": "string", "enum": [tool.name]}, "args": parameters},
                "required": ["tool", "args"],
                "additionalProperties": False,
            })
    choices.append(final)
    # The choice sits under one property: converters of structured output (OpenAI's, Ollama's, tool calling) all
    # expect an object with properties at the top.
    return {
        "title": "next_step",
        "description": "Call one tool, or give the final answer.",
        "type": "object",
        "properties": {"step": {"anyOf": choices}},
        "required": ["step"],
        "additionalProperties": False,
    }


def parse_decision(decision: Any) -> tuple[str, dict[str, Any]] | str:
    """Read one step's decision: `(tool name, args)` for a tool call, else the final answer text.

    Accepts the parsed JSON object or raw text; text that holds no decision object is taken as the final answer,
    so a model that ignores the protocol still ends the loop with what it said.

    Examples:
        >>> parse_decision('{"tool": "search", "args": {"query": "LangGraph"}}')
        ('search', {'query': 'LangGraph'})
        >>> parse_decision('```json\\n{"final_answer": "42"}\\n```')
        '42'
        >>> parse_decision("It is 42.")
        'It is 42.'
    """
    if isinstance(decision, str):
        said: str = decision
        text = said.strip()
        if text.startswith("```"):
            text = text.strip("`").removeprefix("json").strip()
        try:
            decision = json.loads(text)
        except ValueError:
            return said
    if isinstance(decision, str):
        return decision
    if not isinstance(decision, dict):
        return json.dumps(decision)
    if isinstance(decision.get("step"), dict):
        decision = decision["step"]  # the schema's wrapper
    name, args = decision.get("tool"), decision.get("args")
    if isinstance(name, str) and name != FINAL_ANSWER and isinstance(args, dict):
        return name, args
    answer = decision.get(FINAL_ANSWER)
    return answer if isinstance(answer, str) else json.dumps(decision)


class _JsonDecisionStep:
    """One executor step through a JSON decision: the prompt names the tools, the schema bounds the answer."""

    def __init__(self, model: Any, tools: Sequence[BaseTool]) -> None:
        self.model = model
        self.instructions = _tool_instructions(tools)
        self.deciders = {allow: _structured_or_none(model, decision_schema(tools, allow_tools=allow))
                         for allow in (True, False)}

    def _prompt(self, messages: Sequence[BaseMessage], last_step: bool) -> list[BaseMessage]:
        instructions = self.instructions
        if last_step:
            instructions += "\nThis is your last step: give the final answer now."
        prompt = [_as_plain_turn(message) for message in messages]
        if prompt and isinstance(prompt[0], SystemMessage):
            # One system message first: the chat templates of small models accept no other place for it.
            prompt[0] = SystemMessage(f"{message_text(prompt[0])}\n\n{instructions}")
        else:
            prompt.insert(0, SystemMessage(instructions))
        return prompt

    def invoke(self, messages: Sequence[BaseMessage], config: RunnableConfig, *, last_step: bool) -> AIMessage:
        decider = self.deciders[not last_step]
        prompt = self._prompt(messages, last_step)
        if decider is None:
            return _decided(self.model.invoke(prompt, config), None)
        result = decider.invoke(prompt, config)
        return _decided(result["raw"], result.get("parsed"))

    async def ainvoke(self, messages: Sequence[BaseMessage], config: RunnableConfig, *, last_step: bool) -> AIMessage:
        decider = self.deciders[not last_step]
        prompt = self._prompt(messages, last_step)
        if decider is None:
            return _decided(await self.model.ainvoke(prompt, config), None)
        result = await decider.ainvoke(prompt, config)
        return _decided(result["raw"], result.get("parsed"))


def _structured_or_none(model: Any, schema: dict[str, Any]) -> Any:
    # Models without structured output raise when it is built; they get the prompt alone and the tolerant parser.
    try:
        return model.with_structured_output(schema, method="json_schema", include_raw=True)
    except (NotImplementedError, TypeError, ValueError):
        return None


def _tool_instructions(tools: Sequence[BaseTool]) -> str:
    lines = ["You can use these tools:"]
    for tool in tools:
        parameters = convert_to_openai_tool(tool)["function"].get("parameters") or {}
        arguments = ", ".join(f"{name} ({spec.get('type', 'any')})"
                              for name, spec in (parameters.get("properties") or {}).items())
        lines.append(f"- {tool.name}({arguments}): {tool.description}")
        # Argument descriptions carry the usage hints small models need (e.g. "print what you want to see").
        lines += [f"    {name}: {spec['description']}" for name, spec in (parameters.get("properties") or {}).items()
                  if spec.get("description")]
    lines.append('Answer with one JSON object: {"step": {"tool": "<name>", "args": {...}}} to use a tool (its '
                 'result comes back to you), or {"step": {"final_answer": "<your answer>"}} when you are done.')
    # Small models otherwise answer with what their code printed (a number, a list) instead of the code.
    lines.append("Your final answer is what the task asks for, not what a tool printed: when the task asks for a "
                 "function or other code, the final answer is the complete code in a ```python block.")
    return "\n".join(lines)


def _as_plain_turn(message: BaseMessage) -> BaseMessage:
    # Tool-call turns become plain text, so models whose chat template has no tool role can read the history.
    if isinstance(message, AIMessage) and message.tool_calls:
        call = message.tool_calls[0]
        return AIMessage(json.dumps({"step": {"tool": call["name"], "args": call["args"]}}))
    if isinstance(message, ToolMessage):
        return HumanMessage(f"Result of {message.name or 'the tool'}:\n{message_text(message)}")
    return message


def _decided(raw: Any, parsed: Any) -> AIMessage:
    """The step's answer as an `AIMessage`: a tool call LangGraph's ToolNode runs, or the final answer."""
    if not isinstance(raw, AIMessage):
        raw = AIMessage(message_text(raw) if isinstance(raw, BaseMessage) else str(raw or ""))
    if parsed is None and raw.tool_calls:
        parsed = raw.tool_calls[0]["args"]  # a provider that answered the schema as a tool call
    decision = parse_decision(parsed if parsed is not None else message_text(raw))
    kept = {"usage_metadata": raw.usage_metadata, "response_metadata": raw.response_metadata, "id": raw.id}
    if isinstance(decision, tuple):
        name, args = decision
        return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{uuid.uuid4().hex}"}],
                         **kept)
    return AIMessage(content=decision, **kept)


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
