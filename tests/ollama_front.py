"""Test support: a small Ollama-API front on 127.0.0.1 before an OpenAI-compatible server (llama-server).

No Ollama server can be installed here, so the tests put this front before the local llama-server to make
`ChatOllama` (and the `ollama` client under it) talk to real models. It is stdlib only (`http.server`, `urllib`),
binds a free loopback port, forwards only to a loopback upstream, and maps:

- `POST /api/chat`: Ollama messages, `options` (`num_predict` -> `max_tokens`, `temperature`, `top_p`, `top_k`,
  `seed`, `stop`, penalties, ...), `format` (`"json"` -> `json_object`, a JSON schema -> `json_schema`),
  `logprobs`/`top_logprobs` and `tools` onto `/v1/chat/completions`, always streamed upstream. The answer is NDJSON:
  with `stream` (Ollama's default) one chunk per upstream delta, each carrying its tokens' logprobs at the top
  level as `[{token, logprob, top_logprobs: [{token, logprob}]}]`, then a `done` chunk with `done_reason`,
  `prompt_eval_count`/`eval_count` (from the upstream usage) and the durations in nanoseconds (from llama-server's
  `timings`, else the wall clock); without `stream`, one object with all of it. Tool calls come whole, in the
  message of the last chunk before `done` (arguments as objects, as Ollama sends them).
- `GET /api/tags`, `POST /api/show`, `GET /api/version`, `GET /api/ps`, `GET /` and `HEAD /`: what the `ollama`
  client and `ChatOllama(validate_model_on_init=True)` read; the model list is the upstream's `/v1/models`.

Errors come back as Ollama's `{"error": ...}`, with the upstream's status before the answer has started and as an
NDJSON line after (the `ollama` client raises `ResponseError` on both). A client that hangs up mid-answer makes
the front close the upstream request, so the server stops generating.

    with OllamaFront(server.openai_url) as front:
        model = ChatOllama(model="qwen2.5-coder-0.5b-instruct", base_url=front.url, logprobs=True, top_logprobs=5)
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["OllamaFront", "FrontError", "openai_request", "ollama_logprobs"]

VERSION = "0.12.6"
"""The Ollama version the front reports (`/api/version`)."""

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

# Ollama options llama-server takes under the same name.
_SAME_NAME_OPTIONS = ("temperature", "top_p", "top_k", "min_p", "typical_p", "seed", "stop", "repeat_penalty",
                      "repeat_last_n", "presence_penalty", "frequency_penalty", "mirostat", "mirostat_tau",
                      "mirostat_eta")
# Other options (num_ctx, num_gpu, num_thread, ...) configure Ollama's runner, not a request: not forwarded.


class FrontError(Exception):
    """A request the front cannot serve; `status` is the HTTP status it answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


# ---- translation (pure functions) -----------------------------------------------------------------------------
def _openai_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list):
        raise FrontError("messages must be a list")
    out: list[dict[str, Any]] = []
    pending_ids: list[str] = []  # ids of the last assistant message's tool calls, answered in order
    counter = 0
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise FrontError("each message needs a role")
        if message.get("images"):
            raise FrontError("images are not supported by this front (the local models are text-only)")
        role = message["role"]
        converted: dict[str, Any] = {"role": role, "content": message.get("content") or ""}
        if role == "assistant" and message.get("tool_calls"):
            calls = []
            pending_ids = []
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                arguments = function.get("arguments", {})
                call_id = f"call_{counter}"
                counter += 1
                pending_ids.append(call_id)
                calls.append({"id": call_id, "type": "function", "function": {
                    "name": function.get("name", ""),
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                }})
            converted["tool_calls"] = calls
        elif role == "tool":
            converted["tool_call_id"] = pending_ids.pop(0) if pending_ids else f"call_{counter}"
            if message.get("tool_name"):
                converted["name"] = message["tool_name"]
        out.append(converted)
    return out


def _response_format(fmt: Any) -> dict[str, Any] | None:
    if fmt in (None, ""):
        return None
    if fmt == "json":
        return {"type": "json_object"}
    if isinstance(fmt, dict):
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": fmt, "strict": True}}
    raise FrontError(f"format must be 'json' or a JSON schema, got {fmt!r}")


def openai_request(body: dict[str, Any]) -> dict[str, Any]:
    """The `/v1/chat/completions` payload for an Ollama `/api/chat` body (always streamed, usage included).

    Example:
        >>> openai_request({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        ...                 "options": {"num_predict": 8, "temperature": 0}, "format": "json"})["max_tokens"]
        8
    """
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise FrontError("model is required")
    payload: dict[str, Any] = {
        "model": model,
        "messages": _openai_messages(body.get("messages") or []),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise FrontError("options must be an object")
    num_predict = options.get("num_predict")
    if isinstance(num_predict, int) and num_predict >= 0:  # -1 (no limit) and -2 (fill the context): no cap
        payload["max_tokens"] = num_predict
    for name in _SAME_NAME_OPTIONS:
        if options.get(name) is not None:
            payload[name] = options[name]
    response_format = _response_format(body.get("format"))
    if response_format is not None:
        payload["response_format"] = response_format
    if body.get("logprobs"):
        payload["logprobs"] = True
        if body.get("top_logprobs"):
            payload["top_logprobs"] = int(body["top_logprobs"])
    if body.get("tools"):
        payload["tools"] = body["tools"]
    return payload


def ollama_logprobs(content: Any) -> list[dict[str, Any]]:
    """OpenAI `logprobs.content` entries in Ollama's shape: `[{token, logprob, top_logprobs: [{token, logprob}]}]`.

    Example:
        >>> ollama_logprobs([{"token": "a", "logprob": -0.1, "bytes": [97],
        ...                   "top_logprobs": [{"token": "a", "logprob": -0.1, "bytes": [97]}]}])
        [{'token': 'a', 'logprob': -0.1, 'top_logprobs': [{'token': 'a', 'logprob': -0.1}]}]
    """
    out: list[dict[str, Any]] = []
    for entry in content or []:
        item: dict[str, Any] = {"token": entry.get("token", ""), "logprob": entry.get("logprob", 0.0)}
        top = entry.get("top_logprobs")
        if top is not None:
            item["top_logprobs"] = [{"token": alt.get("token", ""), "logprob": alt.get("logprob", 0.0)} for alt in top]
        out.append(item)
    return out


def _done_reason(finish_reason: str | None) -> str:
    return "length" if finish_reason == "length" else "stop"


# ---- one chat answer ----------------------------------------------------------------------------------------------
class _Answer:
    """Accumulates an upstream stream into Ollama chunks."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.started = time.perf_counter_ns()
        self.first_token: int | None = None
        self.content: list[str] = []
        self.thinking: list[str] = []
        self.logprobs: list[dict[str, Any]] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.timings: dict[str, Any] | None = None

    def take(self, chunk: dict[str, Any]) -> dict[str, Any] | None:
        """Read one upstream chunk; returns the Ollama chunk for it (None when it carries no text or logprobs)."""
        if chunk.get("error"):
            error = chunk["error"]
            raise FrontError(str(error.get("message", error) if isinstance(error, dict) else error), 500)
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        if chunk.get("timings"):
            self.timings = chunk["timings"]
        text, thinking, logprobs = "", "", []
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or choice.get("message") or {}
            text += delta.get("content") or ""
            thinking += delta.get("reasoning_content") or ""
            for call in delta.get("tool_calls") or []:
                slot = self.tool_calls.setdefault(int(call.get("index", len(self.tool_calls))),
                                                  {"name": "", "arguments": ""})
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
            logprobs += ollama_logprobs((choice.get("logprobs") or {}).get("content"))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if not (text or thinking or logprobs):
            return None
        if self.first_token is None:
            self.first_token = time.perf_counter_ns()
        self.content.append(text)
        self.thinking.append(thinking)
        self.logprobs += logprobs
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if thinking:
            message["thinking"] = thinking
        out: dict[str, Any] = {"model": self.model, "created_at": _now(), "message": message, "done": False}
        if logprobs:
            out["logprobs"] = logprobs
        return out

    def ollama_tool_calls(self) -> list[dict[str, Any]]:
        calls = []
        for _, call in sorted(self.tool_calls.items()):
            try:
                arguments = json.loads(call["arguments"]) if call["arguments"] else {}
            except ValueError as err:
                raise FrontError(f"tool call {call['name']!r}: arguments are not JSON: {call['arguments'][:200]!r}",
                                 502) from err
            calls.append({"function": {"name": call["name"], "arguments": arguments}})
        return calls

    def done(self, *, whole: bool) -> dict[str, Any]:
        """The final chunk; `whole` puts the full message (and logprobs) into it, for a non-streamed answer."""
        end = time.perf_counter_ns()
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content) if whole else ""}
        if whole and any(self.thinking):
            message["thinking"] = "".join(self.thinking)
        if whole and self.tool_calls:
            message["tool_calls"] = self.ollama_tool_calls()
        out: dict[str, Any] = {
            "model": self.model,
            "created_at": _now(),
            "message": message,
            "done": True,
            "done_reason": _done_reason(self.finish_reason),
            "total_duration": end - self.started,
            "load_duration": 0,
        }
        first = self.first_token or end
        timings = self.timings or {}
        prompt_ms, predicted_ms = timings.get("prompt_ms"), timings.get("predicted_ms")
        out["prompt_eval_duration"] = int(prompt_ms * 1e6) if prompt_ms is not None else first - self.started
        out["eval_duration"] = int(predicted_ms * 1e6) if predicted_ms is not None else end - first
        usage = self.usage or {}
        prompt_tokens = usage.get("prompt_tokens", timings.get("prompt_n"))
        output_tokens = usage.get("completion_tokens", timings.get("predicted_n"))
        if prompt_tokens is not None and output_tokens is not None:
            out["prompt_eval_count"] = int(prompt_tokens)
            out["eval_count"] = int(output_tokens)
        if whole and self.logprobs:
            out["logprobs"] = self.logprobs
        return out


def _sse_chunks(response: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
    for raw in response:
        line = raw.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[len(b"data:"):].strip()
        if data == b"[DONE]":
            return
        try:
            chunk = json.loads(data)
        except ValueError as err:
            raise FrontError(f"the upstream sent a line that is not JSON: {data[:200]!r}", 502) from err
        if isinstance(chunk, dict):
            yield chunk


# ---- the HTTP server ------------------------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection; the body of a stream ends with the connection

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # quiet: the tests read `OllamaFront.forwarded` instead

    # -- plumbing
    def _send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": message})

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except ValueError as err:
            raise FrontError(f"invalid JSON body: {err}") from err
        if not isinstance(body, dict):
            raise FrontError("the body must be a JSON object")
        return body

    def _route(self, routes: dict[str, Any]) -> None:
        path = urllib.parse.urlsplit(self.path).path.rstrip("/") or "/"
        handler = routes.get(path)
        if handler is None:
            self._send_error(404, f"{self.command} {path} is not served by this Ollama front")
            return
        try:
            handler()
        except FrontError as err:
            self._send_error(err.status, str(err))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._route({"/": self._root, "/api/tags": self._tags, "/api/version": self._version, "/api/ps": self._ps})

    def do_HEAD(self) -> None:  # noqa: N802
        self._route({"/": self._root})

    def do_POST(self) -> None:  # noqa: N802
        self._route({"/api/chat": self._chat, "/api/show": self._show})

    # -- endpoints
    def _root(self) -> None:
        data = b"Ollama is running"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _version(self) -> None:
        self._send_json(200, {"version": VERSION})

    def _ps(self) -> None:
        self._send_json(200, {"models": []})

    def _tags(self) -> None:
        self._send_json(200, {"models": [_model_entry(name) for name in self.server.front.model_ids()]})

    def _show(self) -> None:
        body = self._body()
        name = body.get("model") or body.get("name")
        if name not in self.server.front.model_ids():
            raise FrontError(f"model '{name}' not found", 404)
        self._send_json(200, {
            "modelfile": f"FROM {name}\n",
            "parameters": "",
            "template": "{{ .Prompt }}",
            "details": _details(),
            "model_info": {"general.architecture": "llama", "general.basename": name},
            "capabilities": ["completion", "tools"],
            "modified_at": _now(),
        })

    def _chat(self) -> None:
        body = self._body()
        payload = openai_request(body)
        stream = body.get("stream", True) is not False
        front = self.server.front
        front.forwarded.append(payload)
        request = urllib.request.Request(
            f"{front.openai_base_url}/chat/completions",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
            method="POST",
        )
        try:
            upstream = urllib.request.urlopen(request, timeout=front.timeout)  # noqa: S310 - loopback only
        except urllib.error.HTTPError as err:
            raise FrontError(_upstream_error(err), err.code) from err
        except (urllib.error.URLError, OSError) as err:
            raise FrontError(f"the upstream {front.openai_base_url} is unreachable: {err}", 502) from err
        with contextlib.closing(upstream):
            answer = _Answer(payload["model"])
            started = False
            try:
                for chunk in _sse_chunks(upstream):
                    out = answer.take(chunk)
                    if stream and out is not None:
                        started = started or self._start_ndjson()
                        self._write_line(out)
                if stream:
                    started = started or self._start_ndjson()
                    calls = answer.ollama_tool_calls()
                    if calls:
                        self._write_line({"model": answer.model, "created_at": _now(),
                                          "message": {"role": "assistant", "content": "", "tool_calls": calls},
                                          "done": False})
                    self._write_line(answer.done(whole=False))
                else:
                    self._send_json(200, answer.done(whole=True))
            except (FrontError, OSError, ValueError) as err:
                if isinstance(err, (BrokenPipeError, ConnectionResetError)):
                    raise  # the client hung up: closing the upstream (above) stops the generation
                if started:
                    self._write_line({"error": str(err)})
                elif isinstance(err, FrontError):
                    raise
                else:
                    raise FrontError(f"upstream: {err}", 502) from err

    def _start_ndjson(self) -> bool:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        return True

    def _write_line(self, obj: dict[str, Any]) -> None:
        self.wfile.write(json.dumps(obj).encode() + b"\n")
        self.wfile.flush()


def _upstream_error(err: urllib.error.HTTPError) -> str:
    try:
        text = err.read().decode(errors="replace")
    except OSError:
        text = ""
    try:
        parsed = json.loads(text)
    except ValueError:
        return text or f"upstream HTTP {err.code}"
    error = parsed.get("error", parsed) if isinstance(parsed, dict) else parsed
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def _details() -> dict[str, Any]:
    return {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"], "parameter_size": "",
            "quantization_level": ""}


def _model_entry(name: str) -> dict[str, Any]:
    return {"name": name, "model": name, "modified_at": _now(), "size": 0,
            "digest": hashlib.sha256(name.encode()).hexdigest(), "details": _details()}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    front: OllamaFront


class OllamaFront:
    """The Ollama API on a free 127.0.0.1 port, forwarding to an OpenAI-compatible server on loopback.

    Args:
        openai_base_url: The upstream's OpenAI base URL (`LocalServer().openai_url`, `http://127.0.0.1:PORT/v1`).
        timeout: Seconds one upstream request may take.

    Attributes:
        url: The front's base URL, for `ChatOllama(base_url=...)`, once started.
        forwarded: Every `/v1/chat/completions` payload sent upstream, in order (for the tests).
    """

    def __init__(self, openai_base_url: str, *, timeout: float = 600.0) -> None:
        host = urllib.parse.urlsplit(openai_base_url).hostname
        if host not in _LOOPBACK:
            raise ValueError(f"the front forwards to loopback only, got {openai_base_url!r}")
        self.openai_base_url = openai_base_url.rstrip("/")
        self.timeout = timeout
        self.forwarded: list[dict[str, Any]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the front is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def model_ids(self) -> list[str]:
        """The upstream's model ids (`/v1/models`)."""
        try:
            with urllib.request.urlopen(f"{self.openai_base_url}/models", timeout=30) as response:  # noqa: S310
                listed = json.loads(response.read())
        except urllib.error.HTTPError as err:
            raise FrontError(_upstream_error(err), err.code) from err
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise FrontError(f"the upstream {self.openai_base_url} is unreachable: {err}", 502) from err
        return [str(entry["id"]) for entry in listed.get("data", []) if isinstance(entry, dict) and "id" in entry]

    def start(self) -> OllamaFront:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.front = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="ollama-front", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> OllamaFront:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
