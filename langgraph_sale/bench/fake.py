"""The fake pool of the benchmark: scripted models that answer by fixed, documented rules. A harness check, not a
result: it shows that every method runs, every call is metered and the judge is real; it says nothing about how
SALE does with real models.

The rules, all deterministic functions of hashes of (agent, task, ...), so every run gives the same answers:

- **Who can solve what.** A task has a hidden difficulty draw `u_task` shared by all agents and each agent an own
  draw `u_own`; an agent solves it on its first try when `0.65 u_task + 0.35 u_own < skill[agent][bin]`. Skills rise
  with the agent's size and fall with the bin, so bigger agents solve more and the sets mostly nest (but not
  always: a small agent sometimes solves what a large one misses).
- **What a solution is.** A solving agent answers with the dataset's reference solution (coding) or gold answer
  (search); a failing one with the task's bare stub (coding, which fails the tests) or a wrong entity taken from
  the passages it read (search). The harness's judge then runs the real tests or the real exact match: the fake
  never says whether it passed.
- **The agentic loops.** In the coding loop, each failed round of examples raises the agent's threshold by its
  `fix_rate` (reading failures helps, a little); in the search loop, small agents search twice before answering,
  the large one once (the paper's 32B skips the tool more often).
- **Signal in the bids.** A plan is *concrete* (restates the goal, names the tool, runs the examples or checks the
  answer against a passage) or *vague* ("write an answer quickly"). An agent writes a concrete plan when it can
  solve the task, except that its self-assessment flips with probability 0.2; in an outbid round (it has seen
  recalled losing and winning plans) the flip probability falls to 0.1. Larger agents write longer plans (more
  steps, extra design and review steps), so their bids cost more.
- **The jury.** A juror reads the plan, not the truth: it scores a concrete plan 4-5 and a vague one 1-2, but misreads
  a plan with probability `1 - juror_accuracy` (0.7 / 0.8 / 0.9 from small to large). It is never told the author.
- **The cascade's verifier** (search) is told the question and the answer; it scores a correct answer high and a wrong
  one low, again misjudging with probability `1 - juror_accuracy`.
- **Entropy** carries no signal: every token of every agent has the same top-5 distribution (top probability
  0.75), so the entropy term is the same for every bid and `sale_no_entropy` decides exactly as `sale`.
- **Tokens and time.** Tokens are about four characters each; seconds are simulated from the token counts at
  each agent's speed (prefill 20x decode; decode 60 / 30 / 12 tokens a second), reported to the meter in place
  of the (near-zero) real latency.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict

from langgraph_sale.agents import ANSWER_NOW
from langgraph_sale.bench.data import Task
from langgraph_sale.bench.judge import best_match
from langgraph_sale.bench.meter import SIMULATED_SECONDS, phase_of
from langgraph_sale.metrics import CHARS_PER_TOKEN, message_text
from langgraph_sale.prompts import BID_MARKER, JURY_ASK, REVISED_PLAN

__all__ = ["FakeAgent", "FAKE_AGENTS", "FakeWorld", "FakeBenchModel"]


@dataclass(frozen=True)
class FakeAgent:
    """One agent of the fake pool and the constants of its rules (see the module docstring)."""

    name: str
    price_per_mtok: float
    skill: Mapping[str, float]
    juror_accuracy: float
    fix_rate: float
    searches: int
    decode_tok_s: float
    extra_steps: int


FAKE_AGENTS: tuple[FakeAgent, ...] = (
    FakeAgent("small", 0.05, {"easy": 0.72, "medium": 0.50, "hard": 0.32, "xhard": 0.18}, 0.70, 0.10, 2, 60.0, 0),
    FakeAgent("medium", 0.16, {"easy": 0.80, "medium": 0.64, "hard": 0.46, "xhard": 0.30}, 0.80, 0.10, 2, 30.0, 1),
    FakeAgent("large", 0.36, {"easy": 0.88, "medium": 0.76, "hard": 0.60, "xhard": 0.44}, 0.90, 0.10, 1, 12.0, 2),
)
"""Prices are the paper's for Qwen3-4B / 14B / 32B ($ per million tokens)."""

_FENCED = re.compile(r"<(plan-[0-9a-f]+)>\n(.*)\n</\1>", re.S)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]+")
_STOP = frozenset("the a an of in on at to for by with from and or is was are were what which who whom whose when "
                  "where how did does do that this these those as into than then also its his her their".split())
CONCRETE_MARK = "check the result"
"""Every concrete plan has this step; the fake jurors look for it (and misread it now and then)."""


def _uniform(*parts: object) -> float:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _keywords(text: str, count: int, skip: int = 0) -> str:
    words = [w for w in _WORD.findall(text) if w.lower() not in _STOP]
    return " ".join(words[skip:skip + count]) or text[:60]


class FakeWorld:
    """The rules of the fake pool over one suite's tasks (see the module docstring)."""

    def __init__(self, tasks: Sequence[Task], agents: Sequence[FakeAgent] = FAKE_AGENTS, *, salt: str = "sale") -> None:
        self.tasks = {task.text: task for task in tasks}
        self.agents = {agent.name: agent for agent in agents}
        self.salt = salt

    # ---- the hidden truth ----------------------------------------------------------------------------------------
    def solves(self, agent: str, task: Task, attempt: int = 0) -> bool:
        spec = self.agents[agent]
        draw = 0.65 * _uniform(self.salt, "task", task.id) + 0.35 * _uniform(self.salt, "own", agent, task.id)
        return draw < spec.skill.get(task.bin, 0.5) + spec.fix_rate * attempt

    def concrete(self, agent: str, task: Task, *, refined: bool) -> bool:
        flip = _uniform(self.salt, "plan", agent, task.id, refined) < (0.1 if refined else 0.2)
        return self.solves(agent, task) != flip

    # ---- answers -------------------------------------------------------------------------------------------------
    def plan(self, agent: str, task: Task, *, refined: bool) -> str:
        spec = self.agents[agent]
        goal = _keywords(task.question, 10)
        if self.concrete(agent, task, refined=refined):
            if task.domain == "coding":
                steps = [f"Restate the goal: {goal}.", "Write the function with the Python tool.",
                         "Run the task's examples with the Python tool and read every failure.",
                         "Handle edge cases: empty input, a single element, duplicates.",
                         f"Fix the code and {CONCRETE_MARK} against the examples."]
            else:
                steps = [f"Restate the goal: {goal}.", "Search for the entities the question names.",
                         "Read the passages and find the bridge entity.", "Search again for the bridge entity.",
                         f"Quote the passage that states the answer and {CONCRETE_MARK}."]
        else:
            steps = [f"Read the task: {goal}.", "Write an answer quickly.", "Submit it as it is."]
        extras = ["Compare two alternative approaches before committing to one.",
                  "Write a short report of what was done and review it against the task."]
        steps += extras[: spec.extra_steps]
        return "\n".join(f"{number}. {step}" for number, step in enumerate(steps, start=1))

    def jury_score(self, juror: str, plan: str) -> int:
        reads_right = _uniform(self.salt, "jury", juror, plan) < self.agents[juror].juror_accuracy
        concrete = CONCRETE_MARK in plan
        good = concrete == reads_right
        high = 4 + int(_uniform(self.salt, "jury-high", juror, plan) < 0.5)
        low = 1 + int(_uniform(self.salt, "jury-low", juror, plan) < 0.5)
        return high if good else low

    def code(self, agent: str, task: Task, attempt: int) -> str:
        if self.solves(agent, task, attempt):
            code = task.canonical
        elif task.stub:
            code = task.stub.rstrip() + ("\n    return None\n" if task.source == "humaneval" else "\n")
        else:
            match = re.search(r"assert\s+(?:not\s+)?(?:\w+\()*?(\w+)\(", task.text)
            name = match.group(1) if match else "solution"
            code = f"def {name}(*args):\n    return None\n"
        return f"```python\n{code.rstrip()}\n```"

    def search_turn(self, agent: str, task: Task, messages: Sequence[BaseMessage]) -> str:
        found = "\n".join(message_text(m) for m in messages[1:] if isinstance(m, HumanMessage))
        results = found.split("Search results for")[1:]
        if len(results) < self.agents[agent].searches and ANSWER_NOW not in found:
            return f"SEARCH: {_keywords(task.question, 6, skip=3 * len(results))}"
        if self.solves(agent, task):
            return f"ANSWER: {task.answers[0]}"
        titles = re.findall(r"^\[\d+\] (.+)$", "\n".join(results), re.M)
        wrong = [t for t in titles if not best_match(t, task.answers)[0]]
        return f"ANSWER: {wrong[0] if wrong else 'unknown'}"

    def verify_score(self, juror: str, task: Task, answer: str) -> int:
        correct = best_match(answer, task.answers)[0]
        reads_right = _uniform(self.salt, "verify", juror, task.id, answer) < self.agents[juror].juror_accuracy
        return (4 if correct == reads_right else 1) + int(_uniform(self.salt, "v2", juror, task.id) < 0.5)

    # ---- dispatch -----------------------------------------------------------------------------------------------
    def _task_in(self, text: str, start: str, *ends: str) -> Task | None:
        head, found, rest = text.partition(start)
        if found:
            for end in ends:
                candidate = rest.split(end, 1)[0]
                if candidate in self.tasks:
                    return self.tasks[candidate]
        return None

    def respond(self, agent: str, messages: Sequence[BaseMessage]) -> str:
        phase = phase_of(messages)
        human = next((message_text(m) for m in messages if isinstance(m, HumanMessage)), "")
        if phase == "bid":
            # The shared-prefix layout ("steps" bids) puts the bidder after the task; the earlier one, the tools.
            task = self._task_in(human, "Task:\n", f"\n\n{BID_MARKER}", "\n\nTools you can use:")
            return self.plan(agent, task, refined=False) if task else "1. Do the task."
        if phase == "refine":
            task = self._task_in(human, "New task:\n", "\n\nTools you can use:")
            if task is None:
                return f"{REVISED_PLAN}\n1. Do the task."
            return ("The winning plans named the tool and checked the result.\n"
                    f"{REVISED_PLAN}\n{self.plan(agent, task, refined='Past auction 1.' in human)}")
        if phase == "jury":
            match = _FENCED.search(message_text(messages[-1]))
            score = self.jury_score(agent, match.group(2) if match else "")
            # Asked for the digit alone (the default), a fake juror answers it alone.
            return str(score) if message_text(messages[-1]).endswith(JURY_ASK) else json.dumps({"score": score})
        if phase == "verify":
            task = self._task_in(human, "Question task:\n", "\n\nProposed answer:")
            answer = human.rsplit("Proposed answer:", 1)[-1].split("\n", 1)[0].strip()
            return json.dumps({"score": self.verify_score(agent, task, answer) if task else 0})
        task = self.tasks.get(human)
        if task is None:
            return "I cannot tell what the task is."
        if task.domain == "coding":
            attempt = sum(1 for m in messages if isinstance(m, HumanMessage)
                          and message_text(m).startswith("Your code failed"))
            return self.code(agent, task, attempt)
        return self.search_turn(agent, task, messages)


class FakeBenchModel(BaseChatModel):
    """One fake agent: `FakeWorld.respond` as a chat model, with usage, top-5 logprobs and a simulated latency."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    world: Any
    agent: str
    max_tokens: int | None = None

    @property
    def _llm_type(self) -> str:
        return "bench-fake"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self.world.respond(self.agent, messages)
        input_tokens = max(1, int(sum(len(message_text(m)) for m in messages) // CHARS_PER_TOKEN))
        output_tokens = max(1, int(len(text) // CHARS_PER_TOKEN))
        if self.max_tokens is not None and output_tokens > self.max_tokens:
            text, output_tokens = text[: self.max_tokens * 4], self.max_tokens
        words = text.split() or [""]
        top = 0.75
        rest = (1 - top) / 4
        content = [{"token": word, "logprob": math.log(top), "bytes": None,
                    "top_logprobs": [{"token": word, "logprob": math.log(top), "bytes": None},
                                     *({"token": f"{word}~{i}", "logprob": math.log(rest), "bytes": None}
                                       for i in range(4))]} for word in words]
        speed = self.world.agents[self.agent].decode_tok_s
        message = AIMessage(
            content=text,
            usage_metadata={"input_tokens": input_tokens, "output_tokens": output_tokens,
                            "total_tokens": input_tokens + output_tokens},
            response_metadata={"model_name": f"fake-{self.agent}", "logprobs": {"content": content},
                               SIMULATED_SECONDS: input_tokens / (20 * speed) + output_tokens / speed},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

