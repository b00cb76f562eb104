"""Every model call of a run, metered and cached: tokens, dollars at the pool's prices, seconds, and the phase.

`MeteredModel` wraps each pool model. A call is looked up in the run's `CallCache` first (a JSON Lines file in the
run folder, keyed by the agent, the output cap, the call's options and the prompt without message ids); a miss calls
the real model and appends the answer. Either way the call is charged in full to whoever made it: the cache saves
the harness time and makes reruns resume, it never makes a method cheaper. A model that is `offline` answers from
the cache alone: a miss raises `CallNotRecorded` (a replay of a committed record then needs no server and no model
file), and one given `connect` reaches its live model only on the first miss (a replay that misses nothing starts
nothing). Each call becomes a `CallRecord` in
every open `Meter.capture()`, with its phase read from the markers that open the package's prompts (bid, refine,
jury), the harness's verifier prompt (verify), or else execute.

Logprobs are kept only where the auction reads them (bids and jury answers), without their byte arrays, so the
cache stays small. Seconds are the call's own latency when it was made (a cached answer keeps the seconds it took
the first time), so time shares are those of a pool that runs one call at a time, as the local pool does. A fake
model can report a simulated latency in `response_metadata["bench_simulated_seconds"]`, which is then used instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, message_to_dict, messages_from_dict
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding, RunnableSequence
from pydantic import ConfigDict

from langgraph_sale.errors import is_context_overflow
from langgraph_sale.metrics import CHARS_PER_TOKEN, message_text
from langgraph_sale.pricing import Pricing
from langgraph_sale.prompts import prompt_phase

__all__ = ["CallRecord", "Capture", "Meter", "JsonlCache", "read_jsonl", "MeteredModel", "CallNotRecorded",
           "VERIFY_MARKER", "phase_of", "messages_key", "SIMULATED_SECONDS"]

VERIFY_MARKER = "[bench verify]"
"""Opens the cascade's answer-verification prompt."""
SIMULATED_SECONDS = "bench_simulated_seconds"


class CallNotRecorded(LookupError):
    """An offline run was asked for a model call (or, `what="sandbox run"`, a test run) its caches do not hold."""

    def __init__(self, agent: str, phase: str, what: str = "call") -> None:
        self.agent, self.phase, self.what = agent, phase, what
        super().__init__(self.describe())

    def describe(self) -> str:
        return f"the record holds no {self.phase} {self.what} of {self.agent}"


@dataclass
class CallRecord:
    """One model call or tool run, as charged to a method."""

    phase: str
    """bid, refine, jury, verify or execute."""
    agent: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    cached: bool = False
    """Served from the run's cache (charged all the same)."""
    kind: str = "model"
    """"model" or "tool" (a sandboxed Python run or a BM25 search: seconds, no tokens)."""

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> CallRecord:
        return cls(**{key: value[key] for key in cls.__dataclass_fields__ if key in value})


@dataclass
class Capture:
    """What one `Meter.capture()` block collected: its records, and the model calls that failed in it."""

    records: list[CallRecord]
    failures: list[str]
    missing: list[CallNotRecorded]


_OPEN: contextvars.ContextVar[tuple[Capture, ...]] = contextvars.ContextVar("bench_meter_captures", default=())
"""The captures open in this context: a call reaches those of the task that made it, also when tasks run at once
(each in a context of its own: LangGraph's worker threads and the package's bounded calls run in a copy of it)."""


class Meter:
    """Collects `CallRecord`s into the captures open where they happen; counts every call of the run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fresh_calls = 0
        self.cached_calls = 0

    def failed(self, agent: str, error: BaseException) -> None:
        """A model call failed (a server down, a timeout) or an offline call was not in the record: every open
        capture of this context hears of it. A prompt too long for the model's context window is no failure of the
        harness but the agent's outcome on that task (the package's agents and the auction carry on without it)."""
        if is_context_overflow(error):
            return
        for capture in _OPEN.get():
            if isinstance(error, CallNotRecorded):
                capture.missing.append(error)
            else:
                capture.failures.append(f"{agent}: {type(error).__name__}: {error}"[:500])

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[CallRecord]]:
        """Records made inside the block, in this context (nested captures all receive them)."""
        with self.scope() as scope:
            yield scope.records

    @contextlib.contextmanager
    def scope(self) -> Iterator[Capture]:
        """`capture`, with the failures of the calls made inside it."""
        scope = Capture([], [], [])
        token = _OPEN.set((*_OPEN.get(), scope))
        try:
            yield scope
        finally:
            _OPEN.reset(token)

    def add(self, record: CallRecord) -> None:
        with self._lock:
            if record.kind == "model":
                if record.cached:
                    self.cached_calls += 1
                else:
                    self.fresh_calls += 1
        for capture in _OPEN.get():
            capture.records.append(record)


def read_jsonl(path: Path) -> dict[str, dict[str, Any]]:
    """The `{"key": ..., ...}` objects of a JSON Lines file by key (the last line of a key wins); a line cut short by
    an interruption is skipped; a missing file reads as empty."""
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as handle:
        return dict(jsonl_entries(handle))


def jsonl_entries(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """`(key, entry)` for each line that holds a `{"key": ..., ...}` object; a line cut short is skipped."""
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "key" in entry:
            yield entry["key"], entry


class JsonlCache:
    """A dict persisted as JSON Lines (one `{"key": ..., ...}` object a line, appended and flushed at once).

    A line cut short by an interruption is ignored on load; the last line of a key wins.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data = read_jsonl(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("a", encoding="utf-8")

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, entry: dict[str, Any]) -> None:
        entry = {"key": key, **entry}
        line = json.dumps(entry, ensure_ascii=False, default=str)
        with self._lock:
            self._data[key] = entry
            self._handle.write(line + "\n")
            self._handle.flush()

    def __len__(self) -> int:
        return len(self._data)

    def close(self) -> None:
        with self._lock:
            self._handle.close()


def phase_of(messages: Sequence[BaseMessage]) -> str:
    """The phase of a call, from the marker that opens its first message.

    Examples:
        >>> from langchain_core.messages import HumanMessage
        >>> phase_of([HumanMessage("Write a function.")])
        'execute'
    """
    # The harness's own verifier prompt, then the auction's phases.
    return "verify" if messages and VERIFY_MARKER in message_text(messages[0]) else prompt_phase(messages)


def _plain(message: BaseMessage) -> dict[str, Any]:
    plain: dict[str, Any] = {"type": message.type, "content": message.content}
    if message.name:
        plain["name"] = message.name
    if isinstance(message, AIMessage) and message.tool_calls:
        plain["tool_calls"] = [{"name": call["name"], "args": call["args"]} for call in message.tool_calls]
    return plain


def messages_key(*parts: Any, messages: Sequence[BaseMessage]) -> str:
    """A stable key for a call: the parts and the messages without their ids (which are fresh on every run).

    Examples:
        >>> from langchain_core.messages import HumanMessage
        >>> messages_key("a", messages=[HumanMessage("x", id="1")]) == messages_key("a", messages=[HumanMessage("x")])
        True
    """
    payload = json.dumps([list(parts), [_plain(m) for m in messages]], sort_keys=True, default=str,
                         ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def dump_message(message: BaseMessage) -> dict[str, Any]:
    return message_to_dict(message)


def load_message(value: Mapping[str, Any]) -> BaseMessage:
    """A stored message with a fresh id (LangGraph's `add_messages` replaces messages that share an id)."""
    message = messages_from_dict([dict(value)])[0]
    message.id = None
    return message


_RETRY_AFTER_S = (2.0, 10.0)
"""Waits before the retries of a call that failed on the connection (the model's answer is not in question)."""


def _transient(error: BaseException) -> bool:
    name = type(error).__name__
    return "Connection" in name or "Timeout" in name or isinstance(error, (ConnectionError, TimeoutError))


def _slim(message: AIMessage, phase: str) -> None:
    """Keep what the auction reads of the logprobs (tokens and their top-k logprobs, for entropy and the jury's
    expected score) and drop the rest: byte arrays always, the whole list for execution and verifier calls, which
    nothing reads. A cache hit and a miss return the same message."""
    logprobs = (message.response_metadata or {}).get("logprobs")
    if not isinstance(logprobs, dict) or not isinstance(logprobs.get("content"), list):
        return
    if phase in ("execute", "verify"):
        message.response_metadata = {k: v for k, v in message.response_metadata.items() if k != "logprobs"}
        return
    slim = []
    for entry in logprobs["content"]:
        if isinstance(entry, dict):
            entry = {k: v for k, v in entry.items() if k != "bytes"}
            entry["top_logprobs"] = [{k: v for k, v in alt.items() if k != "bytes"} if isinstance(alt, dict) else alt
                                     for alt in entry.get("top_logprobs") or []]
        slim.append(entry)
    message.response_metadata = {**message.response_metadata, "logprobs": {**logprobs, "content": slim}}


class MeteredModel(BaseChatModel):
    """A pool model behind the run's call cache and meter (see the module docstring).

    `max_tokens` is the field the package's `with_token_cap` sets for bids and jury answers; it is passed on to the
    wrapped model. Structured output is delegated to the wrapped model's own, so a server-enforced JSON schema
    still applies (the jury of the local pool), while the call itself still goes through this wrapper.

    `inner` fixes what a call is (its options, its structured-output binding); the model a miss calls is `inner`,
    or what `connect()` returns when it is given (the same model behind a server started on first need), and none
    when `offline`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: Any
    agent: str
    price_per_mtok: float | Pricing
    call_cache: Any = None
    meter: Any = None
    max_tokens: int | None = None
    offline: bool = False
    connect: Any = None
    limiter: Any = None
    """A `CallLimiter` every live call holds a slot of (an endpoint's limit, when tasks run at once)."""
    """A callable returning the live model a miss calls (default: `inner`)."""

    @property
    def _llm_type(self) -> str:
        return "bench-metered"

    def _capped_inner(self, inner: Any = None) -> Any:
        inner = self.inner if inner is None else inner
        if self.max_tokens is not None:
            for name in ("max_tokens", "num_predict", "max_output_tokens", "max_new_tokens"):
                if name in type(inner).model_fields:
                    current = getattr(inner, name, None)
                    if not (isinstance(current, int) and 0 < current <= self.max_tokens):
                        inner = inner.model_copy(update={name: self.max_tokens})
                    break
        return inner

    def with_structured_output(self, schema: Any, *, include_raw: bool = False, **kwargs: Any) -> Any:
        chain = self._capped_inner().with_structured_output(schema, include_raw=include_raw, **kwargs)
        if isinstance(chain, RunnableSequence) and isinstance(chain.first, RunnableBinding):
            rebound: Runnable[Any, Any] = self.bind(**chain.first.kwargs)
            return RunnableSequence(rebound, *chain.steps[1:])
        raise NotImplementedError("structured output of this model cannot be metered")

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        key = messages_key(self.agent, self.max_tokens, stop, kwargs, messages=messages)
        phase = phase_of(messages)
        entry = self.call_cache.get(key) if self.call_cache is not None else None
        if entry is not None:
            message = load_message(entry["message"])
            seconds, cached = float(entry.get("seconds", 0.0)), True
        else:
            for attempt in range(1 + len(_RETRY_AFTER_S)):
                started = time.perf_counter()
                try:
                    if self.offline:
                        raise CallNotRecorded(self.agent, phase)
                    live = self.connect() if self.connect is not None else None
                    with self.limiter.slot() if self.limiter is not None else contextlib.nullcontext():
                        answer = self._capped_inner(live).invoke(messages, stop=stop, **kwargs)
                    break
                except Exception as error:
                    if _transient(error) and attempt < len(_RETRY_AFTER_S):
                        time.sleep(_RETRY_AFTER_S[attempt])  # a dropped keep-alive connection, a busy server
                        continue
                    # The package may absorb the error (a failed bid, a dropped juror); the harness must not.
                    if self.meter is not None:
                        self.meter.failed(self.agent, error)
                    raise
            seconds = time.perf_counter() - started
            message = answer if isinstance(answer, AIMessage) else AIMessage(message_text(answer))
            simulated = (message.response_metadata or {}).get(SIMULATED_SECONDS)
            if isinstance(simulated, (int, float)):
                seconds = float(simulated)
            message.id = None
            _slim(message, phase)
            if self.call_cache is not None:
                self.call_cache.put(key, {"agent": self.agent, "phase": phase, "seconds": seconds,
                                          "message": dump_message(message)})
            cached = False
        usage: Mapping[str, Any] = (message.usage_metadata if isinstance(message, AIMessage) else None) or {}
        input_tokens = int(usage.get("input_tokens") or sum(len(message_text(m)) for m in messages) // CHARS_PER_TOKEN)
        output_tokens = int(usage.get("output_tokens") or len(message_text(message)) // CHARS_PER_TOKEN)
        cached_input = int((usage.get("input_token_details") or {}).get("cache_read") or 0)
        cost = Pricing.of(self.price_per_mtok).cost(input_tokens=input_tokens, output_tokens=output_tokens,
                                                    cached_input_tokens=cached_input)
        if self.meter is not None:
            self.meter.add(CallRecord(
                phase=phase, agent=self.agent, input_tokens=input_tokens, output_tokens=output_tokens,
                cost_usd=cost, seconds=seconds, cached=cached))
        return ChatResult(generations=[ChatGeneration(message=message)])
