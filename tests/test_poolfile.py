"""Pool files (`langgraph_sale.poolfile`): one TOML file describes a pool mixing providers; the library, the bench
and Studio read it. The endpoints are stand-ins on loopback: a canned OpenAI-compatible server and the Ollama-API
front before it (`tests/ollama_front.py`), then the local llama-server with real models where the pool is
installed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_ollama import ChatOllama
from langchain_openai import ChatOpenAI

from langgraph_sale import create_auction
from langgraph_sale.bench.runner import BenchConfig, run_bench
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.local import LocalServer
from langgraph_sale.poolfile import POOL_ENV, load_pool, load_pool_spec, open_pool
from langgraph_sale.pricing import Pricing

from .ollama_front import OllamaFront
from .test_ollama import FakeUpstream

MIXED = """
[[bidder]]
name = "large"
provider = "openai"
model = "fake-model"
base_url = "{openai}"
price = {{ input = 0.3, cached_input = 0.1, output = 1.2 }}
max_concurrency = 8

[[bidder]]
name = "small"
provider = "ollama"
model = "fake-model"
base_url = "{ollama}"
price = 0.05
tools = ["python"]
max_concurrency = 2
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream(["fake-model"])
    yield fake
    fake.close()


@pytest.fixture
def mixed(tmp_path: Path, upstream: FakeUpstream) -> Iterator[Path]:
    with OllamaFront(upstream.openai_url) as front:
        path = tmp_path / "pool.toml"
        path.write_text(MIXED.format(openai=upstream.openai_url, ollama=front.url), encoding="utf-8")
        yield path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pool.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_pool_file_makes_bidders_cheapest_first_with_prices_tools_and_limits(mixed: Path) -> None:
    small, large = load_pool(mixed)
    assert (small.name, large.name) == ("small", "large")
    assert isinstance(small.model, ChatOllama) and isinstance(large.model, ChatOpenAI)
    assert large.pricing == Pricing(input=0.3, cached_input=0.1, output=1.2) and large.price_per_mtok == 1.2
    assert small.pricing == Pricing.of(0.05)
    assert [tool.name for tool in small.tools] == ["run_python"] and large.tools == ()
    assert small.limiter is not None and small.limiter.max_concurrent == 2
    assert large.limiter is not None and large.limiter.max_concurrent == 8
    assert large.model.logprobs and small.model.logprobs


def test_an_auction_runs_on_the_pool_a_file_describes(mixed: Path) -> None:
    with open_pool(mixed, say=None) as pool:
        outcome = create_auction(pool, jury=False).compile().invoke({"auction_task": "Add two numbers."})[
            "auction_outcome"]
    assert outcome["status"] == "executed" and {b["bidder"] for b in outcome["bids"]} == {"small", "large"}
    assert all(b["usage"]["input_tokens"] > 0 and not b["usage"]["estimated"] for b in outcome["bids"])


def test_bidders_on_one_endpoint_share_the_smallest_limit(tmp_path: Path) -> None:
    text = "".join(f'[[bidder]]\nname = "{name}"\nprovider = "openai"\nmodel = "m"\nbase_url = "http://h/v1"\n'
                   f"price = {price}\n{limit}\n" for name, price, limit in (("a", 1, "max_concurrency = 4"),
                                                                             ("b", 2, "max_concurrency = 3"),
                                                                             ("c", 3, "")))
    text += '[[bidder]]\nname = "d"\nprovider = "local"\nmodel = "qwen2.5-coder-0.5b-instruct"\nprice = 0.1\n'
    d, a, b, c = load_pool(write(tmp_path, text))  # cheapest first
    assert a.limiter is b.limiter is c.limiter and a.limiter is not None and a.limiter.max_concurrent == 3
    assert d.limiter is not None and d.limiter.max_concurrent == 1  # one call at a time on the local server
    assert d.tool_calling == "json" and d.grammar and not a.grammar


BAD = [
    ('price = "cheap"', "bidder 'a': price", "must be a number"),
    ("price = { input = 1 }", "bidder 'a': price.output", "is missing"),
    ("price = { input = 1, output = -1 }", "bidder 'a': price.output", "greater than or equal to 0"),
    ('price = 1\nprovider2 = "x"', "bidder 'a': provider2", "is not a pool file field"),
    ('price = 1\ntools = ["shell"]', "bidder 'a': tools", "unknown ['shell']"),
    ("price = 1\nmax_concurrency = 0", "bidder 'a': max_concurrency", "greater than or equal to 1"),
    ('price = 1\napi_key_env = "K"', "bidder 'a': api_key_env", "only an openai bidder takes a key"),
]


@pytest.mark.parametrize(("line", "where", "reason"), BAD)
def test_an_error_in_the_file_names_the_bidder_and_the_field(tmp_path: Path, line: str, where: str,
                                                             reason: str) -> None:
    path = write(tmp_path, f'[[bidder]]\nname = "a"\nprovider = "local"\nmodel = "m"\n{line}\n')
    with pytest.raises(AuctionConfigError) as caught:
        load_pool(path)
    assert caught.value.field == f"{path}: {where}" and reason in caught.value.problem


@pytest.mark.parametrize(("text", "field", "reason"), [
    ("", "bidder", "needs at least one [[bidder]] table"),
    ('[[bidder]]\nprovider = "local"\nmodel = "m"\nprice = 1\n', "bidder #1: name", "is missing"),
    ('[[bidder]]\nname = "a"\nprovider = "bedrock"\nmodel = "m"\nprice = 1\n', "bidder 'a': provider", "'openai'"),
    ('[[bidder]]\nname = "a"\nprovider = "openai"\nmodel = "m"\nprice = 1\n', "bidder 'a': base_url", "needs"),
    ('[[bidder]]\nname = "A b"\nprovider = "local"\nmodel = "m"\nprice = 1\n', "bidder 'A b': name", "snake_case"),
    ('[[bidder]]\nname = "a"\nprovider = "local"\nmodel = "m"\nprice = 1\n' * 2, "bidder 'a': name", "two bidders"),
    ('[[bidder]]\nname = "a"\nprovider = "openai"\nmodel = "m"\nprice = 1\nbase_url = "http://h"\n'
     'api_key_env = "LANGGRAPH_SALE_TEST_NO_SUCH_KEY"\n', "bidder 'a': api_key_env", "is not set"),
    ('[pool]\n[[bidder]]\nname = "a"\nprovider = "local"\nmodel = "m"\nprice = 1\n', "pool",
     "is not a pool file field"),
    ("[[bidder]\n", "", "is not valid TOML"),
])
def test_errors_of_the_whole_file(tmp_path: Path, text: str, field: str, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(AuctionConfigError) as caught:
        load_pool(path)
    assert caught.value.field == (f"{path}: {field}" if field else str(path)) and reason in caught.value.problem


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(AuctionConfigError, match="no such pool file"):
        load_pool_spec(tmp_path / "nowhere.toml")


def test_the_bench_runs_on_a_pool_file_and_prices_tokens_as_it_says(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = BenchConfig(suite="smoke", pool="file", pool_file=mixed, out=out, domains=("coding",), limit=2,
                         methods=("alone", "sale_nomem"), orders=1, progress=False)
    assert run_bench(config, echo=lambda text: None).status == "complete"
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert {row["method"] for row in rows} == {"alone_small", "alone_large", "sale_nomem"}
    fingerprint = json.loads((out / "meta.json").read_text())["fingerprint"]["pool"]
    assert fingerprint["pool"] == "file" and [b["name"] for b in fingerprint["bidders"]] == ["large", "small"]
    # The large bidder's calls are priced as the file says: input and output each at their own price.
    calls = [json.loads(line) for line in (out / "calls.jsonl").read_text().splitlines()]
    assert calls
    large = [row for row in rows if row["method"] == "alone_large"]
    for row in large:
        assert row["cost_usd"]["execute"] > 0
    assert "--pool file --pool-file" in config.reproduce_command()


def test_the_bench_refuses_a_pool_file_with_models(mixed: Path, tmp_path: Path) -> None:
    config = BenchConfig(suite="smoke", pool="file", pool_file=mixed, models=("m",), out=tmp_path / "run",
                         domains=("coding",), progress=False)
    with pytest.raises(AuctionConfigError, match="--pool-file"):
        run_bench(config, echo=lambda text: None)


def test_studio_reads_the_pool_file_named_by_the_environment(mixed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from langgraph_sale import studio

    monkeypatch.setenv(POOL_ENV, str(mixed))
    graph = studio.build_pool_auction()
    assert {name for name in graph.nodes if name.startswith("execute_")} == {"execute_small", "execute_large"}


# ---- real models: the local pool, llama-server's OpenAI endpoint and an Ollama front before it ----------------
@pytest.mark.real("pool")
def test_the_bench_on_a_pool_file_mixing_local_openai_and_ollama_bidders(tmp_path: Path) -> None:
    with LocalServer() as server, OllamaFront(server.openai_url) as front:
        path = write(tmp_path, f"""
[[bidder]]
name = "local_small"
provider = "local"
model = "qwen2.5-coder-0.5b-instruct"
price = 0.06

[[bidder]]
name = "remote_small"
provider = "openai"
model = "qwen2.5-coder-0.5b-instruct"
base_url = "{server.openai_url}"
price = {{ input = 0.05, output = 0.2 }}
max_tokens = 256

[[bidder]]
name = "ollama_small"
provider = "ollama"
model = "qwen2.5-coder-0.5b-instruct"
base_url = "{front.url}"
price = 0.3
max_tokens = 256
""")
        out = tmp_path / "run"
        config = BenchConfig(suite="smoke", pool="file", pool_file=path, out=out, domains=("coding",), limit=1,
                             methods=("alone",), orders=1, max_attempts=1, exec_max_tokens=256, progress=False)
        assert run_bench(config, echo=lambda text: None).status == "complete"
    rows: list[dict[str, Any]] = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert {row["method"] for row in rows} == {"alone_local_small", "alone_remote_small", "alone_ollama_small"}
    for row in rows:
        assert row["tokens"]["execute"] > 0 and row["answer"].strip(), row["method"]


def test_an_example_runs_on_the_pool_file_it_is_given(mixed: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "examples/chat_node.py", "--pool-file", str(mixed)], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Outcome: executed, winner " in done.stdout
    assert "Answer from small" in done.stdout or "Answer from large" in done.stdout
