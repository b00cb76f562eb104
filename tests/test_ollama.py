"""Bidders on `ChatOllama`: entropy and usage included.

No Ollama server can be installed here, so the tests put a small Ollama-API front (`tests/ollama_front.py`,
loopback only) before an OpenAI-compatible server: first a canned fake upstream defined below (runs everywhere),
then the local llama-server with real models (`@pytest.mark.real("pool")`: skipped, or failed under CI, when the
pool is not installed). Real models are not reproducible, so the real tests assert mechanics only.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.request
from collections.abc import Generator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import ollama
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_ollama import ChatOllama
from ollama._types import Logprob
from pydantic import BaseModel

from langgraph_sale import AuctionNode
from langgraph_sale.calls import auction_call, with_token_cap
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.jury import JuryVerdict
from langgraph_sale.local import MODELS, LocalServer, local_bidders, ollama_bidders
from langgraph_sale.metrics import call_usage, mean_token_entropy, token_logprobs
from langgraph_sale.types import Bid, JuryScore

from .ollama_front import OllamaFront, openai_request

# ---- a canned OpenAI-compatible upstream -----------------------------------------------------------------------
PLAN_TOKENS = ["1.", " Write", " the", " function.", " 2.", " Test", " it."]
PLAN = "".join(PLAN_TOKENS)
VERDICT_TOKENS = ['{"', "score", '":', " 4", "}"]
PROMPT_TOKENS = 12
# Each generated token: p=0.5, and two alternatives at p=0.25 (of top-3: entropy 1.5 ln 2 nats).
ALTERNATIVES = [0.5, 0.25, 0.25, 0.0625]
ENTROPY_TOP3 = 1.5 * math.log(2)
BROKEN = "fake-broken"  # answers one token, then an error event
MISSING = "fake-missing"  # 404
SLOW = "fake-slow"  # 200 tokens, 20 ms apart


class FakeUpstream:
    """`/v1/models` and a streamed `/v1/chat/completions` with logprobs, usage and llama-server's `timings`.

    Answers the verdict JSON when a `response_format` is asked for, a tool call of `add` when tools are given,
    the plan otherwise; `max_tokens` truncates the answer (finish_reason "length").
    """

    def __init__(self, model_ids: list[str]) -> None:
        self.model_ids = model_ids
        self.requests: list[dict[str, Any]] = []
        self.hung_up = threading.Event()  # set when a reader of the stream went away before its end
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in fake.model_ids]})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                if body["model"] == MISSING:
                    self._json(404, {"error": {"code": 404, "message": f"model '{MISSING}' not found"}})
                    return
                if not body.get("stream"):  # a client that does not stream (ChatOpenAI.invoke) gets it whole
                    self._json(200, fake.completion(body))
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for event in fake.events(body):
                        self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                except OSError:
                    fake.hung_up.set()

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.openai_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """The streamed answer folded into one `chat.completion` (text answers only)."""
        content, logprobs, finish, usage = "", [], None, None
        for event in self.events({**body, "stream": True, "stream_options": {"include_usage": True}}):
            for choice in event.get("choices", []):
                content += choice["delta"].get("content") or ""
                logprobs += (choice.get("logprobs") or {}).get("content") or []
                finish = choice.get("finish_reason") or finish
            usage = event.get("usage") or usage
        message = {"role": "assistant", "content": content}
        choice = {"index": 0, "message": message, "finish_reason": finish,
                  **({"logprobs": {"content": logprobs}} if body.get("logprobs") else {})}
        return {"id": "chatcmpl-1", "object": "chat.completion", "model": body["model"], "choices": [choice],
                "usage": usage}

    def events(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": body["model"]}
        if body.get("tools"):
            first = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1,'}}
            for call in [{"index": 0, **first}, {"index": 0, "function": {"arguments": ' "b": 2}'}}]:
                yield {**base, "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]}
            yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
            yield {**base, "choices": [], "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": 9}}
            return
        tokens = VERDICT_TOKENS if body.get("response_format") else PLAN_TOKENS
        if body["model"] == SLOW:
            for _ in range(200):
                time.sleep(0.02)
                yield {**base, "choices": [{"index": 0, "delta": {"content": " word"}, "finish_reason": None}]}
            return
        cap = body.get("max_tokens")
        kept = tokens if cap is None else tokens[:cap]
        top_k = int(body.get("top_logprobs") or 0)
        for position, token in enumerate(kept):
            delta: dict[str, Any] = {"index": 0, "delta": {"content": token}, "finish_reason": None}
            if body.get("logprobs"):
                top = [{"token": token if i == 0 else f"alt{i}", "logprob": math.log(p), "bytes": None}
                       for i, p in enumerate(ALTERNATIVES[:top_k])]
                delta["logprobs"] = {"content": [{"id": position, "token": token, "logprob": math.log(0.5),
                                                  "bytes": list(token.encode()), "top_logprobs": top}]}
            yield {**base, "choices": [delta]}
            if body["model"] == BROKEN:
                yield {"error": {"code": 500, "message": "the model crashed"}}
                return
        finish = "length" if len(kept) < len(tokens) else "stop"
        yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
               "timings": {"prompt_n": PROMPT_TOKENS, "prompt_ms": 3.0, "predicted_n": len(kept), "predicted_ms": 7.0}}
        yield {**base, "choices": [], "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": len(kept),
                                                 "total_tokens": PROMPT_TOKENS + len(kept)}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream(["fake-model", BROKEN, SLOW, *(m.id for m in MODELS)])
    yield fake
    fake.close()


@pytest.fixture
def front(upstream: FakeUpstream) -> Iterator[OllamaFront]:
    with OllamaFront(upstream.openai_url) as running:
        yield running


def chat(front: OllamaFront, **options: Any) -> ChatOllama:
    settings: dict[str, Any] = {"logprobs": True, "top_logprobs": 3, "temperature": 0, **options}
    return ChatOllama(model=settings.pop("model", "fake-model"), base_url=front.url, **settings)


# ---- (a) the front, against the canned upstream ----------------------------------------------------------------
def test_invoke_translates_the_request_and_returns_text_usage_and_durations(front: OllamaFront) -> None:
    answer = chat(front, num_predict=32, seed=7, stop=["\n\n"]).invoke("Plan it.")
    assert isinstance(answer, AIMessage) and answer.content == PLAN
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["input_tokens"] == PROMPT_TOKENS
    assert answer.usage_metadata["output_tokens"] == len(PLAN_TOKENS)
    meta = answer.response_metadata
    assert meta["done_reason"] == "stop" and meta["model_name"] == "fake-model"
    assert meta["prompt_eval_duration"] == 3_000_000 and meta["eval_duration"] == 7_000_000
    assert meta["total_duration"] > 0
    sent = front.forwarded[-1]
    assert sent["messages"] == [{"role": "user", "content": "Plan it."}]
    assert sent["max_tokens"] == 32 and sent["temperature"] == 0 and sent["seed"] == 7 and sent["stop"] == ["\n\n"]
    assert sent["logprobs"] is True and sent["top_logprobs"] == 3 and "response_format" not in sent
    usage = call_usage(answer, price_per_mtok=1.0)
    assert not usage.estimated and usage.output_tokens == len(PLAN_TOKENS)


def test_logprobs_reach_token_logprobs_and_the_plan_entropy(front: OllamaFront) -> None:
    answer = chat(front).invoke("Plan it.")
    raw = answer.response_metadata["logprobs"]
    assert isinstance(raw, list) and all(isinstance(entry, Logprob) for entry in raw)
    tokens = token_logprobs(answer)
    assert tokens is not None and [token for token, _ in tokens] == PLAN_TOKENS
    assert all(len(alternatives) == 3 for _, alternatives in tokens)
    entropy, top_k = mean_token_entropy(tokens)
    assert top_k == 3 and entropy == pytest.approx(ENTROPY_TOP3)


def test_without_logprobs_nothing_is_asked_and_no_entropy_comes_back(front: OllamaFront) -> None:
    answer = ChatOllama(model="fake-model", base_url=front.url).invoke("Plan it.")
    assert "logprobs" not in front.forwarded[-1] and "top_logprobs" not in front.forwarded[-1]
    assert mean_token_entropy(token_logprobs(answer)) == (None, None)


def test_stream_yields_one_chunk_per_token_then_usage(front: OllamaFront) -> None:
    chunks = list(chat(front).stream("Plan it."))
    assert all(isinstance(chunk, AIMessageChunk) for chunk in chunks)
    assert [chunk.content for chunk in chunks if chunk.content] == PLAN_TOKENS
    done = [chunk for chunk in chunks if chunk.response_metadata.get("done")]
    assert len(done) == 1 and done[0].content == "" and done[0].usage_metadata is not None
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.content == PLAN
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] == len(PLAN_TOKENS)
    assert mean_token_entropy(token_logprobs(total))[1] == 3


async def test_async_invoke_and_stream(front: OllamaFront) -> None:
    model = chat(front)
    answer = await model.ainvoke("Plan it.")
    assert answer.content == PLAN and answer.usage_metadata is not None
    assert mean_token_entropy(token_logprobs(answer))[0] == pytest.approx(ENTROPY_TOP3)
    pieces = [chunk.content async for chunk in model.astream("Plan it.")]
    assert "".join(str(piece) for piece in pieces) == PLAN


def test_with_token_cap_caps_num_predict(front: OllamaFront) -> None:
    model = chat(front)
    capped = with_token_cap(model, 3)
    assert isinstance(capped, ChatOllama) and capped.num_predict == 3 and model.num_predict is None
    assert with_token_cap(chat(front, num_predict=2), 3).num_predict == 2  # type: ignore[attr-defined]  # kept
    assert with_token_cap(chat(front, num_predict=-1), 3).num_predict == 3  # type: ignore[attr-defined]  # no "-1"
    answer = auction_call(model, 3).invoke("Plan it.")
    assert front.forwarded[-1]["max_tokens"] == 3
    assert answer.content == "".join(PLAN_TOKENS[:3]) and answer.response_metadata["done_reason"] == "length"
    assert answer.usage_metadata is not None and answer.usage_metadata["output_tokens"] == 3


def test_structured_output_json_schema_and_json_mode(front: OllamaFront) -> None:
    verdict = chat(front).with_structured_output(JuryVerdict, method="json_schema").invoke("Score it.")
    assert verdict == JuryVerdict(score=4)
    response_format = front.forwarded[-1]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"] == JuryVerdict.model_json_schema()

    class Loose(BaseModel):
        score: int

    assert chat(front).with_structured_output(Loose, method="json_mode").invoke("Score it as JSON.") == Loose(score=4)
    assert front.forwarded[-1]["response_format"] == {"type": "json_object"}
    raw = chat(front, format="json").invoke("Score it as JSON.")
    assert json.loads(str(raw.content)) == {"score": 4} and raw.usage_metadata is not None


def test_tool_calls_come_whole_and_tool_results_go_back_with_their_ids(front: OllamaFront) -> None:
    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    model = chat(front).bind_tools([add])
    first = model.invoke("What is 1 + 2?")
    assert isinstance(first, AIMessage)
    assert [(call["name"], call["args"]) for call in first.tool_calls] == [("add", {"a": 1, "b": 2})]
    assert first.usage_metadata is not None and first.usage_metadata["output_tokens"] == 9
    assert front.forwarded[-1]["tools"][0]["function"]["name"] == "add"
    result = ToolMessage("3", tool_call_id=first.tool_calls[0]["id"] or "")
    model.invoke([HumanMessage("What is 1 + 2?"), first, result])
    sent = front.forwarded[-1]["messages"]
    assert sent[1]["role"] == "assistant" and sent[1]["tool_calls"][0]["function"] == {
        "name": "add", "arguments": json.dumps({"a": 1, "b": 2})}
    assert sent[2] == {"role": "tool", "content": "3", "tool_call_id": sent[1]["tool_calls"][0]["id"]}


def test_the_ollama_client_non_streamed_and_the_model_endpoints(front: OllamaFront) -> None:
    client = ollama.Client(host=front.url)
    answer = client.chat(model="fake-model", messages=[{"role": "user", "content": "Plan it."}], stream=False,
                         logprobs=True, top_logprobs=2, options={"num_predict": 4})
    assert answer.done and answer.message.content == "".join(PLAN_TOKENS[:4]) and answer.done_reason == "length"
    assert answer.prompt_eval_count == PROMPT_TOKENS and answer.eval_count == 4
    assert answer.logprobs is not None and len(answer.logprobs) == 4
    assert all(len(entry.top_logprobs or []) == 2 for entry in answer.logprobs)
    names = [model.model for model in client.list().models]
    assert "fake-model" in names and MODELS[0].id in names
    shown = client.show("fake-model")
    assert shown.details is not None and shown.capabilities
    with pytest.raises(ollama.ResponseError) as err:
        client.show("no-such-model")
    assert err.value.status_code == 404
    with urllib.request.urlopen(f"{front.url}/api/version", timeout=5) as response:  # noqa: S310 - loopback
        assert json.loads(response.read())["version"]
    ChatOllama(model="fake-model", base_url=front.url, validate_model_on_init=True)
    with pytest.raises(ValueError, match="not found"):
        ChatOllama(model="no-such-model", base_url=front.url, validate_model_on_init=True)


def test_upstream_errors_become_ollama_response_errors(front: OllamaFront) -> None:
    with pytest.raises(ollama.ResponseError) as before:
        chat(front, model=MISSING).invoke("Plan it.")
    assert before.value.status_code == 404 and "not found" in str(before.value)
    with pytest.raises(ollama.ResponseError, match="the model crashed"):
        chat(front, model=BROKEN).invoke("Plan it.")


def test_a_client_that_hangs_up_makes_the_front_close_the_upstream(front: OllamaFront, upstream: FakeUpstream) -> None:
    upstream.hung_up.clear()
    stream = cast("Generator[AIMessageChunk, None, None]", chat(front, model=SLOW).stream("Ramble."))
    assert next(stream).content == " word"
    stream.close()  # the client closes its connection
    # Only a reader gone before the stream's end sets the event, so the wait is a backstop, not a claim about speed.
    assert upstream.hung_up.wait(timeout=30), "the upstream kept generating for a client that was gone"


def test_the_front_forwards_to_loopback_only_and_binds_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        OllamaFront("http://example.com/v1")
    with OllamaFront("http://127.0.0.1:9/v1") as running:
        assert running.url.startswith("http://127.0.0.1:")
        with pytest.raises(ollama.ResponseError) as err:  # nothing listens upstream
            ChatOllama(model="m", base_url=running.url).invoke("hi")
        assert err.value.status_code == 502


def test_openai_request_maps_options_and_format() -> None:
    sent = openai_request({
        "model": "m", "messages": [], "format": {"type": "object"}, "logprobs": True, "top_logprobs": 5,
        "options": {"num_predict": -1, "num_ctx": 4096, "top_k": 20, "repeat_penalty": 1.1},
    })
    assert "max_tokens" not in sent and "num_ctx" not in sent
    assert sent["top_k"] == 20 and sent["repeat_penalty"] == 1.1 and sent["top_logprobs"] == 5
    assert sent["response_format"]["json_schema"]["schema"] == {"type": "object"}


# ---- ollama_bidders ------------------------------------------------------------------------------------------------
def test_ollama_bidders_mirror_local_bidders_on_chat_ollama() -> None:
    pool = ollama_bidders("http://127.0.0.1:9", num_predict=256)
    openai_pool = local_bidders("http://127.0.0.1:9/v1")
    assert [(b.name, b.price_per_mtok, b.description) for b in pool] == [
        (b.name, b.price_per_mtok, b.description) for b in openai_pool]
    for bidder, spec in zip(pool, MODELS, strict=True):
        assert isinstance(bidder.model, ChatOllama) and bidder.model.model == spec.id
        assert bidder.model.base_url == "http://127.0.0.1:9"
        assert bidder.model.logprobs is True and bidder.model.top_logprobs == 5
        assert bidder.model.temperature == 0 and bidder.model.num_predict == 256
        assert bidder.model.client_kwargs == {"timeout": 600.0}
    assert pool[0].limiter is not None and all(b.limiter is pool[0].limiter for b in pool)
    assert all(b.limiter is None for b in ollama_bidders("http://127.0.0.1:9", max_concurrency=None))
    assert ollama_bidders("http://127.0.0.1:9", prices={MODELS[0].id: 0.5})[0].price_per_mtok == 0.5
    with pytest.raises(AuctionConfigError) as err:
        ollama_bidders("http://127.0.0.1:9", models=["gpt-9"])
    assert err.value.field == "models"


def test_an_auction_of_ollama_bidders_through_the_front(front: OllamaFront) -> None:
    pool = ollama_bidders(front.url, models=[MODELS[0].id, MODELS[1].id], top_logprobs=3)
    state = AuctionNode(pool, max_bid_tokens=48, max_steps=1).compile().invoke({"auction_task": "Square a number."})
    outcome = state["auction_outcome"]
    bids = [Bid.model_validate(b) for b in outcome["bids"]]
    assert [b.plan for b in bids] == [PLAN, PLAN]
    assert all(b.entropy == pytest.approx(ENTROPY_TOP3) and b.entropy_top_k == 3 for b in bids)
    assert all(b.plan_tokens == len(PLAN_TOKENS) and not b.usage.estimated for b in bids)
    jury = [JuryScore.model_validate(j) for j in outcome["jury"]]
    # Ollama takes no grammar: the canned upstream's batched answer is no digit a plan, so each plan is judged
    # alone, one token a judgment: its first token ("1.") is read as the score 1.
    assert len(jury) == 4 and all(j.method == "digit" and j.integer_score == 1 for j in jury)
    assert sum(j.usage.calls for j in jury) == 2 * (1 + 2)  # a batched request, then one a plan, per juror
    caps = sorted({sent.get("max_tokens") for sent in front.forwarded}, key=lambda cap: cap or 0)
    assert caps[0] is None and 48 in caps and 1 in caps  # executor uncapped; bids at 48; a judgment one token
    assert outcome["status"] == "executed" and outcome["answer"] == PLAN and not outcome["usage_estimated"]


# ---- (b) real models: llama-server behind the front -------------------------------------------------------------
needs_pool = pytest.mark.real("pool")


@pytest.fixture(scope="module")
def real_front() -> Iterator[OllamaFront]:
    with LocalServer() as server, OllamaFront(server.openai_url) as running:
        yield running


@needs_pool
def test_chat_ollama_on_a_real_model(real_front: OllamaFront) -> None:
    model = ChatOllama(model="smollm2-135m-instruct", base_url=real_front.url, logprobs=True, top_logprobs=5,
                       temperature=0, num_predict=24)
    answer = model.invoke("Name three colours.")
    assert isinstance(answer, AIMessage) and str(answer.content).strip()
    assert answer.usage_metadata is not None and 0 < answer.usage_metadata["output_tokens"] <= 24
    tokens = token_logprobs(answer)
    assert tokens is not None and len(tokens) == answer.usage_metadata["output_tokens"]
    entropy, top_k = mean_token_entropy(tokens)
    assert top_k == 5 and entropy is not None and math.isfinite(entropy) and entropy >= 0
    chunks = list(model.stream("Name three colours."))
    done = [chunk for chunk in chunks if chunk.response_metadata.get("done")]
    assert len([chunk for chunk in chunks if chunk.content]) > 2
    assert len(done) == 1 and done[0].usage_metadata is not None
    verdict = with_token_cap(model, 16).with_structured_output(JuryVerdict, method="json_schema").invoke(
        "Score this plan from 0 to 5: 1. Write the function. 2. Test it.")
    assert isinstance(verdict, JuryVerdict)


@needs_pool
def test_a_real_auction_of_ollama_bidders(real_front: OllamaFront) -> None:
    pool = ollama_bidders(real_front.url, models=["qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct"],
                          num_predict=128)
    # The machine's two cores (and the shared server) may be busy with other work: time is not under test here.
    app = AuctionNode(pool, max_bid_tokens=48, max_steps=1, bid_timeout=900).compile()
    state = app.invoke({"auction_task": "Write a Python function that returns the square of a number."})
    names = {b.name for b in pool}
    outcome = state["auction_outcome"]
    bids = [Bid.model_validate(b) for b in outcome["bids"]]
    assert len(bids) == 2 and all(b.ok and b.plan.strip() for b in bids), [(b.bidder, b.error) for b in bids]
    for bid in bids:
        assert 0 < bid.plan_tokens <= 48 and not bid.usage.estimated and bid.usage.input_tokens > 0
        assert bid.entropy is not None and math.isfinite(bid.entropy) and bid.entropy >= 0
        assert bid.entropy_top_k == 5
    jury = [JuryScore.model_validate(j) for j in outcome["jury"]]
    assert len(jury) == 4 and {(j.juror, j.bidder) for j in jury} == {(a, b) for a in names for b in names}
    verdicts = [(j.juror, j.bidder, j.method, j.score, j.error) for j in jury]
    assert any(j.score is not None for j in jury), verdicts
    assert all(j.score is not None or j.error for j in jury), verdicts
    assert outcome["status"] == "executed", outcome.get("execution_error")
    assert outcome["winner"] in names and isinstance(outcome["answer"], str)
    assert state["messages"][-1].name == outcome["winner"]
    assert outcome["tokens_by_phase"]["execute"] > 0 and not outcome["usage_estimated"]
    assert all(outcome["scores"][b.bidder]["entropy_used"] for b in bids)
