"""The JSON decision step: tools for models without native tool calls.

Small local models cannot emit tool calls (docs/local-models.md §3), but a JSON schema enforced by the server's
grammar can make them choose. Each step the model answers `{"step": {"tool": <name>, "args": {...}}}` or
`{"step": {"final_answer": "..."}}`; `JsonDecisionStep` turns a choice of tool into an ordinary
`AIMessage.tool_calls` entry, so LangGraph's `ToolNode` runs it and the history stays in its usual shape.
`default_executor` (`langgraph_sale.executor`) uses it for `Bidder(tool_calling="json")` and for models whose
`bind_tools` is not implemented.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from langgraph_sale.metrics import message_text

__all__ = ["decision_schema", "parse_decision", "JsonDecisionStep", "FINAL_ANSWER"]

FINAL_ANSWER = "final_answer"


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


class JsonDecisionStep:
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
