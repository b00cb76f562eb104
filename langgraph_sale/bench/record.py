"""The caches of a bench run folder and of a committed run record (`docs/results/runs/<record>/`), read one way.

A bench run keeps four shared caches (`runner.SHARED_CACHES`: calls, executions, pyruns, verdicts), each a JSON
Lines file of `{"key": ..., ...}` objects, one a line. They are stored in one of three layouts:

- a bench run folder: `<name>.jsonl`, plain, appended to as the run goes;
- a record: `<name>/0000.jsonl.gz`, `<name>/0001.jsonl.gz`, ... a folder of append-only shards, each gzipped
  without a time stamp (mtime 0) and sorted by key. `benchmarks/pack_runs.py` adds one shard a packing, holding
  only the entries whose keys no earlier shard holds, and never rewrites a shard: a repacked record grows in git
  by the calls that were added (git cannot delta a rewritten gzip, so one file rewritten whole would add all of
  it again to the history each time);
- an older record: one `<name>.jsonl.gz` (sorted, mtime 0), as packed before shards; it became the record's shard
  0000 unchanged, and packing into a folder still holding one moves it there first (same bytes).

A cache is read in that order: the plain file alone when a run folder has it, else the old single file, then the
shards by number. As in `meter.read_jsonl`, the last line of a key wins, and a line cut short is skipped.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path
from typing import Any

from langgraph_sale.bench.meter import jsonl_entries, read_jsonl

__all__ = ["cache_files", "shard_paths", "read_cache", "seed_cache", "append_cache"]

_SHARD = re.compile(r"\d+\.jsonl\.gz")


def shard_paths(folder: Path, name: str) -> list[Path]:
    """The shards of a record's cache, `<folder>/<name>/NNNN.jsonl.gz`, by number; empty when it has none."""
    shards = Path(folder) / name
    if not shards.is_dir():
        return []
    return sorted((path for path in shards.iterdir() if path.is_file() and _SHARD.fullmatch(path.name)), key=_number)


def cache_files(folder: Path, name: str) -> list[Path]:
    """The files holding a cache, in reading order: a run folder's plain `<name>.jsonl` alone, else a record's old
    single `<name>.jsonl.gz` and its shards; empty when the folder holds none of them."""
    folder = Path(folder)
    plain = folder / f"{name}.jsonl"
    if plain.is_file():
        return [plain]
    single = folder / f"{name}.jsonl.gz"
    return ([single] if single.is_file() else []) + shard_paths(folder, name)


def read_cache(folder: Path, name: str) -> dict[str, dict[str, Any]]:
    """A cache's entries by key, over every file holding it (the last line of a key wins); empty when it has none."""
    entries: dict[str, dict[str, Any]] = {}
    for path in cache_files(folder, name):
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                entries.update(jsonl_entries(handle))
        else:
            entries.update(read_jsonl(path))
    return entries


def seed_cache(folder: Path, name: str, target: Path) -> bool:
    """Write a cache's lines, every file of it in reading order, as the plain JSON Lines `target` (a new run's
    `<name>.jsonl`, for `--reuse`); False, writing nothing, when the folder holds no such cache."""
    sources = cache_files(folder, name)
    if not sources:
        return False
    with target.open("wb") as sink:
        for source in sources:
            with (gzip.open(source, "rb") if source.suffix == ".gz" else source.open("rb")) as reader:
                last = _copy(reader, sink)
            if last not in (b"", b"\n"):
                sink.write(b"\n")  # a line cut short stays one line (skipped on load), not glued to the next
    return True


def append_cache(record: Path, name: str, entries: dict[str, dict[str, Any]]) -> tuple[Path | None, int]:
    """Add to a record's cache the entries whose keys it lacks, as one new shard (sorted by key, no time stamp);
    returns the shard (None when nothing was new, and no shard is written) and the keys the cache holds now.
    Earlier shards are never rewritten. A record in the old layout (one `<name>.jsonl.gz`) first has that file
    moved, unchanged, to shard 0000."""
    record = Path(record)
    single, shards = record / f"{name}.jsonl.gz", shard_paths(record, name)
    if single.is_file():
        if shards:
            raise ValueError(f"{record} holds both {single.name} and {name}/ shards: merge them by hand")
        (record / name).mkdir(parents=True, exist_ok=True)
        shards = [single.rename(record / name / "0000.jsonl.gz")]
    known = read_cache(record, name)
    new = {key: entry for key, entry in entries.items() if key not in known}
    if not new:
        return None, len(known)
    shard = record / name / f"{_number(shards[-1]) + 1 if shards else 0:04d}.jsonl.gz"
    shard.parent.mkdir(parents=True, exist_ok=True)
    partial = shard.with_name(f".{shard.name}.partial")  # renamed once whole: a cut-short pack leaves no shard
    with partial.open("wb") as handle, gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0) as raw, \
            io.TextIOWrapper(raw, encoding="utf-8") as sink:
        for key in sorted(new):
            sink.write(json.dumps(new[key], ensure_ascii=False) + "\n")
    partial.replace(shard)
    return shard, len(known) + len(new)


def _number(shard: Path) -> int:
    return int(shard.name.split(".", 1)[0])


def _copy(reader: Any, sink: Any) -> bytes:
    """Copy a binary stream; returns its last byte (b"" when empty)."""
    last = b""
    while chunk := reader.read(1 << 20):
        sink.write(chunk)
        last = chunk[-1:]
    return last
