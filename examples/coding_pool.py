"""A coding pool: every bidder's executor is the coding agent, which tests its code before answering with it.

Each bidder runs `coding_agent(model)` (`langgraph_sale.agents`): the winner writes the function, runs it against
the tests the task shows in the sandbox, reads a failure and fixes it, and answers with the code: the deliverable,
not what a run printed. An `evaluate(task, answer)` callback runs the task's hidden tests on the answer with
`run_python`, and the outcome records `success`.

    python examples/coding_pool.py            # scripted fakes, real sandbox runs (a few seconds)
    python examples/coding_pool.py --local    # the real local models (a minute or two on 2 cores)
"""

from __future__ import annotations

import argparse
import contextlib
import re
from typing import Any

from langgraph_sale import Bidder, create_auction
from langgraph_sale.agents import coding_agent, extract_code
from langgraph_sale.local import local_pool
from langgraph_sale.report import format_auction
from langgraph_sale.testing import ScriptedChatModel
from langgraph_sale.tools import run_python

TASK = ("Write a Python function `is_palindrome(s: str) -> bool` that returns True when `s` reads the same forwards "
        "and backwards, ignoring case and any character that is not a letter or a digit.\n"
        "Your code should pass this test:\nassert is_palindrome(\"Was it a car or a cat I saw?\")")
TESTS = """
assert is_palindrome("A man, a plan, a canal: Panama")
assert not is_palindrome("race a car")
assert is_palindrome("") and is_palindrome("No 'x' in Nixon")
print("all tests passed")
"""
GOOD = "def is_palindrome(s):\n    kept = [c.lower() for c in s if c.isalnum()]\n    return kept == kept[::-1]\n"


def evaluate(task: str, answer: str) -> bool:
    return run_python(extract_code(answer) + TESTS, timeout_s=10).ok


def scripted_pool() -> list[Bidder]:
    jury = {"vague": 1, "tests": 5}
    naive = "```python\ndef is_palindrome(s):\n    return s == s[::-1]\n```"
    fixed = f"```python\n{GOOD}```"
    models = {  # the coding agent's turns: the first code fails the shown test, the fix passes it
        "tiny": ScriptedChatModel(plans=["1. Write it. 2. Done, a vague plan."], jury=jury, answers=[naive]),
        "small": ScriptedChatModel(plans=["1. Write is_palindrome. 2. Run the shown test. 3. Fix, rerun."],
                                   jury=jury, answers=[naive, fixed]),
        "large": ScriptedChatModel(plans=["1. Study the spec. 2. List edge cases. 3. Implement with type hints. "
                                          "4. Run the shown test and one per edge case. 5. Review the code."],
                                   jury=jury, answers=[naive, fixed]),
    }
    prices = {"tiny": 0.02, "small": 0.06, "large": 0.54}
    return [Bidder(name, model, prices[name], agent=coding_agent(model)) for name, model in models.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="run on the real local pool")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.local:  # the two coder models, each with the coding agent as its executor
            coders = ["qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"]
            local = stack.enter_context(local_pool(models=coders))
            pool = [Bidder(b.name, b.model, b.pricing, agent=coding_agent(b.model), limiter=b.limiter)
                    for b in local]
        else:
            pool = scripted_pool()
        app = create_auction(pool, evaluate=evaluate, max_bid_tokens=150 if args.local else 256)
        state: dict[str, Any] = {}
        chunk: Any  # a state, or {node: update}
        # subgraphs=True shows the winner's coding agent at work: each failure of the shown test it read back.
        run = app.compile().stream({"auction_task": TASK}, stream_mode=["updates", "values", "custom"], subgraphs=True)
        for namespace, mode, chunk in run:
            if mode == "values" and not namespace:
                state = chunk
            elif mode == "custom" and chunk.get("auction_event") in ("bid_submitted", "winner"):
                print(f"  {chunk['auction_event']}: {chunk.get('winner') or chunk['bidder']}", flush=True)
            elif mode == "updates" and (chunk.get("test") or {}).get("messages"):
                where, failure = namespace[-1].split(":")[0], chunk["test"]["messages"][0].content.splitlines()[0]
                print(f"[{where}] {failure}", flush=True)
    print()
    print(format_auction(state))
    outcome = state["auction_outcome"]
    defines = re.search(r"^def is_palindrome\(", extract_code(outcome["answer"] or ""), re.M) is not None
    print(f"Deliverable: the answer defines is_palindrome: {defines}; evaluated: success={outcome['success']}")


if __name__ == "__main__":
    main()
