"""A coding pool: bidders with a sandboxed Python tool, a winner that runs its tests, an evaluator that checks.

Every bidder gets `python_tool()` and `tool_calling="json"`: each executor step is a JSON decision (call
`run_python` with a program, or give the final answer), which small models without native tool calls can make.
The winner writes the function, runs it against its tests in the sandbox, reads the result, then answers. An
`evaluate(task, answer)` callback runs the task's hidden tests on the answer with `run_python`, and the outcome
records `success`.

    python examples/coding_pool.py            # scripted fakes, real sandbox runs (a few seconds)
    python examples/coding_pool.py --local    # the three real local models (minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import contextlib
import re
from typing import Any

from langgraph_sale import Bidder, create_auction
from langgraph_sale.local import local_pool
from langgraph_sale.report import format_auction
from langgraph_sale.testing import ScriptedChatModel
from langgraph_sale.tools import python_tool, run_python

TASK = ("Write a Python function `is_palindrome(s: str) -> bool` that returns True when `s` reads the same forwards "
        "and backwards, ignoring case and any character that is not a letter or a digit. Test it before answering.")
TESTS = """
assert is_palindrome("A man, a plan, a canal: Panama")
assert not is_palindrome("race a car")
assert is_palindrome("") and is_palindrome("No 'x' in Nixon")
print("all tests passed")
"""
GOOD = "def is_palindrome(s):\n    kept = [c.lower() for c in s if c.isalnum()]\n    return kept == kept[::-1]\n"


def code_of(answer: str) -> str:
    """The code in an answer: its first fenced block, else the whole text."""
    fenced = re.search(r"```(?:python)?\n(.*?)```", answer, re.S)
    return fenced.group(1) if fenced else answer


def evaluate(task: str, answer: str) -> bool:
    return run_python(code_of(answer) + TESTS, timeout_s=10).ok


def scripted_pool(tools: list[Any]) -> list[Bidder]:
    jury = {"vague": 1, "tests": 5}
    tested = [{"tool": "run_python", "args": {"code": GOOD + TESTS}}, {"final_answer": GOOD}]  # JSON decisions
    models = {
        "tiny": ScriptedChatModel(plans=["1. Write it. 2. Done, a vague plan."], jury=jury,
                                  answers=[{"final_answer": "def is_palindrome(s):\n    return s == s[::-1]\n"}]),
        "small": ScriptedChatModel(plans=["1. Write is_palindrome. 2. Run tests with run_python. 3. Fix, rerun."],
                                   jury=jury, answers=tested),
        "large": ScriptedChatModel(plans=["1. Study the spec. 2. List edge cases. 3. Implement with type hints. "
                                          "4. Write tests for each edge case and run them with run_python. "
                                          "5. Review the code and the test output."], jury=jury, answers=tested),
    }
    prices = {"tiny": 0.02, "small": 0.06, "large": 0.54}
    return [Bidder(name, model, prices[name], tools=tools, tool_calling="json") for name, model in models.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="run on the real local pool")
    args = parser.parse_args()
    tools = [python_tool(timeout_s=10)]
    with contextlib.ExitStack() as stack:
        # local_bidders gives the tools through a JSON decision step (these models emit no native tool calls).
        pool = stack.enter_context(local_pool(tools=tools)) if args.local else scripted_pool(tools)
        app = create_auction(pool, evaluate=evaluate, max_steps=4, max_bid_tokens=150 if args.local else 256)
        state: dict[str, Any] = {}
        chunk: Any  # a state, or {node: update}
        # subgraphs=True shows the winner's executor at work: each sandbox run it asked for, and what came back.
        run = app.compile().stream({"auction_task": TASK}, stream_mode=["updates", "values", "custom"], subgraphs=True)
        for namespace, mode, chunk in run:
            if mode == "values" and not namespace:
                state = chunk
            elif mode == "custom" and chunk.get("auction_event") in ("bid_submitted", "winner"):
                print(f"  {chunk['auction_event']}: {chunk.get('winner') or chunk['bidder']}", flush=True)
            elif mode == "updates" and "tools" in chunk:
                for result in chunk["tools"]["messages"]:
                    where, said = namespace[-1].split(":")[0], " / ".join(result.text.splitlines())
                    print(f"[{where}] {result.name} -> {said}", flush=True)
    print()
    print(format_auction(state))


if __name__ == "__main__":
    main()
