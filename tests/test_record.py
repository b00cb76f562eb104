"""The committed run records (`langgraph_sale.bench.record`, `benchmarks/pack_runs.py`): caches stored as append-only
gzipped shards, so a repack adds to git about what it adds; the old single-file layout still reads; `--reuse` from a
sharded record replays every shard."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from langgraph_sale.bench.meter import read_jsonl
from langgraph_sale.bench.record import cache_files, read_cache, seed_cache, shard_paths
from langgraph_sale.bench.runner import SHARED_CACHES, BenchConfig, _seed_caches, run_bench
from langgraph_sale.errors import AuctionConfigError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pack_runs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pack_runs", ROOT / "benchmarks" / "pack_runs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _entry(key: str, text: str = "") -> dict[str, Any]:
    return {"key": key, "output": text or f"output of {key}", "tokens": len(key)}


def _run_folder(folder: Path, **caches: list[dict[str, Any]]) -> Path:
    """A bench run folder: plain `<name>.jsonl` caches (appended, unsorted) and a meta.json."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, entries in caches.items():
        with (folder / f"{name}.jsonl").open("a", encoding="utf-8") as sink:
            sink.writelines(json.dumps(entry) + "\n" for entry in entries)
    (folder / "meta.json").write_text(json.dumps({"sessions": [{"started": "day 1"}]}), encoding="utf-8")
    return folder


def _gz_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).decode().splitlines()]


def _old_gzip(path: Path, entries: list[dict[str, Any]]) -> None:
    """A cache as pack_runs wrote it before shards: one sorted `<name>.jsonl.gz`, mtime 0."""
    with gzip.GzipFile(path, "wb", mtime=0) as raw, io.TextIOWrapper(raw, encoding="utf-8") as sink:
        for entry in sorted(entries, key=lambda e: e["key"]):
            sink.write(json.dumps(entry) + "\n")


def _snapshot(record: Path) -> dict[Path, bytes]:
    return {path.relative_to(record): path.read_bytes() for path in sorted(record.rglob("*.gz"))}


def test_pack_adds_one_shard_of_the_new_keys_and_never_rewrites_one(tmp_path: Path, pack_runs: ModuleType) -> None:
    record = tmp_path / "record"
    run = _run_folder(tmp_path / "run", calls=[_entry("c"), _entry("a"), _entry("b")], executions=[_entry("x")])
    counts = pack_runs.pack(record, [run])
    assert counts["calls"] == (3, record / "calls" / "0000.jsonl.gz")
    assert counts["pyruns"] == (0, None) and not (record / "pyruns").exists()
    assert [e["key"] for e in _gz_lines(record / "calls" / "0000.jsonl.gz")] == ["a", "b", "c"]  # sorted
    assert (record / "calls" / "0000.jsonl.gz").read_bytes()[4:8] == bytes(4)  # no time stamp in the gzip header
    assert (record / "run" / "meta.json").is_file()
    first = _snapshot(record)

    # Packing the same runs again is a no-op: no shard, the same bytes.
    assert pack_runs.pack(record, [run])["calls"] == (3, None)
    assert _snapshot(record) == first

    # New calls (and a repeated key whose line differs: the record's line stays) make exactly one new shard.
    _run_folder(run, calls=[_entry("d"), _entry("a", "other output"), _entry("e")])
    counts = pack_runs.pack(record, [run])
    assert counts["calls"] == (5, record / "calls" / "0001.jsonl.gz")
    assert counts["executions"] == (1, None)
    assert [e["key"] for e in _gz_lines(record / "calls" / "0001.jsonl.gz")] == ["d", "e"]
    grown = _snapshot(record)
    assert set(grown) - set(first) == {Path("calls/0001.jsonl.gz")}
    assert all(grown[path] == content for path, content in first.items())  # old shards untouched
    assert read_cache(record, "calls")["a"] == _entry("a")

    # A run folder that lacks what the record holds drops nothing from it, and adds only its new keys.
    other = _run_folder(tmp_path / "other", calls=[_entry("e"), _entry("f")])
    assert pack_runs.pack(record, [other])["calls"] == (6, record / "calls" / "0002.jsonl.gz")
    assert [e["key"] for e in _gz_lines(record / "calls" / "0002.jsonl.gz")] == ["f"]
    assert sorted(read_cache(record, "calls")) == ["a", "b", "c", "d", "e", "f"]


def test_shards_read_in_number_order_the_last_line_of_a_key_winning(tmp_path: Path) -> None:
    record = tmp_path / "record"
    (record / "calls").mkdir(parents=True)
    for number, entries in ((10, [_entry("k", "tenth")]), (9, [_entry("k", "ninth"), _entry("j")])):
        _old_gzip(record / "calls" / f"{number}.jsonl.gz", entries)
    (record / "calls" / ".0011.jsonl.gz.partial").write_bytes(b"cut short")  # not a shard: ignored
    (record / "calls" / "notes.txt").write_text("not a shard", encoding="utf-8")
    assert [path.name for path in shard_paths(record, "calls")] == ["9.jsonl.gz", "10.jsonl.gz"]
    assert read_cache(record, "calls") == {"j": _entry("j"), "k": _entry("k", "tenth")}
    assert cache_files(record, "verdicts") == [] and read_cache(record, "verdicts") == {}
    assert not seed_cache(record, "verdicts", tmp_path / "verdicts.jsonl")
    assert not (tmp_path / "verdicts.jsonl").exists()
    # A run folder's plain file is its cache, read alone.
    run = _run_folder(record, calls=[_entry("plain")])
    assert cache_files(run, "calls") == [run / "calls.jsonl"] and list(read_cache(run, "calls")) == ["plain"]


def test_old_single_file_record_still_reads_and_moves_unchanged_to_shard_0000(tmp_path: Path,
                                                                             pack_runs: ModuleType) -> None:
    record = tmp_path / "record"
    record.mkdir()
    old = [_entry("b"), _entry("a")]
    _old_gzip(record / "calls.jsonl.gz", old)
    _old_gzip(record / "executions.jsonl.gz", [_entry("x")])
    old_bytes = (record / "calls.jsonl.gz").read_bytes()
    assert read_cache(record, "calls") == {"a": _entry("a"), "b": _entry("b")}
    assert seed_cache(record, "calls", tmp_path / "calls.jsonl")
    assert read_jsonl(tmp_path / "calls.jsonl") == read_cache(record, "calls")

    run = _run_folder(tmp_path / "run", calls=[*old, _entry("c")], executions=[_entry("x")])
    counts = pack_runs.pack(record, [run])
    assert counts["calls"] == (3, record / "calls" / "0001.jsonl.gz") and counts["executions"] == (1, None)
    assert not (record / "calls.jsonl.gz").exists() and not (record / "executions.jsonl.gz").exists()
    assert (record / "calls" / "0000.jsonl.gz").read_bytes() == old_bytes  # a move: git keeps the same blob
    assert [e["key"] for e in _gz_lines(record / "calls" / "0001.jsonl.gz")] == ["c"]
    assert (record / "executions" / "0000.jsonl.gz").is_file()


def test_reuse_from_a_sharded_record_seeds_every_entry_of_every_shard(tmp_path: Path, pack_runs: ModuleType) -> None:
    record = tmp_path / "record"
    pack_runs.pack(record, [_run_folder(tmp_path / "one", calls=[_entry("a", "first"), _entry("b")],
                                        verdicts=[_entry("v")])])
    pack_runs.pack(record, [_run_folder(tmp_path / "two", calls=[_entry("c")], pyruns=[_entry("p")])])
    # A shard by hand, repeating a key (its line wins) and not ending its last line.
    (record / "calls" / "0002.jsonl.gz").write_bytes(gzip.compress(json.dumps(_entry("a", "last")).encode(), mtime=0))
    assert len(shard_paths(record, "calls")) == 3
    out = tmp_path / "seeded"
    out.mkdir()
    _seed_caches(out, record)
    for name in SHARED_CACHES:
        assert read_jsonl(out / f"{name}.jsonl") == read_cache(record, name), name
    assert read_jsonl(out / "calls.jsonl")["a"] == _entry("a", "last")
    assert (out / "calls.jsonl").read_bytes().count(b"\n") == 4  # every line of every shard, each ended
    with pytest.raises(AuctionConfigError) as raised:
        _seed_caches(tmp_path / "bad", tmp_path / "nowhere")
    assert raised.value.field == "--reuse"


def test_a_record_grown_over_two_packings_replays_every_call(tmp_path: Path, pack_runs: ModuleType) -> None:
    def run(out: Path, methods: tuple[str, ...], reuse: Path | None = None) -> tuple[int, dict[str, bool]]:
        config = BenchConfig(out=out, domains=("coding",), methods=methods, orders=1, progress=False, reuse=reuse)
        done = run_bench(config, echo=lambda text: None)
        assert done.status == "complete"
        return done.fresh_calls, {row["key"]: row["passed"] for row in map(json.loads, (out / "rows.jsonl").open())}

    record = tmp_path / "record"
    assert run(tmp_path / "first", ("alone_small",))[0] > 0
    pack_runs.pack(record, [tmp_path / "first"])
    fresh, rows = run(tmp_path / "second", ("alone_small", "sale_nomem"), reuse=record)
    assert fresh > 0  # the record had only alone_small's calls
    assert pack_runs.pack(record, [tmp_path / "second"])["calls"][1] == record / "calls" / "0001.jsonl.gz"
    assert len(_gz_lines(record / "calls" / "0001.jsonl.gz")) == fresh
    assert run(tmp_path / "third", ("alone_small", "sale_nomem"), reuse=record) == (0, rows)
