"""The local pool: its pieces without models, and one real auction when the pool is installed.

Real models are not reproducible at temperature 0 through llama-server (±2 of 24 tasks, docs/feasibility.md §2),
so the real test asserts mechanics: bids parsed, entropy and usage present, jury scores, a winner executed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from langgraph_sale import AuctionNode
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.local import MODELS, LocalServer, PoolNotInstalledError, local_bidders
from langgraph_sale.types import Bid, JuryScore


def test_local_bidders_are_openai_models_with_logprobs_usage_and_one_shared_limiter() -> None:
    pool = local_bidders("http://127.0.0.1:9/v1")
    assert [b.name for b in pool] == [m.bidder for m in MODELS]
    assert [b.price_per_mtok for b in pool] == sorted(b.price_per_mtok for b in pool)
    for bidder in pool:
        assert bidder.model.logprobs is True and bidder.model.top_logprobs == 5
        assert bidder.model.stream_usage is True and bidder.model.temperature == 0
    assert pool[0].limiter is not None and all(b.limiter is pool[0].limiter for b in pool)
    assert all(b.limiter is None for b in local_bidders("http://127.0.0.1:9/v1", max_concurrency=None))
    priced = local_bidders("http://127.0.0.1:9/v1", prices={"smollm2-135m-instruct": 0.5})
    assert priced[0].price_per_mtok == 0.5


def test_unknown_local_model_is_a_config_error() -> None:
    with pytest.raises(AuctionConfigError) as err:
        local_bidders("http://127.0.0.1:9/v1", models=["gpt-9"])
    assert err.value.field == "models"


def test_a_server_without_models_says_how_to_install_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGGRAPH_SALE_HOME", str(tmp_path))
    with pytest.raises(PoolNotInstalledError, match="langgraph_sale.local install"):
        LocalServer().start()


@pytest.mark.real("pool")
def test_a_real_auction_between_two_local_models() -> None:
    with LocalServer() as server:
        pool = local_bidders(server.openai_url, models=["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"])
        app = AuctionNode(pool, max_bid_tokens=48, max_steps=1).compile()
        state = app.invoke({"auction_task": "Write a Python function that returns the square of a number."})
    names = {b.name for b in pool}
    outcome = state["auction_outcome"]
    bids = [Bid.model_validate(b) for b in outcome["bids"]]
    assert len(bids) == 2 and all(b.ok for b in bids)
    for bid in bids:
        assert 0 < bid.plan_tokens <= 48 and not bid.usage.estimated
        assert bid.entropy is not None and bid.entropy_top_k == 5 and bid.entropy >= 0
    jury = [JuryScore.model_validate(j) for j in outcome["jury"]]
    # Every judgment is on record; each juror reads both plans in one request held to digits by a grammar.
    assert len(jury) == 4 and {(j.juror, j.bidder) for j in jury} == {(a, b) for a in names for b in names}
    assert any(j.method == "batch" and j.score is not None for j in jury)
    assert all(j.score is not None or j.error for j in jury)
    assert outcome["status"] == "executed", outcome.get("execution_error")
    assert outcome["winner"] in names
    assert isinstance(outcome["answer"], str) and state["messages"][-1].name == outcome["winner"]
    assert outcome["tokens_by_phase"]["execute"] > 0 and not outcome["usage_estimated"]
    assert all(outcome["scores"][b.bidder]["entropy_used"] for b in bids)


def test_the_build_follows_the_cpu_flags_and_the_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from langgraph_sale.local_install import AVX512_VNNI_FLAGS, BUILDS, build_for, cpu_flags

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu " + " ".join(sorted(AVX512_VNNI_FLAGS)) + " amx_tile\n")
    assert cpu_flags(cpuinfo) >= AVX512_VNNI_FLAGS and cpu_flags(tmp_path / "missing") == frozenset()
    monkeypatch.delenv("LANGGRAPH_SALE_LLAMA_BUILD", raising=False)
    assert build_for(cpu_flags(cpuinfo)) == "avx512-vnni"
    assert build_for(cpu_flags(cpuinfo) - {"avx512_vnni"}) == "portable"  # one flag missing: the portable build
    assert "AMX" not in BUILDS["portable"] and "-DGGML_AMX_INT8=OFF" in BUILDS["avx512-vnni"]
    monkeypatch.setenv("LANGGRAPH_SALE_LLAMA_BUILD", "portable")
    assert build_for(cpu_flags(cpuinfo)) == "portable"
    monkeypatch.setenv("LANGGRAPH_SALE_LLAMA_BUILD", "native")
    with pytest.raises(AuctionConfigError) as err:
        build_for(cpu_flags(cpuinfo))
    assert err.value.field == "LANGGRAPH_SALE_LLAMA_BUILD"
