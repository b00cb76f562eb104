"""The benchmark's executors, and the cache that lets every method share their runs.

The executors are the package's own agents (`langgraph_sale.agents`): the write - test - fix `coding_agent`, checked
against each task's *visible* tests (the examples shown in the task, as `Task.visible_program` wraps them), and the
search-first `search_agent` over the task's corpus (BM25, `langgraph_sale.tools.bm25_tool`), its first query the
question itself. `bench_coding_agent` and `bench_search_agent` wire them to the run's `Toolbox`, which runs the
sandbox and the searches, memoises the runs in the run folder and charges them to the agent: so a user's
`Bidder(agent=coding_agent(model))` executes what the benchmark measured.

`BenchAgent` wraps one with the run's execution cache: an (agent, task, plan) run, keyed by the agent and the exact
input messages (the plan arrives as the guidance message), is made once and replayed for every method that asks
for it, its calls charged again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from langgraph_sale.agents import coding_agent, search_agent
from langgraph_sale.bench.data import Task
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

__all__ = ["SEARCH_K", "PASSAGE_CHARS", "Toolbox", "PyOutcome", "bench_coding_agent", "bench_search_agent",
           "BenchAgent", "final_answer"]


@dataclass(frozen=True)
class PyOutcome:
    ok: bool
    status: str
    output: str
    seconds: float
    cached: bool


SEARCH_K = 3
"""Passages a bench search returns, unless `--search-k` says otherwise."""
PASSAGE_CHARS = 600
"""Characters of each passage a bench search returns, unless `--passage-chars` says otherwise."""


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
                 runs: JsonlCache | None = None, *, search_k: int = SEARCH_K, passage_chars: int = PASSAGE_CHARS,
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


def bench_coding_agent(model: Any, tasks: Mapping[str, Task], toolbox: Toolbox, *, agent: str,
                       max_attempts: int = 3) -> Any:
    """`langgraph_sale.agents.coding_agent`, checked against each task's visible tests through the run's toolbox."""

    def check(text: str, code: str) -> PyOutcome | None:
        task = tasks.get(text)
        if task is None:
            return None
        return toolbox.run(task.visible_program(code), timeout_s=task.timeout_s, phase="execute", agent=agent)

    return coding_agent(model, check=check, max_attempts=max_attempts, name=f"coding_{agent}")


def bench_search_agent(model: Any, tasks: Mapping[str, Task], toolbox: Toolbox, *, agent: str,
                       max_searches: int = 3) -> Any:
    """`langgraph_sale.agents.search_agent` over each task's corpus through the run's toolbox, its first query the
    task's question."""

    def search(text: str, query: str) -> str | None:
        task = tasks.get(text)
        return toolbox.search(task.corpus, query, agent=agent) if task is not None and task.corpus else None

    def first_query(text: str) -> str:
        task = tasks.get(text)
        return task.question if task is not None else text

    return search_agent(model, search=search, first_query=first_query, max_searches=max_searches,
                        name=f"search_{agent}")


class BenchAgent:
    """An executor graph behind the run's execution cache (see the module docstring); usable as `Bidder(agent=...)`.

    A replayed run charges its stored calls and tool runs again (marked cached), so a method pays for every run it
    uses, whoever made it first.
    """

    def __init__(self, name: str, graph: Any, meter: Meter, cache: JsonlCache | None, signature: str, *,
                 variants: Mapping[str, tuple[Any, str]] | None = None) -> None:
        self.name = name
        self.graph = graph
        self.meter = meter
        self.cache = cache
        self.signature = signature
        self.variants = dict(variants or {})
        """Task texts whose runs use another graph and signature (a class-level task's larger output cap)."""
        self.hits = 0
        self.misses = 0

    def invoke(self, value: Mapping[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        sent = list(value["messages"])
        task = next((message_text(m) for m in reversed(sent) if isinstance(m, HumanMessage)), "")
        graph, signature = self.variants.get(task, (self.graph, self.signature))
        key = messages_key("execution", self.name, signature, messages=sent)
        entry = self.cache.get(key) if self.cache is not None else None
        if entry is not None:
            self.hits += 1
            for record in entry["records"]:
                self.meter.add(CallRecord.from_json({**record, "cached": True}))
            return {"messages": [*sent, *(load_message(m) for m in entry["produced"])]}
        self.misses += 1
        with self.meter.capture() as records:
            result = graph.invoke({"messages": sent}, config)
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
