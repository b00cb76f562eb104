"""Pack bench run folders into one committed record: the calls they add to its caches, plus each run's sittings.

    python benchmarks/pack_runs.py docs/results/runs/coding-local bench-results/coding-local \\
        bench-results/coding32-test-default bench-results/coding32-test-fitted

The record is a `--reuse` seed: `langgraph-sale bench ... --reuse docs/results/runs/coding-local` replays every
model call, execution, sandbox run and verdict the packed runs made, so the tables of docs/RESULTS.md come back in
seconds without a model server, and a longer run (more tasks, more orders, other weights) pays only for new calls.
Each run's `meta.json` (its commands, sessions and wall times) is kept beside the caches, under the run folder's
name. A run grown in a new folder seeded from the record (`--reuse`) has only its own sessions, so the sessions the
record already lists under that name are kept ahead of them: repacking never drops a sitting. The reports are not
copied: a run listed in `docs/results/published.json` gets its `results.md` and `summary.json` from
`langgraph-sale report`, which replays it from the record (so what is published is what the record gives).

Each cache of the record is a folder of append-only shards, `calls/0000.jsonl.gz`, `calls/0001.jsonl.gz`, ... (the
layout is described in `langgraph_sale/bench/record.py`, which reads it). A packing adds one shard a cache holding
the entries whose keys the record lacks (gzipped, sorted by key, no time stamp) and rewrites no shard, so the record
grows in git by about what was added; packing the same runs again writes nothing. Entries the record holds are
kept, whether or not the runs packed now have them, and win over the runs' (at temperature 0 they agree). A record
in the older layout (one `calls.jsonl.gz` a cache) has that file moved, unchanged, to shard 0000 first.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from langgraph_sale.bench.record import append_cache, read_cache
from langgraph_sale.bench.runner import SHARED_CACHES


def pack(target: Path, runs: list[Path]) -> dict[str, tuple[int, Path | None]]:
    """Add the runs' cache entries the record lacks to `target/<cache>/`, one new shard a cache (the first run's line
    of a key wins: at temperature 0 the runs agree), and keep each run's sittings; returns, per cache, the entries the
    record holds now and the shard written (None when nothing was new)."""
    target.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in SHARED_CACHES:
        merged: dict[str, dict] = {}
        for run in runs:
            for key, entry in read_cache(run, name).items():
                merged.setdefault(key, entry)
        shard, held = append_cache(target, name, merged)
        counts[name] = (held, shard)
    for run in runs:
        (target / run.name).mkdir(exist_ok=True)
        if (run / "meta.json").is_file():
            _pack_meta(run / "meta.json", target / run.name / "meta.json")
    return counts


def _pack_meta(source: Path, packed: Path) -> None:
    """Write the run's meta.json over the packed one, keeping the packed sessions the run does not list (a session
    is known by its start time) ahead of the run's own."""
    meta = json.loads(source.read_text(encoding="utf-8"))
    if packed.is_file():
        earlier = json.loads(packed.read_text(encoding="utf-8")).get("sessions", [])
        own = {session["started"] for session in meta.get("sessions", [])}
        meta["sessions"] = [s for s in earlier if s["started"] not in own] + meta.get("sessions", [])
    packed.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path, help="the record's folder (e.g. docs/results/runs/coding-local)")
    parser.add_argument("runs", type=Path, nargs="+", help="bench run folders to merge")
    args = parser.parse_args()
    missing = [str(run) for run in args.runs if not (run / "calls.jsonl").is_file()]
    if missing:
        parser.error(f"not bench run folders (no calls.jsonl): {', '.join(missing)}")
    counts = pack(args.target, args.runs)
    print(f"packed {len(args.runs)} run(s) into {args.target}: "
          + ", ".join(f"{count} {name}" + (f" (new shard {shard.relative_to(args.target)})" if shard else "")
                      for name, (count, shard) in counts.items()))


if __name__ == "__main__":
    main()
