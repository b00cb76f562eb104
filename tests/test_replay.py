"""The committed record replays, offline and with no pool, to the published reports and tables, to the character.

Every figure of docs/RESULTS.md and README.md is made by `langgraph-sale report` (`langgraph_sale.bench.publish`):
each published run replays from its record into `results.md` and `summary.json`, and the docs' tables are
rendered from the summaries. Here a slice of the runs that holds every method, the paper's default weights and the
fitted ones, on both domains, is replayed with no model server and no installed pool, and must give the committed
files exactly; the docs' tables must be what the committed summaries give; and a record with one verdict changed
must fail the check. A change that moves a published number must therefore regenerate the reports
(`langgraph-sale report`) in the same commit.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from langgraph_sale.bench.publish import ReportDiffers, load_spec, publish, replay
from langgraph_sale.bench.runner import BenchConfig, run_bench

REPO = Path(__file__).resolve().parents[1]
SLICE = ("coding80-test-default", "coding80-test-fitted", "search200-test-fitted", "holdout-coding-default",
         "holdout-coding-fitted", "holdout-coding-value", "search-long-pilot")
"""Every method (coding80-test-fitted runs them all), default and fitted weights, coding and search, every
configuration of the held-out verdict, and the long-horizon search pilot."""


@pytest.fixture
def no_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No local pool here: its home is an empty folder, so a replay that reached for a server would fail."""
    from langgraph_sale.local import pool_installed

    monkeypatch.setenv("LANGGRAPH_SALE_HOME", str(tmp_path / "no-pool"))
    assert not pool_installed()


def test_the_slice_holds_every_method_and_both_kinds_of_weights() -> None:
    runs = load_spec(root=REPO)
    args = {name: " ".join(runs[name].args) for name in SLICE}
    assert "--methods all" in args["coding80-test-fitted"] and "--weights" in args["coding80-test-fitted"]
    assert "--weights" not in args["coding80-test-default"]
    assert {"--domains coding", "--domains search"} <= {f"--domains {a.split('--domains ')[1].split()[0]}"
                                                         for a in args.values()}


@pytest.mark.parametrize("name", SLICE)
@pytest.mark.usefixtures("no_pool")
def test_a_published_run_replays_offline_to_its_committed_report(name: str) -> None:
    # Raises ReportDiffers, with the first differing lines, at any character that differs.
    publish(root=REPO, names=[name], check=True, docs=False, say=lambda _: None)


def test_the_docs_tables_are_what_the_committed_summaries_give() -> None:
    publish(root=REPO, check=True, replays=False, say=lambda _: None)


@pytest.mark.usefixtures("no_pool")
def test_one_verdict_changed_in_the_record_fails_the_check(tmp_path: Path) -> None:
    name = "coding80-test-fitted-noplan"
    run = load_spec(root=REPO)[name]
    assert run.record is not None
    scratch = tmp_path / "repo"
    for part in ("docs/results/published.json", "langgraph_sale/weights", str(run.record)):
        copy = shutil.copytree if (REPO / part).is_dir() else shutil.copyfile
        (scratch / part).parent.mkdir(parents=True, exist_ok=True)
        copy(REPO / part, scratch / part)
    publish(root=scratch, names=[name], check=True, docs=False, say=lambda _: None)  # the copy is faithful

    # The 1.5B's own answer to one task, as the judge keyed its verdict: flip it in a new shard (a later shard
    # wins, as when a record is repacked with new entries).
    rows = [json.loads(line) for line in (replay(run, tmp_path / "first", root=scratch) / "rows.jsonl").open()]
    row = next(r for r in rows
               if r["method"] == "alone_qwen_coder_1_5b" and r["order"] == 0 and len(r["answer"]) < 2000)
    key = hashlib.sha256(f"{row['task_id']}\x00{row['answer']}".encode()).hexdigest()
    with gzip.open(scratch / run.record / "verdicts" / "9999.jsonl.gz", "wt", encoding="utf-8") as shard:
        shard.write(json.dumps({"key": key, "task": row["task_id"], "passed": not row["passed"],
                                "f1": float(not row["passed"])}) + "\n")
    with pytest.raises(ReportDiffers, match="results.md differs"):
        publish(root=scratch, names=[name], check=True, docs=False, say=lambda _: None)


def test_an_offline_run_stops_at_the_first_call_the_record_lacks_and_names_it(tmp_path: Path) -> None:
    said: list[str] = []
    result = run_bench(BenchConfig(out=tmp_path / "run", domains=("coding",), methods=("alone",), orders=1,
                                   offline=True, progress=False), echo=said.append)
    assert result.status == "failed" and result.fresh_calls == 0
    message = " ".join(said)
    assert "offline replay: the record holds no execute call of small on coding task" in message
    assert "(method alone_small, order 0)" in message


@pytest.mark.usefixtures("no_pool")
def test_a_run_seeded_from_a_record_checks_the_pool_only_when_a_call_needs_it(tmp_path: Path) -> None:
    from langgraph_sale.bench.data import load_suite
    from langgraph_sale.bench.pools import make_pool
    from langgraph_sale.errors import AuctionConfigError

    suite = load_suite("smoke", domains=("coding",))
    with pytest.raises(AuctionConfigError, match="not installed"):
        make_pool("local", suite)  # a live run is told at once
    pool = make_pool("local", suite, lazy=True)  # a replay is not: nothing is started
    assert [m.name for m in pool.members] == ["smollm2_135m", "qwen_coder_0_5b", "qwen_coder_1_5b"]
    assert pool.connect is not None
    with pytest.raises(AuctionConfigError, match="not installed"):
        pool.connect("qwen_coder_0_5b")  # until a call needs the server
    offline = make_pool("local", suite, offline=True)
    assert offline.fingerprint == pool.fingerprint


@pytest.mark.real("shared-data")
@pytest.mark.parametrize("suite", ["bench", "holdout"])
def test_the_bundled_data_is_the_shared_data(suite: str) -> None:
    from langgraph_sale.bench.data import bundled_root, load_suite, shared_root

    shared, bundled = shared_root(), bundled_root(suite)
    assert shared is not None and bundled is not None
    ours, theirs = load_suite(suite, root=bundled), load_suite(suite, root=shared)
    assert ours.tasks == theirs.tasks and ours.corpora == theirs.corpora
    assert len(ours.tasks["coding"]) == {"bench": 80, "holdout": 150}[suite]


@pytest.mark.real("shared-data")
def test_the_holdout_suite_loads_its_own_questions_and_corpora_apart_from_the_bench() -> None:
    from langgraph_sale.bench.data import load_suite, shared_root

    shared = shared_root()
    assert shared is not None
    holdout = load_suite("holdout", root=shared, domains=("search",))
    bench = load_suite("bench", root=shared, domains=("search",))
    questions = holdout.tasks["search"]
    assert len(questions) == 500 and {q.source for q in questions} == {"hotpotqa", "musique"}
    assert not {q.id for q in questions} & {q.id for q in bench.tasks["search"]}
    assert not {q.text for q in questions} & {q.text for q in bench.tasks["search"]}
    # Its own corpora (the holdout's paragraphs), in which every gold passage of its questions is found.
    assert {name: len(docs) for name, docs in holdout.corpora.items()} == {"hotpotqa": 1988, "musique": 4393}
    titles = {name: {doc["title"] for doc in docs} for name, docs in holdout.corpora.items()}
    assert all(set(q.gold_titles) <= titles[q.corpus] for q in questions)
