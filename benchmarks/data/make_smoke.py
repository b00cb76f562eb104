"""Rebuild the bundled smoke subset in this folder from the shared data (`../shared/data` or `--source DIR`).

Copies, in the upstream file formats and folder names, only the records the `smoke` manifest names, from sources
whose licences allow redistribution (see README.md here):

- HumanEval (MIT), sanitized MBPP (CC BY 4.0), ClassEval (MIT): the 6 coding tasks;
- HotpotQA (CC BY-SA 4.0) and MuSiQue (CC BY 4.0) questions: the 6 questions, and as each corpus the paragraphs
  of those questions' own contexts (HotpotQA's distractor setting: gold paragraphs plus the distractors shipped
  with the question), instead of the full pooled corpus of the shared copy.

Nothing marked "internal use only" (RouterBench/RouterDC, PropertyEval) is copied; the manifest's router-replay
entry, which points there, is dropped.

    .venv/bin/python benchmarks/data/make_smoke.py [--source ../shared/data]
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _dump(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(HERE.parents[2] / "shared" / "data"))
    source = Path(parser.parse_args().source)
    manifest = json.loads((source / "manifests" / "smoke.json").read_text(encoding="utf-8"))
    manifest.pop("router_replay", None)
    manifest["description"] = ("Bundled copy of the shared smoke manifest (6 coding tasks, 6 deep-search questions); "
                               "router replay dropped (internal-use data).")
    _dump(HERE / "manifests" / "smoke.json", manifest)

    wanted = {(e["source"], str(e["task_id"])) for e in manifest["coding"]}
    with gzip.open(source / "humaneval" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as handle:
        humaneval = [json.loads(line) for line in handle if line.strip()]
    lines = [json.dumps(r) for r in humaneval if ("humaneval", r["task_id"]) in wanted]
    (HERE / "humaneval").mkdir(exist_ok=True)
    (HERE / "humaneval" / "HumanEval.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    mbpp = json.loads((source / "mbpp" / "sanitized-mbpp.json").read_text(encoding="utf-8"))
    _dump(HERE / "mbpp" / "sanitized-mbpp.json", [r for r in mbpp if ("mbpp_sanitized", str(r["task_id"])) in wanted])
    classeval = json.loads((source / "classeval" / "ClassEval_data.json").read_text(encoding="utf-8"))
    _dump(HERE / "classeval" / "ClassEval_data.json", [r for r in classeval if ("classeval", r["task_id"]) in wanted])

    qids = {e["qid"] for e in manifest["deep_search"]}
    hotpot = json.loads((source / "hotpotqa_hipporag" / "hotpotqa_train.json").read_text(encoding="utf-8"))
    hotpot = [r for r in hotpot if r["_id"] in qids]
    _dump(HERE / "hotpotqa_hipporag" / "hotpotqa_train.json", hotpot)
    _dump(HERE / "hotpotqa_hipporag" / "hotpotqa_train_corpus.json",
          {title: sentences for r in hotpot for title, sentences in r["context"]})
    musique = json.loads((source / "musique_hipporag" / "musique_train.json").read_text(encoding="utf-8"))
    musique = [r for r in musique if r["id"] in qids]
    _dump(HERE / "musique_hipporag" / "musique_train.json", musique)
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for record in musique:
        for paragraph in record["paragraphs"]:
            seen.setdefault((paragraph["title"], paragraph["paragraph_text"]),
                            {"title": paragraph["title"], "text": paragraph["paragraph_text"]})
    _dump(HERE / "musique_hipporag" / "musique_train_corpus.json", list(seen.values()))
    print(f"smoke subset written to {HERE}: {len(lines)} HumanEval, "
          f"{sum(1 for s, _ in wanted if s == 'mbpp_sanitized')} MBPP, {sum(1 for s, _ in wanted if s == 'classeval')} "
          f"ClassEval, {len(hotpot)} HotpotQA, {len(musique)} MuSiQue questions")


if __name__ == "__main__":
    main()
