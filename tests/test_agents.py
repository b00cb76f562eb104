"""The shipped agents (`langgraph_sale.agents`): the coding agent's write - test - fix loop, the search agent's
search-first loop, alone and as a bidder's executor, and the same execution as the benchmark's on the same task."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langgraph_sale import Bidder, create_auction
from langgraph_sale.agents import coding_agent, examples_check, extract_code, search_agent
from langgraph_sale.bench.agents import Toolbox, bench_coding_agent, bench_search_agent
from langgraph_sale.bench.data import load_suite
from langgraph_sale.bench.meter import Meter
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.executor import execution_input
from langgraph_sale.metrics import message_text
from langgraph_sale.testing import ScriptedChatModel
from langgraph_sale.tools import SearchCorpus, bm25_tool

WRONG = "```python\ndef find(a, b):\n    return a / b\n```"
RIGHT = "```python\ndef find(a, b):\n    return a // b\n```"


def mbpp_task() -> Any:
    return next(t for t in load_suite("smoke", domains=("coding",)).tasks["coding"] if t.source == "mbpp")


def produced(result: dict[str, Any], sent: list[Any]) -> list[tuple[str, str]]:
    return [(m.type, m.content) for m in result["messages"][len(sent):]]


def test_the_coding_agent_reads_the_failure_and_its_answer_is_the_code() -> None:
    task = mbpp_task()
    result = coding_agent(ScriptedChatModel(answers=[WRONG, RIGHT])).invoke(
        execution_input(task.text, "1. Divide. 2. Round down.", guided=True))
    feedback = [m for m in result["messages"] if isinstance(m, HumanMessage)][-1].content
    assert "Your code failed the task's examples" in feedback and "AssertionError" in feedback
    assert isinstance(result["messages"][-1], AIMessage)
    assert extract_code(result["messages"][-1].content).strip().endswith("return a // b")


def test_a_users_coding_agent_and_the_benchmarks_make_the_same_execution() -> None:
    task = mbpp_task()
    sent = execution_input(task.text, "1. Divide. 2. Round down.", guided=True)
    user = coding_agent(ScriptedChatModel(answers=[WRONG, RIGHT]), max_attempts=2)
    bench = bench_coding_agent(ScriptedChatModel(answers=[WRONG, RIGHT]), {task.text: task}, Toolbox(Meter(), {}),
                               agent="small", max_attempts=2)
    ours, theirs = produced(user.invoke(sent), sent["messages"]), produced(bench.invoke(sent), sent["messages"])
    assert ours == theirs and len(ours) == 3  # code, the failure read back, the fixed code


def test_the_coding_agent_stops_after_its_attempts_and_without_tests_after_one() -> None:
    task = mbpp_task()
    stubborn = coding_agent(ScriptedChatModel(answers=[WRONG]), max_attempts=2)
    result = stubborn.invoke({"messages": [HumanMessage(task.text)]})
    assert [m.type for m in result["messages"]] == ["human", "ai", "human", "ai"]
    untested = coding_agent(ScriptedChatModel(answers=[RIGHT])).invoke({"messages": [HumanMessage("Write find.")]})
    assert [m.type for m in untested["messages"]] == ["human", "ai"]


def test_examples_check_runs_doctest_examples_too() -> None:
    check = examples_check()
    task = 'def double(x):\n    """\n    >>> double(2)\n    4\n    """'
    assert check(task, "def double(x):\n    return 2 * x").ok
    assert not check(task, "def double(x):\n    return x").ok


def test_the_coding_agent_as_a_bidders_executor_answers_the_auction_with_code() -> None:
    models = {name: ScriptedChatModel(plans=[f"1. Plan of {name}."], jury=[4], answers=[RIGHT])
              for name in ("small", "large")}
    pool = [Bidder("small", models["small"], 0.1, agent=coding_agent(models["small"])),
            Bidder("large", models["large"], 0.5, agent=coding_agent(models["large"]))]
    result = create_auction(pool).compile().invoke({"auction_task": mbpp_task().text})
    assert result["auction_winner"] == "small" and "def find" in result["auction_outcome"]["answer"]


def test_the_search_agent_searches_the_question_first_with_a_tool_and_answers() -> None:
    corpus = SearchCorpus([{"id": "1", "title": "France", "text": "Paris is the capital of France."},
                           {"id": "2", "title": "Peru", "text": "Lima is the capital of Peru."}])
    model = ScriptedChatModel(answers=["ANSWER: Paris"])
    result = search_agent(model, search=bm25_tool(corpus, k=1)).invoke(
        {"messages": [HumanMessage("What is the capital of France?")]})
    found = result["messages"][1].content
    assert found.startswith("Search results for 'What is the capital of France?'") and "Paris" in found
    assert result["messages"][-1].content == "ANSWER: Paris"


def test_a_users_search_agent_and_the_benchmarks_make_the_same_execution() -> None:
    suite = load_suite("smoke", domains=("search",))
    task = suite.tasks["search"][0]
    toolbox = Toolbox(Meter(), suite.corpora, search_k=3)
    sent = execution_input(task.text, "", guided=False)
    script = ["SEARCH: more keywords", "ANSWER: something"]
    bench = bench_search_agent(ScriptedChatModel(answers=script), {task.text: task}, toolbox, agent="a",
                               max_searches=2)
    corpus = SearchCorpus([{"id": str(i), **d} for i, d in enumerate(suite.corpora[task.corpus])])
    user = search_agent(ScriptedChatModel(answers=script), search=bm25_tool(corpus, k=3, max_chars_per_doc=600),
                        first_query=lambda text: task.question, max_searches=2)
    assert produced(user.invoke(sent), sent["messages"]) == produced(bench.invoke(sent), sent["messages"])


class WindowedModel:
    """A scripted model with a context window: a prompt of more than `window` characters fails as llama.cpp's server
    fails it; every prompt it was sent is kept."""

    def __init__(self, answers: list[str], window: int, error: str = "Error code: 500 - Context size has been "
                 "exceeded.") -> None:
        self.inner = ScriptedChatModel(answers=answers)
        self.window, self.error = window, error
        self.prompts: list[str] = []

    def invoke(self, messages: list[Any], config: Any = None, **kwargs: Any) -> Any:
        prompt = "\n".join(message_text(m) for m in messages)
        self.prompts.append(prompt)
        if len(prompt) > self.window:
            raise RuntimeError(self.error)
        return self.inner.invoke(messages)


def search_results(task: str, query: str) -> str:
    return f"[{query}] " + "passage text " * 30  # about 400 characters a search


def test_a_search_that_outgrows_the_window_answers_from_the_latest_findings_that_fit() -> None:
    model = WindowedModel(["SEARCH: second", "SEARCH: third", "ANSWER: Paris"], window=1500)
    result = search_agent(model, search=search_results, max_searches=6).invoke(
        {"messages": [HumanMessage("Which city?")]})
    assert result["messages"][-1].content == "ANSWER: Paris"
    # It stopped searching when its turn no longer fit, then read what it had found, the oldest left out first.
    answered = model.prompts[-1]
    assert "[Which city?]" not in answered and "[second]" in answered and "[third]" in answered
    assert "You cannot search any more" in answered
    assert all(len(p) > 1500 for p in model.prompts[-3:-1])  # the turn and the full reading failed first


def test_a_search_agent_whose_question_alone_outgrows_the_window_raises() -> None:
    model = WindowedModel(["ANSWER: Paris"], window=50)
    with pytest.raises(RuntimeError, match="Context size"):
        search_agent(model, search=search_results, max_searches=2).invoke(
            {"messages": [HumanMessage("Which city is the capital of France, and why is it so famous?")]})


def test_another_model_error_is_not_taken_for_an_overflow() -> None:
    model = WindowedModel(["SEARCH: more", "ANSWER: Paris"], window=600, error="Error code: 500 - server on fire")
    with pytest.raises(RuntimeError, match="on fire"):
        search_agent(model, search=search_results, max_searches=3).invoke({"messages": [HumanMessage("Which?")]})


def test_a_coding_fix_that_outgrows_the_window_keeps_the_last_attempt() -> None:
    task = mbpp_task()
    # The first attempt fits; the failure read back makes the second prompt too long.
    model = WindowedModel([WRONG, RIGHT], window=len(task.text) + 400)
    result = coding_agent(model, max_attempts=3).invoke({"messages": [HumanMessage(task.text)]})
    assert [m.type for m in result["messages"]] == ["human", "ai", "human"]
    assert [m for m in result["messages"] if isinstance(m, AIMessage)][-1].content == WRONG
    with pytest.raises(RuntimeError, match="Context size"):  # nothing written yet: there is no answer to keep
        coding_agent(WindowedModel([RIGHT], window=10)).invoke({"messages": [HumanMessage(task.text)]})


@pytest.mark.parametrize(("build", "field"), [
    (lambda: coding_agent(ScriptedChatModel(), max_attempts=0), "max_attempts"),
    (lambda: search_agent(ScriptedChatModel(), search="nowhere"), "search"),  # type: ignore[arg-type]
    (lambda: search_agent(ScriptedChatModel(), search=lambda t, q: "", max_searches=-1), "max_searches"),
    (lambda: examples_check(timeout_s=0), "timeout_s"),
])
def test_a_bad_option_is_named(build: Any, field: str) -> None:
    with pytest.raises(AuctionConfigError) as raised:
        build()
    assert raised.value.field == field
