"""Real tools for the agents of an auction pool, in one place: a sandboxed Python runner (`langgraph_sale.sandbox`)
and a BM25 search over a local corpus (`langgraph_sale.search`).

`python_tool` lets a model run the code it wrote (for example a solution and its unit tests) and read what it
printed; `run_python` is the same runner for a benchmark that wants the result as data. `bm25_tool` lets a model
search a `SearchCorpus` (for example the paragraphs of a multi-hop QA set) by keywords. The sandbox's layers and
what each stops are in `langgraph_sale.sandbox` and docs/RELIABILITY.md.

Examples:
    >>> from langgraph_sale.tools import bm25_tool, run_python
    >>> run_python("print(6 * 7)").output
    '42\\n'
"""

from __future__ import annotations

from langgraph_sale.sandbox import (
    REQUIRE_SANDBOX_ENV,
    PythonRun,
    SandboxLayer,
    SandboxUnavailableError,
    python_tool,
    run_python,
    sandbox_layer,
)
from langgraph_sale.search import Hit, SearchCorpus, bm25_tool

__all__ = ["PythonRun", "run_python", "python_tool", "Hit", "SearchCorpus", "bm25_tool", "sandbox_layer",
           "SandboxLayer", "SandboxUnavailableError", "REQUIRE_SANDBOX_ENV"]
