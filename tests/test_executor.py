"""The default executor: one call without tools, a native tool loop, and the JSON decision step for small models."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool

from langgraph_sale import Bidder, create_auction
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.executor import decision_schema, default_executor, execution_input, parse_decision, read_execution
from langgraph_sale.testing import ScriptedChatModel
from tests.support import run

calls: list[tuple[int, int]] = []


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    calls.append((a, b))
    return a + b


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    calls.clear()


async def _execute(agent: Any, messages: list[Any], mode: str) -> dict[str, Any]:
    value = {"messages": messages}
    return await agent.ainvoke(value) if mode == "async" else agent.invoke(value)


async def test_without_tools_the_executor_is_one_model_call(mode: str) -> None:
    model = ScriptedChatModel(answers=["4"])
    agent = default_executor(Bidder("small", model, 0.1))
    result = await _execute(agent, [HumanMessage("2 + 2?")], mode)
    assert [m.type for m in result["messages"]] == ["human", "ai"]
    assert result["messages"][-1].content == "4"
    assert model.count("execute") == 1


async def test_native_tool_loop_runs_the_tool_and_answers(mode: str) -> None:
    model = ScriptedChatModel(answers=[
        AIMessage("", tool_calls=[{"name": "add", "args": {"a": 2, "b": 3}, "id": "call_1"}]),
        "The sum is 5.",
    ])
    agent = default_executor(Bidder("small", model, 0.1, tools=[add]))
    result = await _execute(agent, [HumanMessage("Add 2 and 3.")], mode)
    assert calls == [(2, 3)]
    tool_results = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert [m.content for m in tool_results] == ["5"]
    assert result["messages"][-1].content == "The sum is 5."


async def test_json_protocol_turns_a_decision_into_a_tool_call(mode: str) -> None:
    model = ScriptedChatModel(answers=[{"tool": "add", "args": {"a": 20, "b": 22}}, {"final_answer": "42"}])
    agent = default_executor(Bidder("small", model, 0.1, tools=[add], tool_calling="json"))
    result = await _execute(agent, [SystemMessage("Plan: add."), HumanMessage("Add 20 and 22.")], mode)
    assert calls == [(20, 22)]
    assert result["messages"][-1].content == "42"
    first, second = [prompt for kind, prompt in model.calls if kind == "execute"]
    # One system message, the caller's guidance first, then the protocol naming the tool and its arguments.
    assert isinstance(first[0], SystemMessage) and sum(isinstance(m, SystemMessage) for m in first) == 1
    assert first[0].content.startswith("Plan: add.")
    assert "add(a (integer), b (integer))" in first[0].content and '"final_answer"' in first[0].content
    # The history reaches the model as plain turns: its own decision as JSON, the tool result as a user turn.
    assert not any(isinstance(m, ToolMessage) for m in second)
    assert second[-2].content == '{"step": {"tool": "add", "args": {"a": 20, "b": 22}}}'
    assert second[-1].type == "human" and second[-1].content == "Result of add:\n42"


async def test_model_without_tool_calling_falls_back_to_json_text(mode: str) -> None:
    # No bind_tools and no structured output: the protocol rides on the prompt and the tolerant parser alone.
    model = ScriptedChatModel(structured=False, answers=['```json\n{"tool": "add", "args": {"a": 1, "b": 1}}\n```',
                                                         "It is 2."])
    agent = default_executor(Bidder("small", model, 0.1, tools=[add]))
    result = await _execute(agent, [HumanMessage("1 + 1?")], mode)
    assert calls == [(1, 1)]
    assert result["messages"][-1].content == "It is 2."


async def test_json_protocol_last_step_must_answer(mode: str) -> None:
    model = ScriptedChatModel(answers=[{"tool": "add", "args": {"a": 1, "b": 2}}])
    agent = default_executor(Bidder("small", model, 0.1, tools=[add], tool_calling="json"), max_steps=3)
    await _execute(agent, [HumanMessage("Keep adding.")], mode)
    prompts = [prompt for kind, prompt in model.calls if kind == "execute"]
    assert len(prompts) == 3 and len(calls) == 2
    assert ["last step" in p[0].content for p in prompts] == [False, False, True]


def test_decision_schema_offers_each_tool_then_the_answer() -> None:
    schema = decision_schema([add])
    tool_choice, final = schema["properties"]["step"]["anyOf"]
    assert tool_choice["properties"]["tool"]["enum"] == ["add"]
    assert set(tool_choice["properties"]["args"]["properties"]) == {"a", "b"}
    assert final["required"] == ["final_answer"]
    only_answer = decision_schema([add], allow_tools=False)["properties"]["step"]["anyOf"]
    assert [choice["required"] for choice in only_answer] == [["final_answer"]]


@pytest.mark.parametrize(
    ("said", "decision"),
    [
        ({"tool": "add", "args": {"a": 1}}, ("add", {"a": 1})),
        ({"final_answer": "done"}, "done"),
        ({"step": {"tool": "add", "args": {"a": 2}}}, ("add", {"a": 2})),
        ('{"final_answer": "x"}', "x"),
        ("plain words", "plain words"),
        ('"quoted"', "quoted"),
        ({"tool": "add"}, '{"tool": "add"}'),  # a tool without args is no call: it is shown as the answer
        ([1, 2], "[1, 2]"),
    ],
)
def test_parse_decision(said: Any, decision: Any) -> None:
    assert parse_decision(said) == decision


def test_tool_calling_option_is_checked() -> None:
    with pytest.raises(AuctionConfigError, match="tool_calling"):
        Bidder("small", ScriptedChatModel(), 0.1, tool_calling="xml")  # type: ignore[arg-type]


async def test_auction_winner_uses_its_tool_through_the_json_step(mode: str) -> None:
    model = ScriptedChatModel(plans=["1. Use add. 2. Report."], jury=[5],
                              answers=[{"tool": "add", "args": {"a": 40, "b": 2}}, {"final_answer": "42"}])
    pool = [Bidder("solo", model, 0.1, tools=[add], tool_calling="json")]
    result = await run(create_auction(pool).compile(), {"auction_task": "Add 40 and 2."}, mode)
    assert calls == [(40, 2)]
    assert result["messages"][-1].content == "42" and result["messages"][-1].name == "solo"
    outcome = result["auction_outcome"]
    assert outcome["status"] == "executed" and outcome["answer"] == "42"
    # Both executor calls are paid for: the tool decision and the answer.
    assert outcome["tokens_by_phase"]["execute"] >= 2


def test_read_execution_counts_every_model_call_of_the_run() -> None:
    model = ScriptedChatModel(answers=[{"tool": "add", "args": {"a": 1, "b": 1}}, {"final_answer": "2"}])
    bidder = Bidder("small", model, 1e6, tools=[add], tool_calling="json")
    sent = execution_input("1 + 1?", "1. Add.", guided=True)
    summary = read_execution(sent, default_executor(bidder).invoke(sent), bidder, 0.0)
    usage = summary["usage"]
    assert summary["answer"] == "2"
    assert usage["calls"] == 2 and usage["cost_usd"] == pytest.approx(usage["input_tokens"] + usage["output_tokens"])


# ---- delivering what the task asked for ------------------------------------------------------------------------
CODE = "def square(x):\n    return x * x\n\nprint(square(4))"
CODING_TASK = "Write a function square(x) that returns x squared."


def _coding_executor(*answers: Any) -> Any:
    from langgraph_sale.tools import python_tool

    model = ScriptedChatModel(answers=[{"tool": "run_python", "args": {"code": CODE}}, *answers])
    return default_executor(Bidder("small", model, 0.1, tools=[python_tool()], tool_calling="json"))


def test_an_answer_that_is_what_the_code_printed_is_asked_for_again() -> None:
    from langgraph_sale.executor import ASK_FOR_CODE, DELIVERY

    agent = _coding_executor({"final_answer": "16"},
                             {"final_answer": "```python\ndef square(x):\n    return x * x\n```"})
    sent = execution_input(CODING_TASK, "", guided=False)
    result = agent.invoke(sent)
    assert [m.content for m in result["messages"] if isinstance(m, AIMessage)][1] == "16"  # what the code printed
    assert ASK_FOR_CODE not in str(result["messages"])  # asked in the call, not left in the history
    final = result["messages"][-1]
    assert final.content.startswith("```python\ndef square") and final.response_metadata[DELIVERY] == "asked_again"
    assert read_execution(sent, result, Bidder("small", ScriptedChatModel(), 0.1), 0.0)["delivery"] == "asked_again"


def test_when_asked_again_without_code_the_last_code_that_ran_is_the_answer() -> None:
    from langgraph_sale.executor import DELIVERY

    agent = _coding_executor({"final_answer": "16"}, {"final_answer": "It prints 16."})
    result = agent.invoke(execution_input(CODING_TASK, "", guided=False))
    final = result["messages"][-1]
    assert final.content == f"```python\n{CODE}\n```" and final.response_metadata[DELIVERY] == "last_code"


def test_an_answer_with_code_or_a_task_without_code_is_left_as_it_is() -> None:
    with_code = _coding_executor({"final_answer": "```python\ndef square(x):\n    return x * x\n```"})
    result = with_code.invoke(execution_input(CODING_TASK, "", guided=False))
    assert "sale_delivery" not in result["messages"][-1].response_metadata
    not_code = _coding_executor({"final_answer": "16"})
    result = not_code.invoke(execution_input("What is 4 squared? Reply with the number.", "", guided=False))
    assert result["messages"][-1].content == "16" and "sale_delivery" not in result["messages"][-1].response_metadata


def test_the_outcome_says_how_the_answer_was_delivered() -> None:
    from langgraph_sale.tools import python_tool

    decisions = [{"tool": "run_python", "args": {"code": CODE}}, {"final_answer": "16"}, {"final_answer": "16"}]
    pool = [Bidder("solo", ScriptedChatModel(plans=["1. Write it. 2. Run it."], jury=[4], answers=decisions), 0.1,
                   tools=[python_tool()], tool_calling="json")]
    outcome = create_auction(pool).compile().invoke({"auction_task": CODING_TASK})["auction_outcome"]
    assert outcome["delivery"] == "last_code" and outcome["answer"] == f"```python\n{CODE}\n```"
