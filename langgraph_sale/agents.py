"""Executors that work on small models, as agents: `Bidder(agent=coding_agent(model))` and
`Bidder(agent=search_agent(model, search=...))`.

Small local models cannot drive tool calls reliably (docs/local-models.md §3), so these agents fix the loop instead
of letting the model choose it; they are the executors the benchmark measured (`langgraph_sale.bench` builds its
executors with them).

- **`coding_agent`**: write, test, fix. The model writes the code; `check` runs it against the tests the task shows
  (by default `examples_check`: its `assert` lines, else its `>>>` examples, in the package's sandbox); on a failure
  the model reads the status and output and writes the code again, up to `max_attempts` times. The answer is the
  last code, in a ```python block: the deliverable, never what a run printed.
- **`search_agent`**: search first, then search or answer. The first search is the question itself, made before
  the model's first turn; then each turn the model answers `SEARCH: <keywords>` or `ANSWER: <short answer>`; after
  `max_searches` searches it reads the question and everything found and answers. Searching first is what made
  small models use the corpus at all (docs/RESULTS.md, search).

**When the conversation outgrows the model's context window** (`errors.is_context_overflow` reads the provider's
error), neither agent throws away what it did: the coding agent ends with its last attempt as the answer, and the
search agent answers from what it found, leaving out the oldest results, one at a time, until the reading fits. A
task that does not fit even alone still raises.

Both take and return `{"messages": [...]}` (the task is the first human message; an auction's guidance, the
winner's plan, arrives as the system message before it), so they run alone or as a bidder's executor.

Examples:
    >>> from langgraph_sale.testing import ScriptedChatModel
    >>> model = ScriptedChatModel(answers=["```python\\ndef add(a, b):\\n    return a + b\\n```"])
    >>> agent = coding_agent(model)
    >>> result = agent.invoke({"messages": [("user", "Write add(a, b).\\nassert add(1, 2) == 3")]})
    >>> extract_code(result["messages"][-1].content)
    'def add(a, b):\\n    return a + b\\n'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Protocol

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from langgraph_sale.errors import AuctionConfigError, is_context_overflow, require_int, require_seconds
from langgraph_sale.metrics import message_text

__all__ = ["coding_agent", "search_agent", "examples_check", "passes_examples", "extract_code", "parse_search_step",
           "CheckRun", "CodeCheck", "CODE_SYSTEM", "SEARCH_SYSTEM", "ANSWER_SYSTEM", "SEARCH_OR_ANSWER", "ANSWER_NOW"]

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
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
"""A fenced block, its language and its body; an unclosed fence runs to the end (a model cut off by its cap)."""


class CheckRun(Protocol):
    """What a check says of one run of the code against the task's tests (`langgraph_sale.tools.PythonRun` is one)."""

    @property
    def ok(self) -> bool: ...

    @property
    def status(self) -> str: ...

    @property
    def output(self) -> str: ...


CodeCheck = Callable[[str, str], CheckRun | None]
"""`check(task, code)`: run the code against the tests the task shows; None when the task shows none."""
Search = Callable[[str, str], str | None]
"""`search(task, query)`: the results, as text the model reads; None when there is nothing to search."""


class _AgentState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    steps: int
    done: bool


def extract_code(text: str) -> str:
    """The code of an answer: the first fenced block that defines something, else the first block, else the text.

    Examples:
        >>> extract_code("Here:\\n```python\\ndef f():\\n    return 1\\n```\\nDone.")
        'def f():\\n    return 1\\n'
        >>> extract_code("def g(): pass")
        'def g(): pass'
    """
    blocks: list[str] = [str(body) for _, body in _FENCE.findall(text)]
    for body in blocks:
        if re.search(r"^\s*(def|class|import|from)\s", body, re.M):
            return body
    return blocks[0] if blocks else text


def examples_check(*, timeout_s: float = 10.0) -> CodeCheck:
    """A `CodeCheck` from the task's own text: its `assert` lines (as MBPP shows them), else its `>>>` examples
    (as HumanEval's docstrings do), run after the code in the sandbox (`langgraph_sale.tools.run_python`); None for
    a task that shows neither.

    Examples:
        >>> check = examples_check()
        >>> check("Write add.\\nassert add(1, 2) == 3", "def add(a, b):\\n    return a + b").ok
        True
        >>> check("Write add.", "def add(a, b): return a + b") is None
        True
    """
    require_seconds("timeout_s", timeout_s, optional=False)

    def check(task: str, code: str) -> CheckRun | None:
        from langgraph_sale.tools import run_python

        asserts = [line.strip() for line in task.splitlines() if line.strip().startswith("assert ")]
        if asserts:  # laid out as the benchmark runs an MBPP task's shown test, line for line
            tail = "\n".join([*asserts, "print('the example test passes')"])
        elif ">>>" in task:
            # The examples' text only: a docstring's closing quotes must end an expected output, not belong to it.
            examples = task.replace('"""', "").replace("\'\'\'", "")
            tail = (f"import doctest as _d\n_t = _d.DocTestParser().get_doctest({examples!r}, dict(globals()), "
                    "'task', None, 0)\n_r = _d.DocTestRunner(optionflags=_d.NORMALIZE_WHITESPACE)\n_r.run(_t)\n"
                    "raise SystemExit(1 if _r.failures else 0)")
        else:
            return None
        return run_python(f"\n{code}\n{tail}\n", timeout_s=timeout_s, max_output_chars=3000)

    return check


def passes_examples(*, timeout_s: float = 10.0) -> Callable[[str, str], bool]:
    """An `Escalate` check for coding tasks: the answer's code passes the examples the task shows (`examples_check`);
    a task that shows none keeps its answer (there is nothing to check it against).

    Examples:
        >>> check = passes_examples()
        >>> check("Write add.\\nassert add(1, 2) == 3", "```python\\ndef add(a, b):\\n    return a - b\\n```")
        False
        >>> check("Write add.", "def add(a, b): return a - b")
        True
    """
    run_examples = examples_check(timeout_s=timeout_s)

    def check(task: str, answer: str) -> bool:
        outcome = run_examples(task, extract_code(answer))
        return outcome is None or outcome.ok

    return check


def _with_system(messages: Sequence[BaseMessage], instructions: str) -> list[BaseMessage]:
    """One system message first (small models' chat templates accept no other), holding guidance + instructions."""
    rest = list(messages)
    if rest and isinstance(rest[0], SystemMessage):
        return [SystemMessage(f"{message_text(rest[0])}\n\n{instructions}"), *rest[1:]]
    return [SystemMessage(instructions), *rest]


def _task_text(messages: Sequence[BaseMessage]) -> str | None:
    first_human = next((m for m in messages if isinstance(m, HumanMessage)), None)
    return message_text(first_human) if first_human is not None else None


def coding_agent(model: Any, *, check: CodeCheck | None = None, max_attempts: int = 3, name: str = "coding") -> Any:
    """The write - test - fix executor (see the module docstring), compiled; its answer is its last code.

    Args:
        model: The chat model that writes the code.
        check: Runs the code against the task's tests (default `examples_check()`).
        max_attempts: Code attempts at most (the first included).
        name: The compiled graph's name.

    Raises:
        AuctionConfigError: On a bad option, naming it.
    """
    require_int("max_attempts", max_attempts)
    check = check if check is not None else examples_check()

    def write(state: _AgentState) -> dict[str, Any]:
        try:
            answer = model.invoke(_with_system(state["messages"], CODE_SYSTEM))
        except Exception as err:
            if not is_context_overflow(err) or not any(isinstance(m, AIMessage) for m in state["messages"]):
                raise
            # The failures read back outgrew the model's context window: the last attempt stands as the answer.
            return {"done": True}
        return {"messages": [answer], "steps": state.get("steps", 0) + 1}

    def test(state: _AgentState) -> dict[str, Any]:
        task = _task_text(state["messages"])
        code = extract_code(message_text(state["messages"][-1]))
        outcome = check(task, code) if task is not None else None
        if outcome is None or outcome.ok or state.get("steps", 0) >= max_attempts:
            return {"done": True}
        feedback = (f"Your code failed the task's examples (status: {outcome.status}). Output:\n"
                    f"{outcome.output[-1500:].rstrip() or '(no output)'}\n\nFix the code. Reply with the complete "
                    "corrected code in one ```python code block.")
        return {"messages": [HumanMessage(feedback)], "done": False}

    graph = StateGraph(_AgentState)
    graph.add_node("write", write)
    graph.add_node("test", test)
    graph.add_edge(START, "write")
    graph.add_conditional_edges("write", lambda s: END if s.get("done") else "test", ["test", END])
    graph.add_conditional_edges("test", lambda s: END if s.get("done") else "write", ["write", END])
    return graph.compile(name=name)


def parse_search_step(text: str) -> tuple[str, str]:
    """("search", keywords), ("answer", text) or ("other", text) for one turn of the search agent.

    Examples:
        >>> parse_search_step("SEARCH: Eiffel Tower architect")
        ('search', 'Eiffel Tower architect')
        >>> parse_search_step("Thinking...\\nANSWER: Gustave Eiffel")
        ('answer', 'Gustave Eiffel')
    """
    match = _STEP.search(text)
    if match is None:
        return "other", text.strip()
    return match.group(1).lower(), match.group(2).strip()


def _reading(messages: Sequence[BaseMessage], *, drop: int = 0) -> list[BaseMessage]:
    """The final answer's input: any guidance, the task, then one message with every search result but the `drop`
    oldest."""
    guidance = [m for m in messages[:1] if isinstance(m, SystemMessage)]
    humans = [m for m in messages if isinstance(m, HumanMessage)]
    # Each result without its reply instruction, which offered a search the model no longer has.
    results = [message_text(m).removesuffix(SEARCH_OR_ANSWER).rstrip() for m in humans[1:]]
    return [*guidance, *humans[:1], HumanMessage("\n\n".join([*results[drop:], ANSWER_NOW]))]


def _searcher(search: Search | BaseTool) -> Search:
    if isinstance(search, BaseTool):  # a search tool (for example `langgraph_sale.tools.bm25_tool`)
        return lambda task, query: str(search.invoke({"query": query}))
    if not callable(search):
        raise AuctionConfigError("search", f"must be a search tool or a search(task, query) callable, got {search!r}")
    return search


def search_agent(model: Any, *, search: Search | BaseTool, first_query: Callable[[str], str] | None = None,
                 max_searches: int = 3, name: str = "search") -> Any:
    """The search - read - answer executor (see the module docstring), compiled; its answer is its last turn.

    Args:
        model: The chat model that searches and answers.
        search: A search tool taking `{"query": ...}` (`bm25_tool(corpus)`), or `search(task, query) -> str | None`
            (None: nothing to search for this task).
        first_query: The first search's query from the task text (default: the task text itself).
        max_searches: Searches at most, the first included (0: answer at once).
        name: The compiled graph's name.

    Raises:
        AuctionConfigError: On a bad option, naming it.

    Examples:
        >>> from langgraph_sale.testing import ScriptedChatModel
        >>> model = ScriptedChatModel(answers=["ANSWER: Paris"])
        >>> agent = search_agent(model, search=lambda task, query: "1. France. Its capital is Paris.")
        >>> agent.invoke({"messages": [("user", "What is the capital of France?")]})["messages"][-1].content
        'ANSWER: Paris'
    """
    require_int("max_searches", max_searches, minimum=0)
    searcher = _searcher(search)
    first = first_query if first_query is not None else (lambda task: task)

    def search_step(state: _AgentState) -> dict[str, Any]:
        task = _task_text(state["messages"])
        last = state["messages"][-1]
        # The first search is the question itself; later ones are the model's.
        if isinstance(last, AIMessage):
            query = parse_search_step(message_text(last))[1]
        else:
            query = first(task) if task is not None else message_text(last)
        found = searcher(task or "", query[:300])
        results = found if found is not None else "The search tool is not available for this task."
        # Every result offers the next search; after the last one `step` reads them all with `_reading` instead.
        return {"messages": [HumanMessage(f"Search results for {query[:200]!r}:\n{results}\n\n{SEARCH_OR_ANSWER}")],
                "steps": state.get("steps", 0) + 1}

    def answer_from_findings(messages: Sequence[BaseMessage]) -> BaseMessage:
        # The model reads the question and everything found, without its own earlier turns: the 0.5B, shown its
        # SEARCH lines, kept writing more of them even when told to answer. Where that outgrows the model's context
        # window, the oldest results are left out, one at a time, until it fits.
        results = sum(isinstance(m, HumanMessage) for m in messages) - 1
        drop = 0
        while True:
            try:
                answer: BaseMessage = model.invoke(_with_system(_reading(messages, drop=drop), ANSWER_SYSTEM))
                return answer
            except Exception as err:
                if drop >= results or not is_context_overflow(err):
                    raise
                drop += 1

    def step(state: _AgentState) -> dict[str, Any]:
        searches = state.get("steps", 0)
        if searches < max_searches:
            try:
                answer = model.invoke(_with_system(state["messages"], SEARCH_SYSTEM))
            except Exception as err:
                if not is_context_overflow(err):
                    raise
                # The conversation outgrew the model's context window: it answers from what it found so far.
                return {"messages": [answer_from_findings(state["messages"])], "done": True}
            return {"messages": [answer], "done": parse_search_step(message_text(answer))[0] != "search"}
        return {"messages": [answer_from_findings(state["messages"])], "done": True}

    graph = StateGraph(_AgentState)
    graph.add_node("search", search_step)
    graph.add_node("step", step)
    graph.add_edge(START, "search" if max_searches > 0 else "step")
    graph.add_edge("search", "step")
    graph.add_conditional_edges("step", lambda s: END if s.get("done") else "search", ["search", END])
    return graph.compile(name=name)
