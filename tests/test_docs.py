"""The README's quickstart runs as written, the examples run, and the Studio graphs load as the server loads them."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _readme_block(heading: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block under {heading}"
    return match.group(1)


def test_readme_quickstart_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, object] = {}
    exec(compile(_readme_block("Quickstart"), "README.md#quickstart", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "small"
    assert printed[1].startswith("def dedup")
    assert "'jury'" in printed[2] and "'execute'" in printed[2]


def test_quickstart_example_prints_the_whole_account() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart_fake.py")], capture_output=True,
                            text=True, timeout=120, check=True)
    for part in ("Bids", "Jury", "Scores", "Winner: small", "Cost by phase", "against large alone"):
        assert part in result.stdout


def test_langgraph_json_graphs_load_without_checkpointer_or_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = json.loads((ROOT / "langgraph.json").read_text(encoding="utf-8"))
    assert config["dependencies"] == ["."]
    assert set(config["graphs"]) == {"auction", "decide_auction", "user_auction", "local_auction", "pool_auction"}
    for graph_id, entry in config["graphs"].items():
        spec = entry["path"] if isinstance(entry, dict) else entry
        module_name, attribute = spec.split(":")
        module = importlib.reload(importlib.import_module(module_name))
        value = getattr(module, attribute)
        if graph_id in ("local_auction", "pool_auction"):
            # A graph factory: the server calls it per request; only a run starts the local model server.
            assert inspect.iscoroutinefunction(value)
            value = module.build_local_auction() if graph_id == "local_auction" else module.build_pool_auction()
        assert value.checkpointer is None and value.store is None  # the server brings its own
        assert {"open_auction", "bid", "judge", "score", "recall", "record_outcome"} <= set(value.get_graph().nodes)


def test_langgraph_json_store_index_embedder_loads() -> None:
    index = json.loads((ROOT / "langgraph.json").read_text(encoding="utf-8"))["store"]["index"]
    path, attribute = index["embed"].split(":")
    spec = importlib.util.spec_from_file_location("studio_embed_check", ROOT / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    embedder = getattr(module, attribute)
    assert len(embedder.embed_query("sort a list")) == index["dims"]
    assert index["fields"] == ["task"]


def test_studio_auction_runs() -> None:
    from langgraph.store.memory import InMemoryStore

    from langgraph_sale import studio

    store = InMemoryStore()  # the server's store, in tests
    state = studio.auction.copy(update={"store": store}).invoke({"auction_task": "Sort a list of integers."})
    assert state["auction_outcome"]["status"] == "executed"
    decided = studio.decide_auction.copy(update={"store": store}).invoke(
        {"auction_task": "Sort a list of integers."})
    assert decided["auction_outcome"]["status"] == "decided"
    assert decided["auction_winner"] in {"tiny", "small", "large"}
    remembered = store.search(("langgraph_sale", "auctions", "shared"))
    assert {item.key for item in remembered} == {state["auction_outcome"]["auction_id"],
                                                 decided["auction_outcome"]["auction_id"]}
