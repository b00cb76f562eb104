"""Do the executors deliver what the task asks for? MBPP tasks outside every manifest, the local Qwen2.5-Coder-1.5B.

Each task is written as the README's coding pool writes one (the request, the test it shows, "Test it before
answering.") and run by two executors of the same model:

- the default tool executor: `Bidder(model, tools=[python_tool()], tool_calling="json")` with no agent (JSON
  decisions: run code in the sandbox, or give the final answer);
- the coding agent: `langgraph_sale.agents.coding_agent(model)` (write, test against the shown test, fix);
- for comparison, the default tool executor as it was before it learned to deliver (its prompt without the line on
  the final answer, and no second ask when a task asking for code is answered without code after code ran).

For each it counts the final answers that hold the requested function (`def <name>(` in the answer's code), their
pass@1 on the task's own hidden tests (every assert MBPP lists), and how the default executor delivered them (its
first final answer, asked once more, or the last code that ran). Every run is kept in `--out` (JSON Lines, one line
per executor and task), so a rerun resumes; `--report` prints the table from what is there.

    python benchmarks/bench_delivery.py --tasks 20 --out bench-results/delivery   # about 25 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langgraph_sale.agents import coding_agent, extract_code
from langgraph_sale.executor import default_executor, execution_input, read_execution
from langgraph_sale.tools import python_tool, run_python

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
EXECUTORS = ("default tool executor", "coding agent", "default tool executor, before the fix")


def _manifest_ids(path: Path) -> set[str]:
    manifest = json.loads(path.read_text(encoding="utf-8"))
    return {str(entry["task_id"]) for entry in manifest.get("coding", []) if entry["source"].startswith("mbpp")}


def pick_tasks(data: Path, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` sanitized-MBPP tasks in none of the bench, smoke and holdout manifests, drawn with `seed`."""
    used = set().union(*(_manifest_ids(data / "manifests" / f"{name}.json") for name in ("bench", "smoke", "holdout")))
    records = json.loads((data / "mbpp" / "sanitized-mbpp.json").read_text(encoding="utf-8"))
    free = sorted((r for r in records if str(r["task_id"]) not in used and r.get("test_list")),
                  key=lambda r: int(r["task_id"]))
    return random.Random(seed).sample(free, count)


def task_text(record: dict[str, Any]) -> str:
    return (f"{record['prompt'].strip()}\nYour code should pass this test:\n{record['test_list'][0]}\n"
            "Test it before answering.")


def function_name(record: dict[str, Any]) -> str:
    """The requested function: the one the reference solution defines that the shown test calls."""
    defined = re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", record["code"], re.M)
    return next((name for name in defined if f"{name}(" in record["test_list"][0]), "")


def judged(record: dict[str, Any], answer: str) -> dict[str, Any]:
    code = extract_code(answer)
    name = function_name(record)
    holds = bool(name) and re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", code, re.M) is not None
    tests = "\n".join([*(record.get("test_imports") or []), code, *record["test_list"]])
    return {"holds_function": holds, "passed": run_python(tests, timeout_s=10).ok}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--data", type=Path, default=SHARED, help="the shared data root (MBPP and the manifests)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/delivery"))
    parser.add_argument("--report", action="store_true", help="print the table from --out and run nothing")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runs_path = args.out / "runs.jsonl"
    runs = {(r["executor"], r["task_id"]): r for r in map(json.loads, runs_path.open())} if runs_path.exists() else {}
    tasks = pick_tasks(args.data, args.tasks, args.seed)
    if not args.report:
        _run(tasks, runs, runs_path)
    print(_table(tasks, runs))
    return 0


def _run(tasks: list[dict[str, Any]], runs: dict[tuple[str, str], dict[str, Any]], runs_path: Path) -> None:
    from langgraph_sale.local import local_pool

    with local_pool(models=["qwen2.5-coder-1.5b-instruct"], tools=[python_tool()]) as pool, \
            runs_path.open("a", encoding="utf-8") as sink:
        bidder = pool[0]
        executors: dict[str, Callable[[], Any]] = {
            "default tool executor": lambda: default_executor(bidder),
            "coding agent": lambda: coding_agent(bidder.model),
            "default tool executor, before the fix": lambda: _before_the_fix(bidder),
        }
        for record in tasks:
            for name in EXECUTORS:
                if (name, str(record["task_id"])) in runs:
                    continue
                sent = execution_input(task_text(record), "", guided=False)
                started = time.perf_counter()
                result = executors[name]().invoke(sent, {"recursion_limit": 60})
                execution = read_execution(sent, result, bidder, started)
                row = {"executor": name, "task_id": str(record["task_id"]), "answer": execution["answer"],
                       "delivery": execution.get("delivery") or "first answer",
                       "calls": execution["usage"]["calls"], "seconds": round(execution["wall_s"], 1),
                       **judged(record, execution["answer"])}
                runs[(name, row["task_id"])] = row
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                print(f"{name} MBPP/{row['task_id']}: function {row['holds_function']}, passed {row['passed']}, "
                      f"{row['delivery']}, {row['seconds']} s", file=sys.stderr, flush=True)


def _before_the_fix(bidder: Any) -> Any:
    """The default tool executor without what makes it deliver: built while its deliver check finds nothing to fix
    and its tool instructions lack their last line (what the final answer is)."""
    from unittest import mock

    from langgraph_sale import executor, json_decision

    instructions = json_decision._tool_instructions

    def without_the_line(tools: Any) -> str:
        return instructions(tools).rsplit("\n", 1)[0]

    with mock.patch.object(json_decision, "_tool_instructions", without_the_line):
        graph = default_executor(bidder)
    # The deliver node reads `_undelivered` when it runs: patch it for the whole run, through a wrapper graph call.
    return _Patched(graph, mock.patch.object(executor, "_undelivered", lambda messages: None))


class _Patched:
    def __init__(self, graph: Any, patch: Any) -> None:
        self.graph, self.patch = graph, patch

    def invoke(self, value: Any, config: Any = None) -> Any:
        with self.patch:
            return self.graph.invoke(value, config)


def _table(tasks: list[dict[str, Any]], runs: dict[tuple[str, str], dict[str, Any]]) -> str:
    lines = [f"MBPP tasks outside the manifests: {', '.join(str(t['task_id']) for t in tasks)}", "",
             "| executor | tasks run | answers holding the function | pass@1 (hidden tests) | delivered by | "
             "model calls / task | seconds / task |", "|---|---|---|---|---|---|---|"]
    for name in EXECUTORS:
        done = [runs[(name, str(t["task_id"]))] for t in tasks if (name, str(t["task_id"])) in runs]
        if not done:
            continue
        modes: dict[str, int] = {}
        for row in done:
            modes[row["delivery"]] = modes.get(row["delivery"], 0) + 1
        lines.append(f"| {name} | {len(done)} | {sum(r['holds_function'] for r in done)} of {len(done)} | "
                     f"{sum(r['passed'] for r in done)} of {len(done)} | "
                     f"{', '.join(f'{mode} {n}' for mode, n in sorted(modes.items()))} | "
                     f"{sum(r['calls'] for r in done) / len(done):.1f} | "
                     f"{sum(r['seconds'] for r in done) / len(done):.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
