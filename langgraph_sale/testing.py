"""Fakes for tests of graphs that use the auction: a scripted chat model, a hashing embedder, a fake pool, and a fake
OpenAI-compatible endpoint (`FakeOpenAIEndpoint`, from `langgraph_sale.fake_endpoint`).

`ScriptedChatModel` tells the auction's calls apart by the markers that open the bid and jury prompts, so one fake
can play a bidder, a juror and an executor: it answers bids with `plans`, jury prompts with `jury` and everything
else with `answers`, with logprobs (OpenAI or Ollama format), usage, latency and failures on request.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

from langgraph_sale.bidder import Bidder
from langgraph_sale.fake_endpoint import FakeOpenAIEndpoint
from langgraph_sale.metrics import CHARS_PER_TOKEN, message_text
from langgraph_sale.prompts import prompt_phase

if TYPE_CHECKING:
    from langgraph_sale.fit_examples import FitExample

__all__ = ["ScriptedChatModel", "HashingEmbeddings", "CallKind", "call_kind", "fake_pool", "ScriptedFailure",
           "FakeOpenAIEndpoint", "toy_fit_examples"]

CallKind = Literal["bid", "refine", "jury", "execute"]

JuryScript = Sequence[int | str] | Mapping[str, int | str] | Callable[[str], int | str]


class ScriptedFailure(ConnectionError):
    """The error a `ScriptedChatModel` raises for a scripted failure (a `ConnectionError`, as from a dead server)."""


def call_kind(messages: Sequence[BaseMessage]) -> CallKind:
    """Which auction phase a prompt belongs to, from the markers that open the bid and jury prompts.

    Examples:
        >>> from langchain_core.messages import HumanMessage
        >>> call_kind([HumanMessage("What is 2 + 2?")])
        'execute'
    """
    return prompt_phase(messages)


_FENCED_PLAN = re.compile(r"<(plan\d*-[0-9a-f]+)>\n(.*?)\n</\1>", re.S)


class ScriptedChatModel(BaseChatModel):
    """A chat model that answers from scripts: plans to bid prompts, scores to jury prompts, answers otherwise.

    Attributes:
        plans: Bid answers, used in turn (cycling).
        refinements: Answers to outbid-round prompts: a list used in turn, or a function of the whole prompt
            text (so a fake can "learn" from the recalled plans); None answers them like bids, from `plans`.
        jury: Jury answers: a list used in turn, a mapping from a substring of the judged plan to the answer
            (first match wins, else `jury_default`), or a function of the plan. Answers may be ints or any text
            (to test the parser).
        jury_default: The answer when a mapping has no match.
        answers: Execution answers, used in turn: str, an `AIMessage` (e.g. with `tool_calls`), or a dict, the
            JSON decision of an executor in the JSON tool protocol (`{"tool": ..., "args": ...}` or
            `{"final_answer": ...}`).
        confidence: Probability of each generated token among its top-k alternatives (sets the plan entropy); a
            mapping from a plan substring to a confidence gives plans different entropies.
        top_k: How many alternatives each token's logprobs carry.
        logprobs: "openai" (a dict with `content`), "ollama" (a list of entries), or None for no logprobs.
        usage: Whether answers carry `usage_metadata`.
        latency_s: Seconds each call takes (a float, or per call kind).
        fail: Per call kind, how many calls raise `ScriptedFailure` (-1: all of them).
        structured: Whether `bind_tools` (and so `with_structured_output`) works.
        max_tokens: Output cap in words-as-tokens, as a real model's cap field (the auction sets it for bids).
        name_hint: Only for `repr`.

    Examples:
        >>> model = ScriptedChatModel(plans=["1. Split. 2. Test."], jury={"Test": 5}, answers=["42"])
        >>> from langchain_core.messages import HumanMessage
        >>> model.invoke([HumanMessage("What is 6 * 7?")]).content
        '42'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    plans: list[str] = Field(default_factory=lambda: ["1. Read the task. 2. Do it. 3. Check the result."])
    refinements: Any = None
    jury: Any = Field(default_factory=lambda: [3])
    jury_default: int | str = 3
    answers: list[Any] = Field(default_factory=lambda: ["Done."])
    confidence: float | dict[str, float] = 0.8
    top_k: int = 5
    logprobs: Literal["openai", "ollama"] | None = "openai"
    usage: bool = True
    latency_s: float | dict[str, float] = 0.0
    fail: dict[str, int] = Field(default_factory=dict)
    structured: bool = True
    max_tokens: int | None = None
    name_hint: str = "scripted"

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _counters: dict[str, int] = PrivateAttr(default_factory=dict)
    _calls: list[tuple[CallKind, list[BaseMessage]]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted-chat-model"

    # -- what tests read back -----------------------------------------------------------------------------
    @property
    def calls(self) -> list[tuple[CallKind, list[BaseMessage]]]:
        """Every call made so far: (kind, prompt)."""
        return list(self._calls)

    def count(self, kind: CallKind) -> int:
        """How many calls of one kind were made."""
        return sum(1 for k, _ in self._calls if k == kind)

    # -- tool calling, so that with_structured_output works as on a real model --------------------------
    def bind_tools(
        self, tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        if not self.structured:
            raise NotImplementedError("this scripted model has no tool calling")
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)

    # -- generation ---------------------------------------------------------------------------------------
    def _next(self, kind: str, count_in: Sequence[Any]) -> Any:
        with self._lock:
            index = self._counters.get(kind, 0)
            self._counters[kind] = index + 1
        return count_in[index % len(count_in)] if count_in else ""

    def _prepare(self, messages: list[BaseMessage], kwargs: Mapping[str, Any]) -> tuple[CallKind, float, bool]:
        kind = call_kind(messages)
        with self._lock:
            self._calls.append((kind, list(messages)))
            failures = self.fail.get(kind, 0)
            failed_so_far = self._counters.get(f"fail:{kind}", 0)
            fails = failures < 0 or failed_so_far < failures
            if fails:
                self._counters[f"fail:{kind}"] = failed_so_far + 1
        if isinstance(self.latency_s, dict):
            delay = self.latency_s.get(kind, self.latency_s.get("bid", 0.0) if kind == "refine" else 0.0)
        else:
            delay = self.latency_s
        return kind, delay, fails

    def _answer(self, kind: CallKind, messages: list[BaseMessage], kwargs: Mapping[str, Any]) -> ChatResult:
        plan_text = ""
        if kind == "bid" or (kind == "refine" and self.refinements is None):
            content: Any = self._next("bid", self.plans)
        elif kind == "refine":
            if callable(self.refinements):
                content = self.refinements("\n".join(message_text(m) for m in messages))
            else:
                content = self._next("refine", list(self.refinements))
        elif kind == "jury":
            plans = [match.group(2) for match in _FENCED_PLAN.finditer(message_text(messages[-1]))]
            plan_text = plans[0] if plans else ""
            # A batched prompt gets one answer a plan, as separate tokens ("4 5"); one plan, its answer.
            content = " ".join(str(self._jury_answer(plan)) for plan in plans) if len(plans) > 1 else \
                self._jury_answer(plan_text)
        else:
            content = self._next("execute", self.answers)
        tools = kwargs.get("tools")
        if isinstance(content, AIMessage):
            message = content.model_copy(update={"id": None})
        elif isinstance(content, Mapping):
            # A JSON decision of the executor: the schema's tool call when it was bound, else the JSON text.
            text = json.dumps(content)
            message = AIMessage(content=text)
            if tools and kind == "execute":
                name = tools[0]["function"]["name"]
                call = {"name": name, "args": dict(content), "id": f"call_{uuid.uuid4().hex[:8]}"}
                message = AIMessage(content="", tool_calls=[call])
        else:
            message = AIMessage(content=str(content))
        text = message_text(message)
        cap = kwargs.get("max_tokens") or self.max_tokens
        tokens = text.split()
        if kind in ("bid", "refine") and isinstance(cap, int) and len(tokens) > cap:
            tokens = tokens[:cap]
            message = AIMessage(content=" ".join(tokens))
        if tools and kind == "jury":
            name = tools[0]["function"]["name"]
            score: Any = content
            try:
                score = int(str(content).strip())
            except ValueError:
                pass
            message = AIMessage(
                content="", tool_calls=[{"name": name, "args": {"score": score}, "id": f"call_{uuid.uuid4().hex[:8]}"}]
            )
        metadata: dict[str, Any] = {"model_name": self.name_hint}
        if self.logprobs is not None:
            metadata["logprobs"] = self._logprobs(tokens or [""], kind, text)
        message.response_metadata = {**message.response_metadata, **metadata}
        if self.usage:
            prompt_tokens = max(1, int(sum(len(message_text(m)) for m in messages) // CHARS_PER_TOKEN))
            message.usage_metadata = {
                "input_tokens": prompt_tokens,
                "output_tokens": max(1, len(tokens)),
                "total_tokens": prompt_tokens + max(1, len(tokens)),
            }
        else:
            message.usage_metadata = None
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _jury_answer(self, plan: str) -> int | str:
        script = self.jury
        if callable(script):
            return script(plan)  # type: ignore[no-any-return]
        if isinstance(script, Mapping):
            for needle, answer in script.items():
                if needle in plan:
                    return answer  # type: ignore[no-any-return]
            return self.jury_default
        return self._next("jury", list(script))  # type: ignore[no-any-return]

    def _confidence_for(self, text: str) -> float:
        if isinstance(self.confidence, dict):
            for needle, value in self.confidence.items():
                if needle in text:
                    return value
            return 0.8
        return self.confidence

    def _logprobs(self, tokens: Sequence[str], kind: CallKind, text: str) -> Any:
        p_top = min(0.999999, max(1e-6, self._confidence_for(text)))
        k = max(1, self.top_k)
        rest = (1 - p_top) / (k - 1) if k > 1 else 0.0
        entries: list[dict[str, Any]] = []
        for token in tokens:
            if token.strip().isdigit() and kind == "jury" and len(token.strip()) == 1:
                digit = int(token.strip())
                others = [str(d) for d in itertools.chain(range(digit - 1, -1, -1), range(digit + 1, 6))][: k - 1]
            else:
                others = [f"{token}_{i}" for i in range(k - 1)]
            top = [{"token": token, "logprob": math.log(p_top)}]
            top += [{"token": alt, "logprob": math.log(rest)} for alt in others if rest > 0]
            entries.append({"token": token, "logprob": math.log(p_top), "top_logprobs": top})
        if self.logprobs == "ollama":
            from ollama._types import Logprob  # the pydantic objects ChatOllama returns

            return [Logprob.model_validate(entry) for entry in entries]
        return {"content": [{**entry, "bytes": None} for entry in entries]}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        kind, delay, fails = self._prepare(messages, kwargs)
        if delay:
            time.sleep(delay)
        if fails:
            raise ScriptedFailure(f"scripted {kind} failure")
        return self._answer(kind, messages, kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        kind, delay, fails = self._prepare(messages, kwargs)
        if delay:
            await asyncio.sleep(delay)
        if fails:
            raise ScriptedFailure(f"scripted {kind} failure")
        return self._answer(kind, messages, kwargs)


class HashingEmbeddings(Embeddings):
    """A deterministic bag-of-words embedder: words hashed into `dims` signed buckets, L2-normalised.

    Texts that share words are close (cosine), with no model and no numpy: made for tests and for the store index
    of the Studio graph.

    Examples:
        >>> emb = HashingEmbeddings(dims=64)
        >>> a, b, c = emb.embed_documents(["sort a list", "sort the list", "capital of France"])
        >>> sum(x * y for x, y in zip(a, b)) > sum(x * y for x, y in zip(a, c))
        True
    """

    def __init__(self, dims: int = 256) -> None:
        if dims < 1:
            raise ValueError("dims must be at least 1")
        self.dims = dims

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dims
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dims
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector] if norm else vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


def fake_pool(*, latency_s: float = 0.0) -> list[Bidder]:
    """A three-bidder pool of scripted models (tiny, small, large), used by the quickstart and the Studio graph.

    The tiny model writes a vague plan that the jury scores low; the small one a concrete, tested plan the jury
    likes; the large one a longer, equally good plan at 9x the small one's price. With the default weights the
    small bidder wins: cheap where cheap suffices.

    Examples:
        >>> [b.name for b in fake_pool()]
        ['tiny', 'small', 'large']
    """
    jury = {"vague": 1, "unit tests": 5, "property": 5}
    tiny = ScriptedChatModel(
        plans=["1. Write the answer. 2. Done, a vague plan."],
        jury=jury,
        answers=["I think the answer is probably fine."],
        confidence=0.5,
        latency_s=latency_s,
        name_hint="tiny",
    )
    small = ScriptedChatModel(
        plans=[
            "1. Restate the inputs and outputs. 2. Write the function with the Python tool. "
            "3. Run unit tests on edge cases (empty input, duplicates). 4. Fix and rerun until they pass."
        ],
        jury=jury,
        answers=["def solve(xs):\n    return sorted(set(xs))\n# unit tests passed"],
        confidence=0.8,
        latency_s=latency_s,
        name_hint="small",
    )
    large = ScriptedChatModel(
        plans=[
            "1. Analyse the specification in depth, listing every input domain and invariant. "
            "2. Design the algorithm and compare alternatives for time and memory. "
            "3. Implement it with the Python tool, with type hints and docstrings. "
            "4. Write unit tests and property tests for edge cases (empty, duplicates, huge inputs). "
            "5. Run them, profile, and refactor. 6. Review the final code against the specification."
        ],
        jury=jury,
        answers=["def solve(xs: list[int]) -> list[int]:\n    return sorted(set(xs))\n# all tests passed"],
        confidence=0.8,
        latency_s=latency_s,
        name_hint="large",
    )
    return [
        Bidder("tiny", tiny, price_per_mtok=0.02, description="a tiny, very cheap model"),
        Bidder("small", small, price_per_mtok=0.06, description="a small coding model"),
        Bidder("large", large, price_per_mtok=0.54, description="the largest model of the pool"),
    ]


def toy_fit_examples(indices: Iterable[int], *, small_below: int, large_below: int, jury: bool = False
                     ) -> list[FitExample]:
    """Toy training tasks for the fits (`langgraph_sale.fit`, `langgraph_sale.value_fit`): on task `i`, 50 + 40 i
    characters long, "small" (price 0.1, its plan's cost feature 0.1) succeeds where `i < small_below` and "large"
    (price 0.3, cost feature 0.3) where `i < large_below`; both plans are 30 tokens with entropy feature 0.2, and an
    execution costs 10 and 30 µ$. With `jury`, each bid carries the jurors' scores (small 3, large 4).

    Examples:
        >>> [[c.success for c in e.candidates] for e in toy_fit_examples(range(2, 5), small_below=3, large_below=4)]
        [[True, True], [False, True], [False, False]]
    """
    from langgraph_sale.fit_examples import FitCandidate, FitExample

    def candidate(name: str, success: bool, price: float) -> FitCandidate:
        return FitCandidate(bidder=name, cost_feature=price, entropy_feature=0.2, plan_tokens=30, success=success,
                            cost_usd=price * 1e-4, price_per_mtok=price,
                            jury={"small": 3.0, "large": 4.0} if jury else {})

    return [FitExample(task_id=f"t{i}", task_chars=50 + 40 * i,
                       candidates=[candidate("small", i < small_below, 0.1), candidate("large", i < large_below, 0.3)])
            for i in indices]
