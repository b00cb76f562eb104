"""Pack bench run folders into one committed record: their caches merged and gzipped, plus each run's report.

    python benchmarks/pack_runs.py docs/results/runs/coding-local bench-results/coding-local \\
        bench-results/coding32-test-default bench-results/coding32-test-fitted

The record is a `--reuse` seed: `langgraph-sale bench ... --reuse docs/results/runs/coding-local` replays every
model call, execution, sandbox run and verdict the packed runs made, so the tables of docs/RESULTS.md come back in
seconds without a model server, and a longer run (more tasks, more orders, other weights) pays only for new calls.
Each run's `results.md` and `meta.json` (its commands, sessions and wall times) are kept beside the caches, under
the run folder's name. A run grown in a new folder seeded from the record (`--reuse`) has only its own sessions, so
the sessions the record already lists under that name are kept ahead of them: repacking never drops a sitting.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import shutil
from pathlib import Path

from langgraph_sale.bench.meter import read_jsonl
from langgraph_sale.bench.runner import SHARED_CACHES


def pack(target: Path, runs: list[Path]) -> dict[str, int]:
    """Merge the runs' caches into `target/<cache>.jsonl.gz` (one line a key, the first run's line wins: at
    temperature 0 the runs agree) and copy each run's report; returns the entries per cache."""
    target.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in SHARED_CACHES:
        merged: dict[str, dict] = {}
        for run in runs:
            for key, entry in read_jsonl(run / f"{name}.jsonl").items():
                merged.setdefault(key, entry)
        counts[name] = len(merged)
        # Sorted, with no time stamp in the gzip header: packing the same calls again gives the same bytes, so a
        # repacked record changes in git only where calls were added.
        with gzip.GzipFile(target / f"{name}.jsonl.gz", "wb", mtime=0) as raw, \
                io.TextIOWrapper(raw, encoding="utf-8") as sink:
            for key in sorted(merged):
                sink.write(json.dumps(merged[key], ensure_ascii=False) + "\n")
    for run in runs:
        (target / run.name).mkdir(exist_ok=True)
        if (run / "results.md").is_file():
            shutil.copyfile(run / "results.md", target / run.name / "results.md")
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
          + ", ".join(f"{count} {name}" for name, count in counts.items()))


if __name__ == "__main__":
    main()
