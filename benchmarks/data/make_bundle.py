"""Rebuild the bundled data roots in this folder from the shared data (`../shared/data` or `--source DIR`).

Two roots, each in the upstream file formats and folder names, holding only the records their manifest names, from
sources whose licences allow redistribution (see README.md here):

- `smoke/`: the `smoke` manifest's 6 coding tasks and 6 questions; as each search corpus, the paragraphs of those
  questions' own contexts (HotpotQA's distractor setting: gold paragraphs plus the distractors shipped with the
  question), instead of the full pooled corpus of the shared copy.
- `bench/`: the `bench` manifest's 80 coding tasks and 200 questions, with the shared copy's pooled corpora copied
  whole (BM25 ranks a passage against every other one, so a smaller corpus would change what a search finds). With
  it a clone that does not sit beside `../shared` replays the committed run records (docs/results/runs/).
- `holdout/`: the held-out split (`holdout` manifest: 150 coding tasks, 300 MuSiQue and 200 HotpotQA dev questions
  with their pooled corpora, copied whole with their provenance files), so the held-out verdict replays from the
  record too. Nothing may be chosen on it (docs/RESULTS.md says how the holdout is used).

HumanEval (MIT), sanitized MBPP (CC BY 4.0), ClassEval (MIT), HotpotQA (CC BY-SA 4.0), MuSiQue (CC BY 4.0). Nothing
marked "internal use only" (RouterBench/RouterDC, PropertyEval) is copied; the manifests' router-replay entries,
which point there, are dropped.

    .venv/bin/python benchmarks/data/make_bundle.py [--source ../shared/data]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DESCRIPTIONS = {
    "smoke": "Bundled copy of the shared smoke manifest (6 coding tasks, 6 deep-search questions); router replay "
             "dropped (internal-use data).",
    "bench": "Bundled copy of the shared bench manifest (80 coding tasks, 200 deep-search questions over the pooled "
             "corpora); router replay dropped (internal-use data).",
    "holdout": "Bundled copy of the shared HELD-OUT manifest (150 coding tasks, 500 deep-search questions over their "
               "pooled corpora), disjoint from bench and smoke. Nothing may be chosen on it (configurations, weights, "
               "thresholds, prompts): choose on bench's train and dev halves, then run this once per reported "
               "configuration.",
}


def _dump(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _coding(source: Path, target: Path, manifest: dict[str, Any]) -> dict[str, int]:
    wanted = {(e["source"], str(e["task_id"])) for e in manifest["coding"]}
    with gzip.open(source / "humaneval" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as handle:
        humaneval = [json.loads(line) for line in handle if line.strip()]
    lines = [json.dumps(r) for r in humaneval if ("humaneval", r["task_id"]) in wanted]
    (target / "humaneval").mkdir(parents=True, exist_ok=True)
    (target / "humaneval" / "HumanEval.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    mbpp = [r for r in _load(source / "mbpp" / "sanitized-mbpp.json")
            if ("mbpp_sanitized", str(r["task_id"])) in wanted]
    _dump(target / "mbpp" / "sanitized-mbpp.json", mbpp)
    classeval = [r for r in _load(source / "classeval" / "ClassEval_data.json")
                 if ("classeval", r["task_id"]) in wanted]
    _dump(target / "classeval" / "ClassEval_data.json", classeval)
    return {"HumanEval": len(lines), "MBPP": len(mbpp), "ClassEval": len(classeval)}


def _search(source: Path, target: Path, manifest: dict[str, Any], pooled: bool) -> dict[str, int]:
    qids = {e["qid"] for e in manifest["deep_search"]}
    hotpot = [r for r in _load(source / "hotpotqa_hipporag" / "hotpotqa_train.json") if r["_id"] in qids]
    _dump(target / "hotpotqa_hipporag" / "hotpotqa_train.json", hotpot)
    musique = [r for r in _load(source / "musique_hipporag" / "musique_train.json") if r["id"] in qids]
    _dump(target / "musique_hipporag" / "musique_train.json", musique)
    if pooled:
        for folder, name in (("hotpotqa_hipporag", "hotpotqa_train_corpus.json"),
                             ("musique_hipporag", "musique_train_corpus.json")):
            shutil.copyfile(source / folder / name, target / folder / name)
        return {"HotpotQA": len(hotpot), "MuSiQue": len(musique)}
    _dump(target / "hotpotqa_hipporag" / "hotpotqa_train_corpus.json",
          {title: sentences for r in hotpot for title, sentences in r["context"]})
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for record in musique:
        for paragraph in record["paragraphs"]:
            seen.setdefault((paragraph["title"], paragraph["paragraph_text"]),
                            {"title": paragraph["title"], "text": paragraph["paragraph_text"]})
    _dump(target / "musique_hipporag" / "musique_train_corpus.json", list(seen.values()))
    return {"HotpotQA": len(hotpot), "MuSiQue": len(musique)}


def _named_files(source: Path, target: Path, manifest: dict[str, Any]) -> dict[str, int]:
    """The search sets a manifest names in `files` (the holdout's), copied whole with their folders' provenance."""
    folders = sorted({Path(path).parent for path in manifest["files"].values()})
    for folder in folders:
        for path in (source / folder).iterdir():
            if path.is_file():
                (target / folder).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target / folder / path.name)
    return {name: len(_load(source / manifest["files"][key]))
            for key, name in (("hotpotqa", "HotpotQA"), ("musique", "MuSiQue"))}


def build(source: Path, suite: str) -> str:
    """Write the bundled root of `suite` ("smoke", "bench" or "holdout") from `source`; returns what it holds, in
    words."""
    target = HERE / suite
    manifest = _load(source / "manifests" / f"{suite}.json")
    manifest.pop("router_replay", None)
    manifest["description"] = DESCRIPTIONS[suite]
    _dump(target / "manifests" / f"{suite}.json", manifest)
    search = (_named_files(source, target, manifest) if manifest.get("files")
              else _search(source, target, manifest, pooled=suite == "bench"))
    counts = {**_coding(source, target, manifest), **search}
    return f"{suite}: " + ", ".join(f"{count} {name}" for name, count in counts.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(HERE.parents[2] / "shared" / "data"))
    parser.add_argument("--suite", choices=sorted(DESCRIPTIONS), action="append",
                        help="which root to rebuild (default all)")
    args = parser.parse_args()
    for suite in args.suite or sorted(DESCRIPTIONS, reverse=True):
        print(f"{build(Path(args.source), suite)} written to {HERE / suite}")


if __name__ == "__main__":
    main()
