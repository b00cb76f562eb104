"""A fake OpenAI-compatible endpoint on loopback (`FakeOpenAIEndpoint`): a stand-in for a remote API in tests and
benchmarks of pools that call one, served over real HTTP so the real `langchain-openai` client talks to it."""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAIEndpoint"]


class FakeOpenAIEndpoint:
    """An OpenAI-compatible chat endpoint on loopback that answers after a delay: a stand-in for a remote API, for
    tests and benchmarks of pools that call one (`langgraph_sale.poolfile`, `langgraph-sale bench --pool-file`).

    `POST /v1/chat/completions` waits `delay_s`, then answers `answer(messages)` (the request's messages as dicts)
    with usage (words as tokens) and, when asked, logprobs; streamed when the request asks (one content chunk, then
    usage). Requests are served at once, each on a thread of its own, as a hosted API would. `requests` counts them
    and `peak` is the most served at the same time.

    Examples:
        >>> from langchain_openai import ChatOpenAI
        >>> with FakeOpenAIEndpoint(lambda messages: "ANSWER: 42", delay_s=0.01) as endpoint:
        ...     model = ChatOpenAI(model="fake", base_url=endpoint.url, api_key="sk-none")
        ...     model.invoke("What is six times seven?").content
        'ANSWER: 42'
    """

    def __init__(self, answer: Callable[[list[dict[str, Any]]], str] | str = "Done.", *, delay_s: float = 0.0) -> None:
        self.answer = answer if callable(answer) else (lambda messages: str(answer))
        self.delay_s = delay_s
        self.requests = 0
        self.peak = 0
        self._active = 0
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                pass

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                self._send(endpoint.respond(body), stream=bool(body.get("stream")))

            def _send(self, reply: dict[str, Any], *, stream: bool) -> None:
                if stream:
                    message = reply["choices"][0]["message"]
                    base = {k: reply[k] for k in ("id", "model", "created")}
                    chunks = [{**base, "object": "chat.completion.chunk", "choices": [
                        {"index": 0, "delta": {"role": "assistant", "content": message["content"]},
                         "finish_reason": "stop"}]},
                        {**base, "object": "chat.completion.chunk", "choices": [], "usage": reply["usage"]}]
                    data = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"
                    payload, kind = data.encode(), "text/event-stream"
                else:
                    payload, kind = json.dumps(reply).encode(), "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def respond(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The completion a request gets (after the delay)."""
        with self._lock:
            self.requests += 1
            self._active += 1
            self.peak = max(self.peak, self._active)
        try:
            time.sleep(self.delay_s)
            messages = list(body.get("messages") or [])
            content = self.answer(messages)
        finally:
            with self._lock:
                self._active -= 1
        prompt = sum(len(str(m.get("content") or "").split()) for m in messages)
        words = content.split()
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": content},
                                  "finish_reason": "stop"}
        if body.get("logprobs"):
            choice["logprobs"] = {"content": [
                {"token": word, "logprob": math.log(0.8), "bytes": None,
                 "top_logprobs": [{"token": word, "logprob": math.log(0.8), "bytes": None},
                                  {"token": "_", "logprob": math.log(0.2), "bytes": None}]} for word in words]}
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "fake"), "choices": [choice],
                "usage": {"prompt_tokens": prompt, "completion_tokens": len(words),
                          "total_tokens": prompt + len(words)}}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAIEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
