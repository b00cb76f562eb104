"""The benchmark harness: SALE against single agents, a random pick, the oracle, a kNN router and a verifier
cascade, over coding (HumanEval, MBPP, ClassEval) and deep-search (HotpotQA, MuSiQue) tasks, with a fake, local or
OpenAI-compatible pool.

    langgraph-sale bench --suite smoke --pool fake          # or: python -m langgraph_sale.bench ...

The harness imports the package as any user does; nothing in the package imports it. Modules: `data` (suites and
tasks), `judge` (tests, exact match / F1), `meter` (metered, cached model calls), `agents` (the agentic
executors and the execution cache), `fake` (the scripted pool), `pools`, `methods`, `runner` (the resumable run),
`report` (tables and plots), `cli`.
"""

from langgraph_sale.bench.runner import BenchConfig, BenchRun, run_bench

__all__ = ["BenchConfig", "BenchRun", "run_bench"]
