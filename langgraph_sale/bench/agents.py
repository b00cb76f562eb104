"""The agentic executors of the benchmark, and the cache that lets every method share their runs.

- **Coding** (`coding_agent`): a bounded write - test - fix loop. The model writes the code; the harness runs it
  with the task's *visible* tests (the examples shown in the task) in the package's Python sandbox
  (`langgraph_sale.tools.run_python`); on a failure the model reads the status and output and writes the code again,
  up to `max_attempts` times. The loop is fixed rather than chosen by the model: small local models cannot drive
  tool calls reliably (docs/local-models.md §3), and a fixed loop gives every pool the same chance to test.
- **Search** (`search_agent`): the first search is the question itself, made before the model's first turn; then
  each turn the model answers `SEARCH: <keywords>` or `ANSWER: <short answer>`; a search runs BM25
  (`langgraph_sale.tools.bm25_tool`) over the task's corpus and returns the best passages; after `max_searches`
  searches (the first included) the model is asked for the answer alone. Searching first is what made small models
  use the corpus at all: left to choose, the 1.5B coder answered 10 of 12 questions from memory and the 0.5B
  searched until its searches ran out and never answered (docs/RESULTS.md, search).

Both take and return `{"messages": [...]}` like any agent subgraph, so they plug into `Bidder(agent=...)`: the
winner of an auction runs the same executor as an agent run alone. `BenchAgent` wraps one with the run's
execution cache: an (agent, task, plan) run, keyed by the agent and the exact input messages (the plan arrives as
the guidance message), is made once and replayed for every method that asks for it, its calls charged again.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from langgraph_sale.bench.data import Task
from langgraph_sale.bench.judge import extract_code
from langgraph_sale.bench.meter import (
    CallNotRecorded,
    CallRecord,
    JsonlCache,
    Meter,
    dump_message,
    load_message,
    messages_key,
)
from langgraph_sale.metrics import message_text

__all__ = ["Toolbox", "PyOutcome", "coding_agent", "search_agent", "BenchAgent", "parse_search_step",
           "CODE_SYSTEM", "SEARCH_SYSTEM", "ANSWER_SYSTEM", "ANSWER_NOW"]

CODE_SYSTEM = (
    "You are a careful Python programmer. Write the code the task asks for. Respond with the complete code (with "
    "any imports it needs) in one ```python code block, no explanation. It will be run on the task's examples and "
    "you will see the result."
)
SEARCH_SYSTEM = (
    "You answer questions by searching a collection of documents. Reply with exactly one line each turn: "
    "'SEARCH: <keywords>' to search the documents (names and specific terms work best), or 'ANSWER: <short "
    "answer>' once you know the answer. The answer is a short phrase such as a name, a date or a number."
)
ANSWER_SYSTEM = (
    "You answer questions from the search results you were given. Reply with exactly one line: 'ANSWER: <short "
    "answer>', a short phrase such as a name, a date or a number, or yes or no."
)
SEARCH_OR_ANSWER = "Reply with 'SEARCH: <keywords>' or 'ANSWER: <short answer>'."
ANSWER_NOW = "You cannot search any more. Reply now with 'ANSWER: <short answer>'."
_STEP = re.compile(r"^\W*(SEARCH|ANSWER)\s*:\s*(.*)$", re.I | re.M)


@dataclass(frozen=True)
class PyOutcome:
    ok: bool
    status: str
    output: str
    seconds: float
    cached: bool


class Toolbox:
    """The tools of the executors: sandboxed Python runs (memoised in the run folder) and BM25 searches.

    Runs made for an agent or a verifier are charged to it as `CallRecord(kind="tool")` (seconds, no tokens);
    the judge's runs (phase None) are the harness's and charged to nobody. `offline` (a replay) runs nothing: a run
    the cache lacks raises `CallNotRecorded`. With `simulated` (the fake pool, whose
    model seconds are simulated too) a run is charged `SIMULATED_RUN_S` and a search `SIMULATED_SEARCH_S` instead of
    what they took, so that a fake run's report is the same every time.
    """

    SIMULATED_RUN_S = 0.2
    SIMULATED_SEARCH_S = 0.02

    def __init__(self, meter: Meter, corpora: Mapping[str, Sequence[Mapping[str, str]]],
                 runs: JsonlCache | None = None, *, search_k: int = 3, passage_chars: int = 600,
                 simulated: bool = False, offline: bool = False) -> None:
        self.simulated, self.offline = simulated, offline
        self.meter = meter
        self.corpora = corpora
        self.runs = runs
        self.search_k = search_k
        self.passage_chars = passage_chars
        self._search_tools: dict[str, Any] = {}
        self.fresh_runs = 0

    def run(self, program: str, *, timeout_s: float, phase: str | None, agent: str = "") -> PyOutcome:
        from langgraph_sale.tools import run_python

        key = messages_key("python", timeout_s, messages=[HumanMessage(program)])
        entry = self.runs.get(key) if self.runs is not None else None
        if entry is None and self.offline:  # a replay: what a run measures (its seconds) is the record's or nothing
            missing = CallNotRecorded(agent or "the judge", phase or "judge", "sandbox run")
            self.meter.failed(missing.agent, missing)
            raise missing
        if entry is None:
            result = run_python(program, timeout_s=timeout_s, max_output_chars=3000)
            entry = {"ok": result.ok, "status": result.status, "output": result.output, "seconds": result.seconds}
            self.fresh_runs += 1
            if self.runs is not None:
                self.runs.put(key, entry)
            cached = False
        else:
            cached = True
        outcome = PyOutcome(ok=bool(entry["ok"]), status=str(entry["status"]), output=str(entry["output"]),
                            seconds=float(entry["seconds"]), cached=cached)
        if phase is not None:
            seconds = self.SIMULATED_RUN_S if self.simulated else outcome.seconds
            self.meter.add(CallRecord(phase=phase, agent=agent, seconds=seconds, cached=cached, kind="tool"))
        return outcome

    def search(self, corpus: str, query: str, *, agent: str, phase: str = "execute") -> str:
        tool = self._search_tools.get(corpus)
        if tool is None:
            from langgraph_sale.tools import SearchCorpus, bm25_tool

            documents = [{"id": str(i), "title": d["title"], "text": d["text"]}
                         for i, d in enumerate(self.corpora[corpus])]
            tool = self._search_tools[corpus] = bm25_tool(SearchCorpus(documents), k=self.search_k,
                                                          max_chars_per_doc=self.passage_chars)
        started = time.perf_counter()
        text = str(tool.invoke({"query": query}))
        seconds = self.SIMULATED_SEARCH_S if self.simulated else time.perf_counter() - started
        self.meter.add(CallRecord(phase=phase, agent=agent, seconds=seconds, kind="tool"))
        return text


class _AgentState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    steps: int
    done: bool


def _with_system(messages: Sequence[BaseMessage], instructions: str) -> list[BaseMessage]:
    """One system message first (small models' chat templates accept no other), holding guidance + instructions."""
    rest = list(messages)
    if rest and isinstance(rest[0], SystemMessage):
        return [SystemMessage(f"{message_text(rest[0])}\n\n{instructions}"), *rest[1:]]
    return [SystemMessage(instructions), *rest]


def _task_of(messages: Sequence[BaseMessage], tasks: Mapping[str, Task]) -> Task | None:
    first_human = next((m for m in messages if isinstance(m, HumanMessage)), None)
    return tasks.get(message_text(first_human)) if first_human is not None else None


def coding_agent(model: Any, tasks: Mapping[str, Task], toolbox: Toolbox, *, agent: str, max_attempts: int = 3
                 ) -> Any:
    """The write - test - fix executor (see the module docstring); the answer is its last code."""

    def write(state: _AgentState) -> dict[str, Any]:
        answer = model.invoke(_with_system(state["messages"], CODE_SYSTEM))
        return {"messages": [answer], "steps": state.get("steps", 0) + 1}

    def test(state: _AgentState) -> dict[str, Any]:
        task = _task_of(state["messages"], tasks)
        if task is None:
            return {"done": True}
        code = extract_code(message_text(state["messages"][-1]))
        outcome = toolbox.run(task.visible_program(code), timeout_s=task.timeout_s, phase="execute", agent=agent)
        if outcome.ok or state.get("steps", 0) >= max_attempts:
            return {"done": True}
        feedback = (f"Your code failed the task's examples (status: {outcome.status}). Output:\n"
                    f"{outcome.output[-1500:].rstrip() or '(no output)'}\n\nFix the code. Reply with the complete "
                    "corrected code in one ```python code block.")
        return {"messages": [HumanMessage(feedback)], "done": False}

    graph = StateGraph(_AgentState)
    graph.add_node("write", write)
    graph.add_node("test", test)
    graph.add_edge(START, "write")
    graph.add_edge("write", "test")
    graph.add_conditional_edges("test", lambda s: END if s.get("done") else "write", ["write", END])
    return graph.compile(name=f"coding_{agent}")


def parse_search_step(text: str) -> tuple[str, str]:
    """("search", keywords), ("answer", text) or ("other", text) for one turn of the search agent.

    Example:
        >>> parse_search_step("SEARCH: Eiffel Tower architect")
        ('search', 'Eiffel Tower architect')
        >>> parse_search_step("Thinking...\\nANSWER: Gustave Eiffel")
        ('answer', 'Gustave Eiffel')
    """
    match = _STEP.search(text)
    if match is None:
        return "other", text.strip()
    return match.group(1).lower(), match.group(2).strip()


def _reading(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """The final answer's input: any guidance, the task, then one message with every search result."""
    guidance = [m for m in messages[:1] if isinstance(m, SystemMessage)]
    humans = [m for m in messages if isinstance(m, HumanMessage)]
    # Each result without its reply instruction, which offered a search the model no longer has.
    results = [message_text(m).removesuffix(SEARCH_OR_ANSWER).rstrip() for m in humans[1:]]
    return [*guidance, *humans[:1], HumanMessage("\n\n".join([*results, ANSWER_NOW]))]


def search_agent(model: Any, tasks: Mapping[str, Task], toolbox: Toolbox, *, agent: str, max_searches: int = 3
                 ) -> Any:
    """The search - read - answer executor (see the module docstring); the answer is its last turn."""

    def search(state: _AgentState) -> dict[str, Any]:
        task = _task_of(state["messages"], tasks)
        last = state["messages"][-1]
        # The first search is the question itself; later ones are the model's.
        if isinstance(last, AIMessage):
            query = parse_search_step(message_text(last))[1]
        else:
            query = task.question if task is not None else message_text(last)
        if task is None or not task.corpus:
            results = "The search tool is not available for this task."
        else:
            results = toolbox.search(task.corpus, query[:300], agent=agent)
        # Every result offers the next search; after the last one `step` reads them all with `_reading` instead.
        return {"messages": [HumanMessage(f"Search results for {query[:200]!r}:\n{results}\n\n{SEARCH_OR_ANSWER}")],
                "steps": state.get("steps", 0) + 1}

    def step(state: _AgentState) -> dict[str, Any]:
        searches = state.get("steps", 0)
        if searches < max_searches:
            answer = model.invoke(_with_system(state["messages"], SEARCH_SYSTEM))
            return {"messages": [answer], "done": parse_search_step(message_text(answer))[0] != "search"}
        # Once the searches are spent the model reads the question and everything found, without its own earlier
        # turns: the 0.5B, shown its SEARCH lines, kept writing more of them even when told to answer.
        answer = model.invoke(_with_system(_reading(state["messages"]), ANSWER_SYSTEM))
        return {"messages": [answer], "done": True}

    graph = StateGraph(_AgentState)
    graph.add_node("search", search)
    graph.add_node("step", step)
    graph.add_edge(START, "search" if max_searches > 0 else "step")
    graph.add_edge("search", "step")
    graph.add_conditional_edges("step", lambda s: END if s.get("done") else "search", ["search", END])
    return graph.compile(name=f"search_{agent}")


class BenchAgent:
    """An executor graph behind the run's execution cache (see the module docstring); usable as `Bidder(agent=...)`.

    A replayed run charges its stored calls and tool runs again (marked cached), so a method pays for every run it
    uses, whoever made it first.
    """

    def __init__(self, name: str, graph: Any, meter: Meter, cache: JsonlCache | None, signature: str) -> None:
        self.name = name
        self.graph = graph
        self.meter = meter
        self.cache = cache
        self.signature = signature
        self.hits = 0
        self.misses = 0

    def invoke(self, value: Mapping[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        sent = list(value["messages"])
        key = messages_key("execution", self.name, self.signature, messages=sent)
        entry = self.cache.get(key) if self.cache is not None else None
        if entry is not None:
            self.hits += 1
            for record in entry["records"]:
                self.meter.add(CallRecord.from_json({**record, "cached": True}))
            return {"messages": [*sent, *(load_message(m) for m in entry["produced"])]}
        self.misses += 1
        with self.meter.capture() as records:
            result = self.graph.invoke({"messages": sent}, config)
        sent_ids = {m.id for m in sent if m.id}
        produced = [m for m in result["messages"] if m.id not in sent_ids]
        if self.cache is not None:
            self.cache.put(key, {"agent": self.name, "produced": [dump_message(m) for m in produced],
                                 "records": [r.to_json() for r in records]})
        return {"messages": [*sent, *produced]}

    async def ainvoke(self, value: Mapping[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        return await asyncio.to_thread(self.invoke, value, config)


def final_answer(messages: Sequence[BaseMessage]) -> str:
    """The text of the last AI message (what `langgraph_sale.executor.read_execution` reports as the answer)."""
    for message in reversed(messages):
        if isinstance(message, AIMessage):
            return message_text(message)
    return ""
