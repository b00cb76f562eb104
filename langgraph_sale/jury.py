"""Phase 2: a juror scores the bids 0-5, blind to their authors.

One juror reading every plan of a round in one request is `langgraph_sale.jury_batch`.

By default (`jury_scoring="digit"`) a judgment is one generated token: the juror is asked for the digit alone,
generation is capped at one token, and the score is the expected score over the digits' top logprobs (docs/method.md
§6.2 #6), or the digit itself from a model that returns no logprobs. Where that token is no digit, the juror is
asked again the earlier way. The earlier way (`"integer"`, or `"logprobs"` for the expected score of the digit
inside the answer): `{"score": N}` with structured output (`json_schema`) where the model supports it, a text parser
where it does not, and one retry as text. A juror with no usable answer is dropped for that bid (a record with no
score) and the scorer rescales the jury sum.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal, get_args

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableSequence
from langchain_core.utils.function_calling import convert_to_json_schema
from langgraph.constants import TAG_NOSTREAM
from pydantic import BaseModel, Field

from langgraph_sale.bidder import Bidder
from langgraph_sale.calls import ainvoke_bounded, invoke_bounded, with_token_cap
from langgraph_sale.metrics import call_usage, expected_digit_score, message_text, token_logprobs
from langgraph_sale.prompts import jury_messages
from langgraph_sale.types import Bid, CallUsage, JuryScore

__all__ = [
    "JuryScoring",
    "JuryVerdict",
    "structured_juror",
    "parse_jury_answer",
    "judge",
    "ajudge",
    "jury_record",
    "JURY_MAX_TOKENS",
    "JURY_SCORINGS",
]

JuryScoring = Literal["digit", "integer", "logprobs"]
"""How a juror answers and how the answer becomes its score: "digit", one token, the expected score over the digits'
logprobs; "integer", `{"score": N}` and the integer it wrote; "logprobs", `{"score": N}` and the expected score from
the digit's logprobs inside it."""

JURY_SCORINGS: tuple[JuryScoring, ...] = get_args(JuryScoring)

JuryMethod = Literal["batch", "digit", "structured", "text"]
"""How a judgment was read: one digit, a structured answer, or a parsed text answer."""

Attempt = tuple[Runnable[Any, Any], list[BaseMessage], JuryMethod]
"""One way of asking a juror: the model as called, the prompt, and how its answer is read."""

JURY_MAX_TOKENS = 16
"""Output cap of a jury call: `{"score": N}` needs about 6 tokens."""


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


class JuryVerdict(BaseModel):
    """The structured answer of a juror."""

    score: Literal[0, 1, 2, 3, 4, 5] = Field(description="How likely the plan leads to a correct result, 0-5.")


def structured_juror(model: BaseChatModel) -> Runnable[Any, Any] | None:
    """The model with JSON-schema structured output, or None when the model cannot do it.

    Models without `bind_tools` raise when `with_structured_output` is *built* (docs/langgraph-notes.md §2 #3):
    that is caught here, and the text fallback is used instead.

    Examples:
        >>> from langgraph_sale.testing import ScriptedChatModel
        >>> structured_juror(ScriptedChatModel(structured=False)) is None
        True
    """
    try:
        chain = with_token_cap(model, JURY_MAX_TOKENS).with_structured_output(JuryVerdict, method="json_schema")
    except (NotImplementedError, TypeError, ValueError, AttributeError):
        return None
    if not isinstance(chain, RunnableSequence):
        return None
    # `with_structured_output` is `schema-bound model | parser`. The auction calls the bound model alone and reads
    # the score itself (`_integer_answer`): that keeps the raw message's usage and logprobs without `include_raw`'s
    # parallel branches, which cost ten times the model call of a fast model (benchmarks/bench_overhead.py).
    return _schema_preconverted(chain.first).with_config(tags=[TAG_NOSTREAM])


def _schema_preconverted(bound: Runnable[Any, Any]) -> Runnable[Any, Any]:
    """`bound` with its tracing metadata's schema already converted to the JSON schema LangChain would send.

    `with_structured_output` binds `ls_structured_output_format={"schema": JuryVerdict, ...}`, and every call turns
    that class into a JSON schema again for the tracing metadata (`convert_to_json_schema`, ~0.2 ms: a pydantic
    schema build), 16 times per auction. Converting it once here gives the same metadata (the conversion of a JSON
    schema dict is that dict); a schema that cannot be converted is left for LangChain to handle as before.
    """
    kwargs = getattr(bound, "kwargs", None)
    traced = kwargs.get("ls_structured_output_format") if isinstance(kwargs, dict) else None
    if not isinstance(traced, dict) or isinstance(traced.get("schema"), dict) or "schema" not in traced:
        return bound
    try:
        schema = convert_to_json_schema(traced["schema"])
    except ValueError:
        return bound
    return bound.bind(ls_structured_output_format={**traced, "schema": schema})


def _integer_answer(raw: BaseMessage) -> int | None:
    """The 0-5 integer of a juror's answer: the score argument of a tool call, or the score in its text/JSON."""
    if isinstance(raw, AIMessage) and raw.tool_calls:
        args = raw.tool_calls[0].get("args") or {}
        return parse_jury_answer(json.dumps({"score": args.get("score")}, default=str)) if "score" in args else None
    return parse_jury_answer(message_text(raw))


def parse_jury_answer(text: str) -> int | None:
    """Read a 0-5 score from a juror's text answer: JSON `{"score": N}` first, else the first number.

    Out-of-range numbers are clamped to 0-5; an answer with no number gives None.

    Examples:
        >>> parse_jury_answer('{"score": 4}'), parse_jury_answer("I'd say 7/5"), parse_jury_answer("great plan")
        (4, 5, None)
    """
    candidate: Any = None
    stripped = text.strip()
    start, end = stripped.find("{"), stripped.rfind("}")
    if 0 <= start < end:
        try:
            loaded = json.loads(stripped[start : end + 1])
        except ValueError:
            loaded = None
        if isinstance(loaded, dict) and "score" in loaded:
            candidate = loaded["score"]
    if candidate is None:
        match = _NUMBER.search(stripped)
        candidate = match.group(0) if match else None
    if isinstance(candidate, bool) or candidate is None:
        return None
    if isinstance(candidate, int):  # JSON integers can be far too large for a float
        return min(5, max(0, candidate))
    try:
        value = float(candidate)
    except (TypeError, ValueError, OverflowError):
        return None
    if math.isnan(value):
        return None
    # Out-of-range numbers clamp (infinity included); halves round up, as a reader would.
    return math.floor(min(5.0, max(0.0, value)) + 0.5)


class _Judgment:
    """The attempts of one juror on one bid; shared by the sync and the async path."""

    def __init__(
        self,
        juror: Bidder,
        structured: Runnable[Any, Any] | None,
        bid: Bid,
        task: str,
        scoring: JuryScoring,
    ) -> None:
        self.juror = juror
        self.bid = bid
        self.scoring = scoring
        plain = juror.auction_model(JURY_MAX_TOKENS)
        json_prompt = jury_messages(task, bid.plan, reply="json")
        # The JSON way: structured where supported, else plain text; its retry is always plain text.
        json_first: Attempt = ((structured, json_prompt, "structured") if structured is not None
                               else (plain, json_prompt, "text"))
        self.attempts: list[Attempt] = [json_first, (plain, json_prompt, "text")]
        if scoring == "digit":
            # One token; where it is no digit, the JSON way's first attempt, once.
            self.attempts = [(juror.auction_model(1), jury_messages(task, bid.plan, reply="digit"), "digit"),
                             json_first]
        self.usage = CallUsage()
        self.errors: list[str] = []
        self.seconds = 0.0
        self.tried = 0

    def failed(self, error: BaseException, method: str) -> None:
        self.tried += 1
        self.errors.append(f"{method}: {type(error).__name__}: {error}"[:500])

    def take(self, result: Any, messages: list[BaseMessage], method: JuryMethod, seconds: float) -> JuryScore | None:
        self.tried += 1
        self.seconds += seconds
        raw = result if isinstance(result, BaseMessage) else None
        prompt_chars = sum(len(message_text(m)) for m in messages)
        self.usage = self.usage + call_usage(raw, price_per_mtok=self.juror.pricing, prompt_chars=prompt_chars)
        integer = _integer_answer(raw) if raw is not None else None
        expected = expected_digit_score(token_logprobs(raw), first=method == "digit") if raw is not None else None
        if method == "digit" and integer is None and expected is not None:
            integer = math.floor(expected + 0.5)  # the token sampled was no digit; its alternatives held the digits
        if integer is None:
            answer = message_text(raw) if raw is not None else repr(result)
            if isinstance(raw, AIMessage) and not answer and raw.tool_calls:
                answer = json.dumps([call.get("args") for call in raw.tool_calls], default=str)
            self.errors.append(f"{method}: no 0-5 score in the answer {answer[:200]!r}")
            return None
        score = float(integer)
        if self.scoring != "integer" and expected is not None:
            score = expected
        return self._record(score=score, integer=integer, expected=expected, method=method)

    def dropped(self) -> JuryScore:
        return self._record(score=None, integer=None, expected=None, method="none",
                            error="; ".join(self.errors) or "no answer")

    def _record(self, *, score: float | None, integer: int | None, expected: float | None,
                method: JuryMethod | Literal["none"], error: str | None = None) -> JuryScore:
        return jury_record(self.juror, self.bid, score=score, integer=integer, expected=expected, method=method,
                           usage=self.usage, seconds=self.seconds, attempts=self.tried, error=error)


def jury_record(juror: Bidder, bid: Bid, *, score: float | None, integer: int | None, expected: float | None,
                method: JuryMethod | Literal["none"], usage: CallUsage, seconds: float, attempts: int,
                error: str | None = None) -> JuryScore:
    """The record of one juror's judgment of one bid."""
    return JuryScore(auction_id=bid.auction_id, juror=juror.name, bidder=bid.bidder, bid_id=bid.id, phase=bid.phase,
                     round=bid.round, score=score, integer_score=integer, expected_score=expected, method=method,
                     usage=usage, latency_s=seconds, attempts=attempts, error=error)


def judge(
    juror: Bidder,
    bid: Bid,
    task: str,
    *,
    structured: Runnable[Any, Any] | None,
    scoring: JuryScoring = "digit",
    timeout: float | None = None,
) -> JuryScore:
    """Score one bid with one juror (sync). Never raises for a model failure: a dropped juror is a record.

    Examples:
        >>> from langgraph_sale.testing import ScriptedChatModel
        >>> from langgraph_sale.types import Bid
        >>> juror = Bidder("large", ScriptedChatModel(jury=[4], confidence=0.75, top_k=2), price_per_mtok=1.0)
        >>> bid = Bid(auction_id="a", bidder="small", plan="1. Test it.")
        >>> record = judge(juror, bid, "task", structured=structured_juror(juror.model))
        >>> record.method, record.integer_score, record.score  # one token: 4 at p=0.75, 3 at p=0.25
        ('digit', 4, 3.75)
    """
    work = _Judgment(juror, structured, bid, task, scoring)
    for runnable, messages, method in work.attempts:
        try:
            result, seconds = invoke_bounded(runnable, messages, timeout=timeout, who=juror.name,
                                             limiter=juror.limiter)
        except Exception as error:  # noqa: BLE001 - any model failure drops the juror, never the auction
            work.failed(error, method)
            continue
        record = work.take(result, messages, method, seconds)
        if record is not None:
            return record
    return work.dropped()


async def ajudge(
    juror: Bidder,
    bid: Bid,
    task: str,
    *,
    structured: Runnable[Any, Any] | None,
    scoring: JuryScoring = "digit",
    timeout: float | None = None,
) -> JuryScore:
    """Score one bid with one juror (async); see `judge`."""
    work = _Judgment(juror, structured, bid, task, scoring)
    for runnable, messages, method in work.attempts:
        try:
            result, seconds = await ainvoke_bounded(runnable, messages, timeout=timeout, who=juror.name,
                                                    limiter=juror.limiter)
        except Exception as error:  # noqa: BLE001 - any model failure drops the juror, never the auction
            work.failed(error, method)
            continue
        record = work.take(result, messages, method, seconds)
        if record is not None:
            return record
    return work.dropped()
