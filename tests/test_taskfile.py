"""Your own tasks (`langgraph_sale.bench.taskfile`): a JSON Lines file of tasks, each with its judge, run by the
bench like a bundled suite, reported, and fitted on. The example file of the docs is the one used here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from langgraph_sale import AuctionWeights
from langgraph_sale.bench.data import Task
from langgraph_sale.bench.runner import BenchConfig, run_bench
from langgraph_sale.bench.taskfile import call_judge, load_task_file
from langgraph_sale.cli import main as cli_main
from langgraph_sale.errors import AuctionConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "tasks" / "mine.jsonl"


def rows_of(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "rows.jsonl").read_text(encoding="utf-8").splitlines()]


def test_the_example_file_loads_every_kind_of_judge() -> None:
    suite = load_task_file(EXAMPLE)
    coding, search = suite.tasks["coding"], suite.tasks["search"]
    assert {t.id for t in coding} == {"clamp", "run_lengths", "second_largest", "balanced"}
    assert all(t.hidden_suffix and t.visible_suffix and t.canonical for t in coding)
    by_id = {t.id: t for t in search}
    assert by_id["mouth_of_tributary"].answers == ("Black Sea", "the Black Sea")
    assert by_id["river_source"].corpus == "rivers.jsonl" and len(suite.corpora["rivers.jsonl"]) == 5
    assert by_id["name_a_prime"].judge_fn == "judges:prime_between_50_and_60"


@pytest.mark.parametrize(("answer", "expected"), [("53", (True, 1.0)), ("51", (False, 0.0)),
                                                  ("53 or 57", (False, 0.0))])
def test_a_callable_judge_says_pass_or_fail(answer: str, expected: tuple[bool, float]) -> None:
    load_task_file(EXAMPLE)  # finds the judges' module beside the file
    task = next(t for t in load_task_file(EXAMPLE).tasks["search"] if t.id == "name_a_prime")
    assert call_judge(task, answer) == expected


def test_a_callable_judge_may_give_a_partial_score() -> None:
    task = next(t for t in load_task_file(EXAMPLE).tasks["search"] if t.id == "three_colours")
    assert call_judge(task, "red, green") == (False, pytest.approx(2 / 3))
    assert call_judge(task, "Red, green and blue.") == (True, 1.0)
    bad = Task(id="x", domain="search", source="file", bin="all", text="t", judge_fn="os.path:join")  # returns text
    with pytest.raises(AuctionConfigError, match="must return a bool or a number"):
        call_judge(bad, "answer")


def test_the_bench_runs_every_method_on_the_file_and_fit_reads_it(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    config = BenchConfig(tasks=EXAMPLE, out=out, methods=("alone", "random", "oracle", "router_knn", "cascade",
                                                            "sale_nomem"), orders=1, progress=False)
    assert run_bench(config, echo=lambda text: None).status == "complete"
    rows = rows_of(out)
    assert {row["domain"] for row in rows} == {"coding", "search"}
    assert len({row["task_id"] for row in rows}) == 9
    # Each kind of judge passed the answers that are right (the fake pool answers with the file's references);
    # the tests and the gold answer also failed some (the callable's failures are checked above).
    for ids, verdicts in (({"clamp", "run_lengths", "second_largest", "balanced"}, {True, False}),
                          ({"river_source", "longest_river", "mouth_of_tributary"}, {True, False}),
                          ({"name_a_prime", "three_colours"}, {True})):
        assert {row["passed"] for row in rows if row["task_id"] in ids} == verdicts, ids
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["suite"] == "file" and set(summary["summary"]) == {"coding", "search"}
    assert (out / "results.md").read_text(encoding="utf-8").startswith("# Benchmark: suite `file`")
    assert "--tasks" in config.reproduce_command() and "--suite" not in config.reproduce_command()
    weights = tmp_path / "w.json"
    assert cli_main(["fit", "--from-bench", str(out), "--split", "all", "--out", str(weights),
                     "--time-limit", "10"]) == 0
    assert "tasks" in capsys.readouterr().out and AuctionWeights.load(weights)


def test_a_changed_task_file_is_not_mixed_with_a_run_of_the_old_one(tmp_path: Path) -> None:
    tasks = tmp_path / "mine.jsonl"
    tasks.write_text(EXAMPLE.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    config = BenchConfig(tasks=tasks, out=tmp_path / "run", methods=("alone",), orders=1, progress=False)
    assert run_bench(config, echo=lambda text: None).status == "complete"
    tasks.write_text(tasks.read_text(encoding="utf-8").replace("clamp(5, 0, 3) == 3\\nassert clamp(-1",
                                                               "clamp(5, 0, 3) == 3\\nassert clamp(-2"))
    with pytest.raises(AuctionConfigError, match="tasks"):
        run_bench(BenchConfig(tasks=tasks, out=tmp_path / "run", methods=("alone",), orders=1, progress=False),
                  echo=lambda text: None)


LINE = '{"id": "a", "task": "Add.", "judge": {"tests": "assert add(1, 1) == 2"}}'


@pytest.mark.parametrize(("text", "field", "reason"), [
    ("{not json", "line 1", "is not JSON"),
    ('{"id": "a", "judge": {"answer": "x"}}', "line 1: task", "is missing"),
    ('{"id": "a", "task": "t", "judge": {}}', "line 1: judge", "exactly one of tests, answer or callable"),
    ('{"id": "a", "task": "t", "judge": {"answer": "x", "tests": "y"}}', "line 1: judge", "exactly one"),
    ('{"id": "a", "task": "t", "judge": {"answer": "x", "examples": "y"}}', "line 1: judge", "examples go with"),
    ('{"id": "a", "task": "t", "judge": {"answer": "x"}, "colour": 1}', "line 1: colour", "not a task file field"),
    ('{"id": "a", "task": "t", "judge": {"callable": "no_such_module_zz:f"}}', "line 1: judge.callable",
     "cannot import"),
    ('{"id": "a", "task": "t", "judge": {"callable": "json:no_such"}}', "line 1: judge.callable", "no function"),
    ('{"id": "a", "task": "t", "judge": {"callable": "not a name"}}', "line 1: judge.callable", "pattern"),
    (f"{LINE}\n{LINE}", "line 2: id", "used by an earlier task"),
    ('{"id": "a", "task": "t", "judge": {"answer": "x"}, "corpus": "none.jsonl"}', "corpus none.jsonl",
     "no such file"),
    ("", "", "holds no task"),
])
def test_an_error_in_a_task_file_names_the_line_and_the_field(tmp_path: Path, text: str, field: str,
                                                             reason: str) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(AuctionConfigError) as caught:
        load_task_file(path)
    assert caught.value.field == (f"{path}: {field}" if field else str(path))
    assert reason in caught.value.problem
