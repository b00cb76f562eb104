"""The benchmark harness (`langgraph_sale.bench`): the smoke run on the fake pool end to end, resume after an
interruption without redoing work, and the pieces it rests on (judges, the fake pool's honesty, caching, the CLI)."""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from langgraph_sale.bench.agents import Toolbox, bench_search_agent
from langgraph_sale.bench.cli import add_parser
from langgraph_sale.bench.cli import main as bench_main
from langgraph_sale.bench.data import SEARCH_TEXT, Task, load_suite
from langgraph_sale.bench.fake import FAKE_AGENTS, FakeWorld
from langgraph_sale.bench.judge import best_match, extract_answer, extract_code, f1_score
from langgraph_sale.bench.meter import JsonlCache, Meter, MeteredModel, messages_key, phase_of
from langgraph_sale.bench.methods import OPT_IN, SALE_METHODS
from langgraph_sale.errors import AuctionConfigError
from langgraph_sale.metrics import message_text
from langgraph_sale.testing import ScriptedChatModel
from langgraph_sale.tools import run_python

ROOT = Path(__file__).resolve().parent.parent
METHODS = [f"alone_{a.name}" for a in FAKE_AGENTS] + ["random", "oracle", "router_knn", "cascade",
                                                   *(m for m in SALE_METHODS if m != "sale_value" and m not in OPT_IN)]


def _bench(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # The timeout is a backstop against a hang, not a claim about speed.
    return subprocess.run([sys.executable, "-m", "langgraph_sale.bench", "--suite", "smoke", "--pool", "fake",
                           "--out", str(out), "--quiet", *extra], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_smoke_on_the_fake_pool_resumes_without_redoing_work(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # Interrupted after 40 task rows (as Ctrl-C would, but at a known point).
    first = _bench(out, "--stop-after", "40")
    assert first.returncode == 3, first.stderr
    assert "run the same command again to resume" in first.stdout
    assert len(_lines(out / "rows.jsonl")) == 40
    # The stopped run is reported over what it completed: order 0 of coding for the first six methods (36 rows);
    # the seventh stopped after 4 of its 6 tasks and is named, with every order not yet begun, in the note.
    partial = json.loads((out / "results.json").read_text())
    assert partial["status"] == "stopped" and len(partial["rows"]) == 36
    assert list(partial["summary"]) == ["coding"]
    assert sorted(partial["summary"]["coding"]) == sorted(METHODS[:6])
    assert all(cell["orders"] == 1 for cell in partial["summary"]["coding"].values())
    assert {"domain": "coding", "method": METHODS[6], "order": 0, "done": 4, "tasks": 6} in partial["missing"]
    assert len(partial["missing"]) == 2 * 3 * len(METHODS) - 6
    partial_md = (out / "results.md").read_text()
    assert "Partial: this run is stopped" in partial_md
    assert f"coding `{METHODS[6]}`: order 0 has 4 of 6 tasks; orders 1, 2 not begun" in partial_md
    # --stop-after 0 only reports what is there: no new row, the same figures.
    report_only = _bench(out, "--stop-after", "0")
    assert report_only.returncode == 3 and len(_lines(out / "rows.jsonl")) == 40
    assert json.loads((out / "results.json").read_text())["summary"] == partial["summary"]
    rows_before = {row["key"]: row for row in _lines(out / "rows.jsonl")}

    second = _bench(out)
    assert second.returncode == 0, second.stderr
    for name in ("results.json", "results.md", "pareto.png", "win_share.png"):
        assert (out / name).stat().st_size > 0, name

    # Every row once: 2 domains x 3 orders x every method x 6 tasks; the first session's rows were not redone.
    rows = _lines(out / "rows.jsonl")
    assert len(rows) == len({row["key"] for row in rows}) == 2 * 3 * len(METHODS) * 6
    assert all(rows_before[key] == row for row in rows if (key := row["key"]) in rows_before)
    # No model call and no executor run was made twice across the two sessions.
    calls, executions = _lines(out / "calls.jsonl"), _lines(out / "executions.jsonl")
    assert len(calls) == len({c["key"] for c in calls})
    assert len(executions) == len({e["key"] for e in executions})
    sessions = json.loads((out / "meta.json").read_text())["sessions"]
    assert [s["status"] for s in sessions] == ["stopped", "stopped", "complete"]
    assert sum(s["fresh_calls"] for s in sessions) == len(calls)
    assert sessions[2]["new_rows"] == len(rows) - 40

    results = json.loads((out / "results.json").read_text())
    assert results["harness_check"] is True
    for domain in ("coding", "search"):
        summary = results["summary"][domain]
        assert sorted(summary) == sorted(METHODS)
        for method in METHODS:
            assert summary[method]["orders"] == 3
            assert 0.0 <= summary[method]["pass"]["mean"] <= 1.0
            assert summary[method]["cost_udollars"]["mean"] > 0
        # The hindsight oracle is never beaten on pass@1; the largest agent alone runs every task.
        assert summary["oracle"]["pass"]["mean"] >= max(summary[m]["pass"]["mean"] for m in METHODS)
        assert summary["alone_large"]["largest_share"]["mean"] == 1.0
        # Auctions spend tokens outside execution; single agents do not.
        assert summary["sale"]["overhead_tokens"]["mean"] > 0 == summary["alone_small"]["overhead_tokens"]["mean"]
        assert set(results["bins"][domain]) >= {"easy", "medium", "hard"}
    markdown = (out / "results.md").read_text()
    assert "harness check, not a result" in markdown and "break-even" in markdown
    assert results["status"] == "complete" and results["missing"] == [] and "Partial" not in markdown
    assert all(f"| {method} |" in markdown for method in METHODS)
    # The by-phase breakdown adds up to each method's tokens, and execution is the only phase of a lone agent.
    for domain in ("coding", "search"):
        summary = results["summary"][domain]
        for method in METHODS:
            cell = summary[method]
            by_phase = sum(cell[f"tokens_{phase}"]["mean"] for phase in ("bid", "jury", "refine", "verify", "execute"))
            assert by_phase == pytest.approx(cell["tokens"]["mean"])
        assert summary["sale"]["tokens_bid"]["mean"] > 0 and summary["sale"]["tokens_jury"]["mean"] > 0
        assert summary["alone_small"]["tokens_execute"]["mean"] == summary["alone_small"]["tokens"]["mean"]
    assert markdown.count("by phase (mean over orders)") == 2
    # Every method's pass@1, cost and largest share carry a bootstrap interval over the tasks, and the methods other
    # than the largest agent alone their paired difference against it.
    for domain in ("coding", "search"):
        intervals = results["intervals"][domain]
        assert sorted(intervals) == sorted(METHODS)
        for method, own in intervals.items():
            for metric in ("pass", "cost_udollars", "largest_share"):
                cell = own[metric]
                assert cell["low"] <= cell["mean"] <= cell["high"] and cell["tasks"] == 6
                assert cell["mean"] == pytest.approx(results["summary"][domain][method][metric]["mean"])
            assert ("pass_vs_reference" in own) == (method != "alone_large")
        assert intervals["alone_small"]["cost_udollars_vs_reference"]["high"] < 0  # always cheaper, every task
        # How many executions ran into the output cap, per method and bin, over every order.
        caps = results["cap_shares"][domain]
        assert all(sum(n for _, n in caps[m].values()) == 3 * 6 for m in METHODS if m in caps)
    assert markdown.count("95% bootstrap intervals over tasks") == 2
    assert markdown.count("ran into the output cap, by bin") == 2
    # Every SALE method against random at its share, the kNN router and the cascade, with a verdict each.
    assert markdown.count("is SALE dominated?") == 2
    for domain in ("coding", "search"):
        verdicts = results["dominance"][domain]
        sale_methods = [m for m in METHODS if m in SALE_METHODS]
        assert {(v["method"], v["baseline"]) for v in verdicts} == {
            (m, b) for m in sale_methods for b in ("random at the same share", "router_knn", "cascade")}
        assert all(v["dominated"] == (v["pass_gain"]["low"] > 0 and v["cost_saving_udollars"]["low"] > 0)
                   for v in verdicts)
        assert all(results["summary"][domain][m]["exec_per_auction_token"]["mean"] > 0 for m in sale_methods)
    # The forecast check pairs every agent's first bid with its own lone execution, on every task.
    for domain in ("coding", "search"):
        forecast = results["plan_forecast"][domain]
        assert list(forecast["agents"]) == ["small", "medium", "large"]
        assert all(agent["tasks"] == 6 and agent["plan_tokens"] > 0 for agent in forecast["agents"].values())
        assert 0 < forecast["ranking"]["pairs"] <= 3 * 6
        assert all(0.0 <= forecast["ranking"][name] <= 1.0 for name in ("cost_term", "price", "plan_tokens"))
    assert markdown.count("does the plan forecast the execution?") == 2
    # Rows keep each first bid's own plan length, the same in every SALE variant (sale_no_length scores them all at
    # the cap, but records what was written).
    lengths: dict[tuple[str, str], set[int]] = {}
    for row in rows:
        if row["method"].startswith("sale"):
            for bid in row["extra"]["bids"]:
                lengths.setdefault((row["task_id"], bid["bidder"]), set()).add(bid["plan_tokens"])
    assert lengths and all(len(seen) == 1 for seen in lengths.values())

    # A third run finds everything done: no call, no row, the same report.
    third = _bench(out)
    assert third.returncode == 0
    sessions = json.loads((out / "meta.json").read_text())["sessions"]
    assert sessions[-1]["fresh_calls"] == 0 and sessions[-1]["new_rows"] == 0


def test_a_run_folder_refuses_other_settings(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--suite", "smoke", "--pool", "fake", "--out", str(out), "--quiet", "--domains", "search",
            "--methods", "alone_small", "--orders", "1"]
    assert bench_main(args) == 0
    assert bench_main([*args, "--max-searches", "1"]) == 2  # a different executor: refused, not mixed
    assert bench_main([*args, "--max-searches", "1", "--fresh"]) == 0


def test_bench_registers_as_a_subcommand() -> None:
    parser = argparse.ArgumentParser(prog="langgraph-sale")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", "--suite", "smoke", "--pool", "fake", "--orders", "2"])
    assert args.command == "bench" and args.orders == 2 and callable(args.handler)


def test_unknown_methods_and_bad_prices_are_config_errors(tmp_path: Path) -> None:
    from langgraph_sale.bench.cli import config_from

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "--prices", "cheap"])
    with pytest.raises(AuctionConfigError):
        config_from(args, [])
    assert bench_main(["--out", str(tmp_path), "--methods", "sale,nonsense", "--quiet"]) == 2


def test_smoke_suite_tasks_and_their_judges() -> None:
    suite = load_suite("smoke")
    coding, search = suite.tasks["coding"], suite.tasks["search"]
    assert [t.bin for t in coding] == ["easy", "easy", "medium", "medium", "hard", "xhard"]
    assert {t.source for t in coding} == {"humaneval", "mbpp", "classeval"}
    assert {t.source for t in search} == {"hotpotqa", "musique"} and set(suite.corpora) == {"hotpotqa", "musique"}
    for task in coding:
        # The reference solution passes both the visible examples and the hidden tests; the bare stub fails the
        # hidden tests.
        assert run_python(task.visible_program(task.canonical), timeout_s=task.timeout_s).ok, task.id
        assert run_python(task.hidden_program(task.canonical), timeout_s=task.timeout_s).ok, task.id
        assert not run_python(task.hidden_program(task.stub or "pass"), timeout_s=task.timeout_s).ok, task.id
    for task in search:
        assert best_match(task.answers[0], task.answers) == (True, 1.0)
        titles = {doc["title"] for doc in suite.corpora[task.corpus]}
        assert set(task.gold_titles) <= titles  # every supporting paragraph is in the bundled corpus


def test_judge_helpers() -> None:
    assert extract_code("text\n```python\nimport os\nx = 1\n```") == "import os\nx = 1\n"
    assert extract_answer("SEARCH: a\nANSWER: The Beatles") == "The Beatles"
    assert best_match("the beatles!", ["The Beatles"]) == (True, 1.0)
    assert f1_score("John Lennon", "Paul McCartney") == 0.0


def test_fake_pool_is_honest_and_deterministic() -> None:
    suite = load_suite("smoke")
    tasks = [t for d in suite.tasks.values() for t in d]
    world, again = FakeWorld(tasks), FakeWorld(tasks)
    solved = {a.name: sum(world.solves(a.name, t) for t in tasks) for a in FAKE_AGENTS}
    assert solved == {a.name: sum(again.solves(a.name, t) for t in tasks) for a in FAKE_AGENTS}
    assert solved["small"] <= solved["medium"] <= solved["large"]  # bigger agents solve more
    for task in suite.tasks["coding"]:
        for agent in ("small", "large"):
            code = extract_code(world.code(agent, task, 0))
            passed = run_python(task.hidden_program(code), timeout_s=task.timeout_s).ok
            assert passed == world.solves(agent, task), (agent, task.id)  # the real tests agree with the rule
    for task in suite.tasks["search"]:
        plan = world.plan("large", task, refined=False)
        # A concrete plan is marked as such; jurors read it with their own accuracy, not the truth.
        assert ("check the result" in plan) == world.concrete("large", task, refined=False)


def test_search_agent_searches_the_question_first_and_answers_from_what_it_found() -> None:
    question = "Who designed the Eiffel Tower?"
    task = Task(id="t/1", domain="search", source="hotpotqa", bin="easy", text=SEARCH_TEXT.format(question=question),
                answers=("Gustave Eiffel",), corpus="c")
    corpus = [{"title": "Eiffel Tower", "text": "The Eiffel Tower was designed by the firm of Gustave Eiffel."},
              {"title": "Louvre", "text": "The Louvre is a museum in Paris."},
              {"title": "Pei", "text": "I. M. Pei, an architect, designed the Louvre Pyramid."}]
    meter = Meter()
    toolbox = Toolbox(meter, {"c": corpus}, search_k=1)
    model = ScriptedChatModel(answers=["SEARCH: architect Louvre Pyramid", "ANSWER: Gustave Eiffel"])
    graph = bench_search_agent(model, {task.text: task}, toolbox, agent="a", max_searches=2)

    produced = graph.invoke({"messages": [HumanMessage(task.text)]})["messages"]

    found = [message_text(m) for m in produced if isinstance(m, HumanMessage)][1:]
    assert [text.split("\n", 1)[0] for text in found] == [f"Search results for {question!r}:",
                                                          "Search results for 'architect Louvre Pyramid':"]
    assert "Eiffel Tower" in found[0] and "Pei" in found[1]
    assert extract_answer(message_text(produced[-1])) == "Gustave Eiffel"
    # Two model turns: one that may search, then the answer, which sees the task and both results but none of the
    # model's own turns, and is offered no more searches.
    (_, first), (_, last) = model.calls
    assert "SEARCH: <keywords>" in message_text(first[0])
    assert not any(isinstance(m, AIMessage) for m in last)
    assert "SEARCH" not in message_text(last[0]) and "SEARCH:" not in message_text(last[-1])
    assert message_text(last[1]) == task.text and "Pei" in message_text(last[-1])
    assert "Eiffel Tower" in message_text(last[-1])


def test_metered_model_caches_and_charges_every_call(tmp_path: Path) -> None:
    suite = load_suite("smoke")
    world = FakeWorld([t for d in suite.tasks.values() for t in d])
    from langgraph_sale.bench.fake import FakeBenchModel

    meter, cache = Meter(), JsonlCache(tmp_path / "calls.jsonl")
    model = MeteredModel(inner=FakeBenchModel(world=world, agent="small"), agent="small", price_per_mtok=0.05,
                         call_cache=cache, meter=meter)
    task = suite.tasks["coding"][0]
    with meter.capture() as records:
        first = model.invoke([HumanMessage(task.text, id="a")])
        second = model.invoke([HumanMessage(task.text, id="b")])  # same prompt, other id: served from the cache
    assert first.content == second.content
    assert [r.cached for r in records] == [False, True] and meter.fresh_calls == 1
    assert records[0].cost_usd == records[1].cost_usd > 0 and records[0].phase == "execute"
    assert len(cache) == 1
    assert messages_key("x", messages=[HumanMessage("t", id="1")]) == messages_key("x", messages=[HumanMessage("t")])
    # The phase is read from the marker that opens the first message only.
    assert phase_of([SystemMessage("[auction jury] You review plans."), HumanMessage("x")]) == "jury"
    assert phase_of([HumanMessage("What is 2 + 2?"), HumanMessage("[auction jury]")]) == "execute"


def test_sigterm_stops_a_run_as_ctrl_c_does_and_records_the_session(tmp_path: Path) -> None:
    # `kill` and `timeout` send SIGTERM; the run must record its session and shut its pool down, not just die.
    out = tmp_path / "run"
    command = [sys.executable, "-m", "langgraph_sale.bench", "--suite", "smoke", "--pool", "fake", "--out", str(out),
               "--quiet", "--orders", "40"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rows = out / "rows.jsonl"
    deadline = time.monotonic() + 120
    while (not rows.exists() or len(_lines(rows)) < 5) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be signalled"
    process.terminate()
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "run the same command again to resume" in stdout
    sessions = json.loads((out / "meta.json").read_text())["sessions"]
    assert [s["status"] for s in sessions] == ["interrupted"]
    assert sessions[0]["new_rows"] == len(_lines(rows)) >= 5
    # What it did is reported: rows of completed orders in the figures, the rest counted as missing.
    report = json.loads((out / "results.json").read_text())
    assert report["status"] == "interrupted"
    assert len(report["rows"]) + sum(group["done"] for group in report["missing"]) == len(_lines(rows))


def test_resume_in_the_middle_of_a_memory_stream_gives_the_same_rows(tmp_path: Path) -> None:
    from langgraph_sale.bench.runner import BenchConfig, run_bench

    def config(out: Path, stop_after: int | None = None) -> BenchConfig:
        return BenchConfig(out=out, domains=("search",), methods=("sale",), orders=1, stop_after=stop_after,
                           progress=False)

    def rows(out: Path) -> dict[str, tuple]:
        return {row["key"]: (row["passed"], row["executed"], row["tokens"], row["extra"]["recalled"],
                             row["extra"]["outbid"]) for row in _lines(out / "rows.jsonl")}

    whole = run_bench(config(tmp_path / "whole"), echo=lambda text: None)
    stopped = run_bench(config(tmp_path / "split", stop_after=3), echo=lambda text: None)
    resumed = run_bench(config(tmp_path / "split"), echo=lambda text: None)
    assert (whole.status, stopped.status, resumed.status) == ("complete", "stopped", "complete")
    assert resumed.new_rows == 3
    # SALE's memory was rebuilt from the first three rows: the last three auctions recall and decide as in one go.
    assert rows(tmp_path / "split") == rows(tmp_path / "whole")
    assert any(recalled for *_, recalled, _ in rows(tmp_path / "whole").values())


def test_a_failed_model_call_is_not_recorded_and_the_rerun_redoes_the_task(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from langgraph_sale.bench.meter import phase_of
    from langgraph_sale.bench.runner import BenchConfig, run_bench

    respond = FakeWorld.respond
    failures = {"left": 1}

    def flaky(self: FakeWorld, agent: str, messages: list) -> str:
        if agent == "large" and phase_of(messages) == "jury" and failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("HTTP 500 from the model server")  # not transient: no retry
        return respond(self, agent, messages)

    monkeypatch.setattr(FakeWorld, "respond", flaky)
    config = BenchConfig(out=tmp_path, domains=("search",), methods=("sale_nomem",), orders=1, progress=False)
    failed = run_bench(config, echo=lambda text: None)
    # The package drops the juror and carries on; the harness refuses to score an auction that lost a juror.
    assert failed.status == "failed" and failed.rows == 0
    done = run_bench(config, echo=lambda text: None)
    assert done.status == "complete" and done.new_rows == 6


def _run(out: Path, methods: tuple[str, ...], **options: object) -> None:
    from langgraph_sale.bench.runner import BenchConfig, run_bench

    config = BenchConfig(out=out, domains=("coding",), methods=methods, orders=1, progress=False, **options)
    assert run_bench(config, echo=lambda text: None).status == "complete"


def test_train_and_test_splits_partition_the_tasks(tmp_path: Path) -> None:
    ids = {}
    for split in ("train", "dev", "all", "test"):
        _run(tmp_path / split, ("alone_small",), split=split)
        ids[split] = {row["task_id"] for row in _lines(tmp_path / split / "rows.jsonl")}
    assert ids["train"] and ids["dev"] and not ids["train"] & ids["dev"]
    assert ids["train"] | ids["dev"] == ids["all"]
    assert ids["test"] == ids["dev"]  # the dev half's earlier name
    assert "--split dev" in json.loads((tmp_path / "test" / "summary.json").read_text())["command"]
    with pytest.raises(AuctionConfigError) as raised:
        _run(tmp_path / "bad", ("alone_small",), split="validation")
    assert raised.value.field == "--split"


def test_reuse_seeds_a_new_run_from_plain_or_gzipped_caches(tmp_path: Path) -> None:
    from langgraph_sale.bench.runner import BenchConfig, run_bench

    def run(out: Path, reuse: Path | None = None) -> tuple[int, dict[str, bool]]:
        config = BenchConfig(out=out, domains=("coding",), methods=("alone_small", "sale_nomem"), orders=1,
                             progress=False, reuse=reuse)
        done = run_bench(config, echo=lambda text: None)
        assert done.status == "complete"
        return done.fresh_calls, {row["key"]: row["passed"] for row in _lines(out / "rows.jsonl")}

    fresh, rows = run(tmp_path / "first")
    assert fresh > 0
    packed = tmp_path / "packed"  # the committed form (docs/results/runs/): gzipped cache shards, no rows

    def pack() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "pack_runs.py"), str(packed),
                               str(tmp_path / "first")], cwd=ROOT, capture_output=True, text=True, timeout=120)

    done = pack()
    assert done.returncode == 0, done.stderr
    assert (packed / "calls" / "0000.jsonl.gz").is_file() and not (packed / "rows.jsonl").exists()
    assert gzip.decompress((packed / "calls" / "0000.jsonl.gz").read_bytes()).count(b"\n") == fresh
    # The run's sittings are kept; its report is not (`langgraph-sale report` writes a published run's from the record).
    assert (packed / "first" / "meta.json").is_file() and not (packed / "first" / "results.md").exists()
    # Packing the same runs again adds no shard and changes no byte: git sees no change.
    before = {path: path.read_bytes() for path in packed.rglob("*.gz")}
    again_done = pack()
    assert again_done.returncode == 0, again_done.stderr
    assert {path: path.read_bytes() for path in packed.rglob("*.gz")} == before
    for seed in (tmp_path / "first", packed):
        again, same = run(tmp_path / f"from-{seed.name}", reuse=seed)
        assert (again, same) == (0, rows)  # every call replayed, the same outcomes
    with pytest.raises(AuctionConfigError) as raised:
        run(tmp_path / "bad", reuse=tmp_path / "nowhere")
    assert raised.value.field == "--reuse"


def test_pack_keeps_the_sittings_the_record_lists_when_a_run_is_regrown_in_a_new_folder(tmp_path: Path) -> None:
    def sitting(started: str) -> dict[str, object]:
        return {"started": started, "wall_s": 1.0, "new_rows": 1, "fresh_calls": 1, "status": "complete"}

    def run_folder(parent: str, *started: str) -> Path:
        folder = tmp_path / parent / "run"
        folder.mkdir(parents=True)
        (folder / "calls.jsonl").write_text("", encoding="utf-8")
        meta = {"fingerprint": {"suite": "smoke"}, "sessions": [sitting(s) for s in started]}
        (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        return folder

    def pack(folder: Path) -> list[str]:
        done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "pack_runs.py"), str(tmp_path / "packed"),
                               str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        meta = json.loads((tmp_path / "packed" / "run" / "meta.json").read_text(encoding="utf-8"))
        return [session["started"] for session in meta["sessions"]]

    assert pack(run_folder("first", "day 1", "day 2")) == ["day 1", "day 2"]
    # Seeded from the record with --reuse, the new folder lists only its own sittings (and maybe one it shares).
    regrown = run_folder("second", "day 2", "day 3")
    assert pack(regrown) == ["day 1", "day 2", "day 3"]
    assert pack(regrown) == ["day 1", "day 2", "day 3"]


def test_sale_skip_skips_auctions_once_memory_shows_they_cost_more_than_executions(tmp_path: Path) -> None:
    _run(tmp_path / "run", ("sale", "sale_skip"))
    rows = {(row["method"], row["position"]): row for row in _lines(tmp_path / "run" / "rows.jsonl")}
    skip = [rows[("sale_skip", p)] for p in range(6)]
    held = [rows[("sale", p)] for p in range(6)]
    skipped = [row["extra"]["skipped"] for row in skip]
    # The first auctions are held (memory is empty); once 3 similar ones are recalled, the fake pool's auctions
    # cost more than its executions and the rest are skipped.
    assert skipped[:3] == [False] * 3 and any(skipped[3:])
    for row in skip:
        overhead = sum(v for phase, v in row["tokens"].items() if phase != "execute")
        assert (overhead == 0) == row["extra"]["skipped"]
        assert row["extra"]["bids"] == [] if row["extra"]["skipped"] else row["extra"]["bids"]
    total = {name: sum(sum(r["cost_usd"].values()) for r in group) for name, group in (("sale", held),
                                                                                        ("skip", skip))}
    assert total["skip"] < total["sale"]


def test_fit_from_a_bench_run_writes_weights_the_scorer_loads(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from langgraph_sale import AuctionWeights
    from langgraph_sale.bench.fitdata import fit_examples
    from langgraph_sale.cli import main as cli_main

    _run(tmp_path / "run", ("alone", "sale_nomem"))
    train, test = fit_examples(tmp_path / "run", split="train"), fit_examples(tmp_path / "run", split="test")
    assert len(train) + len(test) == 6 and train and test
    for example in train:
        assert [c.bidder for c in example.candidates] == [a.name for a in FAKE_AGENTS]
        assert all(c.jury and c.cost_feature > 0 and c.cost_usd > 0 for c in example.candidates)
    # The auction's jury bill, split over the jurors by price (they read the same prompts): the fit charges it.
    rows = {row["task_id"]: row for row in _lines(tmp_path / "run" / "rows.jsonl") if row["method"] == "sale_nomem"}
    prices = {a.name: a.price_per_mtok for a in FAKE_AGENTS}
    for example in train:
        shares = example.jury_cost_usd
        assert set(shares) == set(prices)
        assert sum(shares.values()) == pytest.approx(rows[example.task_id]["cost_usd"]["jury"])
        assert shares["small"] / shares["large"] == pytest.approx(prices["small"] / prices["large"])
    weights = tmp_path / "w.json"
    assert cli_main(["fit", "--from-bench", str(tmp_path / "run"), "--out", str(weights), "--time-limit", "10"]) == 0
    assert f"{len(train)} tasks" in capsys.readouterr().out
    assert set(AuctionWeights.load(weights).w_jury) == {a.name for a in FAKE_AGENTS}
    with pytest.raises(AuctionConfigError) as raised:
        fit_examples(tmp_path / "run", method="sale")
    assert raised.value.field == "--from-bench"
    assert cli_main(["fit", "--out", str(weights)]) == 2


def test_recall_k_bounds_the_past_auctions_an_outbid_round_reads(tmp_path: Path) -> None:
    tokens = {}
    for k in (8, 1):
        _run(tmp_path / f"k{k}", ("sale",), recall_k=k)
        rows = _lines(tmp_path / f"k{k}" / "rows.jsonl")
        tokens[k] = [row["tokens"].get("refine", 0) for row in sorted(rows, key=lambda row: row["position"])]
    # The same auctions refine (k changes what the outbid prompt shows, not who is eligible), with fewer recalled
    # pairs once memory holds more than one.
    assert [t > 0 for t in tokens[1]] == [t > 0 for t in tokens[8]] and any(tokens[8])
    assert all(small <= large for small, large in zip(tokens[1], tokens[8], strict=True))
    assert sum(tokens[1]) < sum(tokens[8])
    # The option is part of the run folder's settings: a rerun with another k is refused, not mixed.
    meta = json.loads((tmp_path / "k1" / "meta.json").read_text())
    assert meta["fingerprint"]["recall_k"] == 1
    args = ["--suite", "smoke", "--pool", "fake", "--out", str(tmp_path / "k1"), "--quiet", "--domains", "coding",
            "--methods", "sale", "--orders", "1"]
    assert bench_main([*args, "--recall-k", "1"]) == 0
    assert bench_main(args) == 2


def test_a_bid_the_model_answers_with_a_loop_is_scored_as_a_failed_bid_not_a_fault(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from langgraph_sale.bench.meter import phase_of
    from langgraph_sale.bench.runner import BenchConfig, run_bench

    respond = FakeWorld.respond

    def looping(self: FakeWorld, agent: str, messages: list) -> str:
        if agent == "small" and phase_of(messages) == "bid":
            return "1. Sort. " * 40  # the model answered: a loop, no plan
        return respond(self, agent, messages)

    monkeypatch.setattr(FakeWorld, "respond", looping)
    config = BenchConfig(out=tmp_path, domains=("coding",), methods=("sale_nomem",), orders=1, progress=False)
    run = run_bench(config, echo=lambda text: None)
    # Every task is recorded, and the small agent, whose bids were all loops, never wins.
    assert run.status == "complete" and run.new_rows == 6
    assert all(row["final"] != "small" for row in _lines(tmp_path / "rows.jsonl"))


def test_a_bid_too_long_for_the_models_context_window_is_a_failed_bid_not_a_fault(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from langgraph_sale.bench.meter import phase_of
    from langgraph_sale.bench.runner import BenchConfig, run_bench

    respond = FakeWorld.respond

    def overflowing(self: FakeWorld, agent: str, messages: list) -> str:
        if agent == "small" and phase_of(messages) == "bid":
            raise RuntimeError("Error code: 500 - Context size has been exceeded.")  # as llama.cpp's server says it
        return respond(self, agent, messages)

    monkeypatch.setattr(FakeWorld, "respond", overflowing)
    config = BenchConfig(out=tmp_path, domains=("coding",), methods=("sale_nomem",), orders=1, progress=False)
    run = run_bench(config, echo=lambda text: None)
    # The prompt did not fit that agent: the method's outcome, recorded; a dead server still stops the run (above).
    assert run.status == "complete" and run.new_rows == 6
    assert all(row["final"] != "small" for row in _lines(tmp_path / "rows.jsonl"))


def test_the_forecast_check_scores_plan_length_against_the_executions_it_forecasts() -> None:
    from langgraph_sale.bench.report import plan_forecast

    prices = {"small": 1.0, "large": 2.0}

    def rows(plans: dict[str, list[int]], executions: dict[str, list[int]]) -> list[dict]:
        tasks = [f"t{i}" for i in range(len(plans["small"]))]
        out: list[dict] = [{"domain": "d", "method": "sale", "task_id": task, "extra": {"bids": [
            {"bidder": agent, "plan_tokens": plans[agent][i]} for agent in plans]}} for i, task in enumerate(tasks)]
        out += [{"domain": "d", "method": f"alone_{agent}", "task_id": task,
                 "tokens": {"execute": executions[agent][i]}} for agent in executions for i, task in enumerate(tasks)]
        return out

    # Longer plans, shorter executions: plan length names the wrong one of every pair, and drags the cost term
    # below price alone.
    backwards = plan_forecast(rows({"small": [10, 20, 30, 40], "large": [40, 30, 20, 10]},
                                   {"small": [400, 300, 200, 100], "large": [100, 120, 140, 160]}), prices, "d")
    assert backwards is not None
    assert backwards["agents"]["small"]["spearman"] == pytest.approx(-1.0)
    assert backwards["agents"]["large"]["spearman"] == pytest.approx(-1.0)
    assert backwards["agents"]["large"]["exec_tokens"] == 130
    assert backwards["agents"]["large"]["at_cap"] is None
    capped = plan_forecast(rows({"small": [10, 40, 40], "large": [5, 5, 5]}, {"small": [1, 2, 3], "large": [1, 2, 3]}),
                           prices, "d", bid_cap=40)
    assert capped is not None and capped["agents"]["small"]["at_cap"] == pytest.approx(2 / 3)
    # Realised: small costs 400/300/200/100, large 200/240/280/320: the large one is cheaper on the first two, which
    # price gets wrong; the cost term (small 10/20/30/40, large 80/60/40/20) is right on the third task only.
    assert backwards["ranking"] == {"pairs": 4, "cost_term": 0.25, "price": 0.5, "plan_tokens": 0.0}
    # A forecast tie (equal plans, equal prices) counts half; a pair whose executions cost the same is left out.
    even = plan_forecast(rows({"small": [10, 10, 10], "large": [5, 5, 5]}, {"small": [100, 100, 200],
                                                                         "large": [50, 80, 90]}), prices, "d")
    assert even is not None
    # t0 costs 100 either way (left out); t1: small cheaper (100 < 160); t2: large cheaper (180 < 200). The cost
    # term ties on both (1 x 10 = 2 x 5); price and plan length each name one of the two right.
    assert even["ranking"] == {"pairs": 2, "cost_term": 0.5, "price": 0.5, "plan_tokens": 0.5}
    assert even["agents"]["small"]["spearman"] is None  # a constant plan length has no rank correlation
    # Rows from before bids kept their plan length give no check, rather than a made-up one.
    old = [{"domain": "d", "method": "sale", "task_id": "t0", "extra": {"bids": [{"bidder": "small"}]}},
           {"domain": "d", "method": "alone_small", "task_id": "t0", "tokens": {"execute": 10}}]
    assert plan_forecast(old, prices, "d") is None


def test_class_level_tasks_get_their_own_output_cap(tmp_path: Path) -> None:
    from langgraph_sale.bench.runner import BenchConfig, run_bench

    def caps(folder: str, class_cap: int) -> dict[str, list[int]]:
        config = BenchConfig(out=tmp_path / folder, domains=("coding",), methods=("alone",), orders=1,
                             exec_max_tokens=8, class_max_tokens=class_cap, progress=False)
        run_bench(config, echo=lambda text: None)
        return json.loads((tmp_path / folder / "results.json").read_text())["cap_shares"]["coding"]["alone_large"]

    tight, roomy = caps("one-cap", 8), caps("class-cap", 4096)
    # The class-level task (ClassEval) ran into an 8-token cap and not into its own; the function tasks are the same.
    assert tight["xhard"][0] > 0 and roomy["xhard"][0] == 0
    assert {b: c for b, c in tight.items() if b != "xhard"} == {b: c for b, c in roomy.items() if b != "xhard"}
    fingerprint = json.loads((tmp_path / "class-cap" / "meta.json").read_text())["fingerprint"]
    assert fingerprint["class_max_tokens"] == 4096
    assert "class_max_tokens" not in json.loads((tmp_path / "one-cap" / "meta.json").read_text())["fingerprint"]


def test_searches_read_as_many_passages_as_asked(tmp_path: Path) -> None:
    from langgraph_sale.bench.agents import Toolbox
    from langgraph_sale.bench.meter import Meter
    from langgraph_sale.bench.runner import BenchConfig, run_bench

    corpus = [{"title": f"Doc {i}", "text": f"river {i} " + "word " * 200} for i in range(8)]
    wide = Toolbox(Meter(), {"c": corpus}, search_k=6, passage_chars=50).search("c", "river", agent="a")
    assert wide.count("Doc ") == 6 and max(len(part) for part in wide.split("\n\n")) < 120

    def execute_tokens(folder: str, **options: Any) -> int:
        config = BenchConfig(out=tmp_path / folder, domains=("search",), methods=("alone_small",), orders=1,
                             progress=False, **options)
        run_bench(config, echo=lambda text: None)
        return sum(row["tokens"]["execute"] for row in _lines(tmp_path / folder / "rows.jsonl"))

    assert execute_tokens("long", search_k=6, passage_chars=1200) > execute_tokens("default")
    fingerprint = json.loads((tmp_path / "long" / "meta.json").read_text())["fingerprint"]
    assert fingerprint["search"] == [6, 1200]
    assert "search" not in json.loads((tmp_path / "default" / "meta.json").read_text())["fingerprint"]


def test_sale_escalate_hands_a_rejected_answer_up_the_ladder_and_pays_for_every_run(tmp_path: Path) -> None:
    from langgraph_sale.bench.runner import BenchConfig, run_bench

    config = BenchConfig(out=tmp_path / "run", methods=("alone", "sale_nomem", "sale_escalate"), orders=1,
                         plan_guidance=False, progress=False)
    assert run_bench(config, echo=lambda text: None).status == "complete"
    rows = {(row["domain"], row["method"], row["task_id"]): row for row in _lines(tmp_path / "run" / "rows.jsonl")}
    prices = {agent.name: agent.price_per_mtok for agent in FAKE_AGENTS}
    escalated = 0
    for (domain, method, task), row in rows.items():
        if method != "sale_escalate":
            continue
        plain = rows[(domain, "sale_nomem", task)]
        # The same auction decides the first run; the last run's answer is the one judged.
        assert row["executed"][0] == plain["final"] and row["final"] == row["executed"][-1]
        assert [prices[name] for name in row["executed"]] == sorted(prices[name] for name in row["executed"])
        if len(row["executed"]) == 1:
            assert (row["answer"], row["passed"]) == (plain["answer"], plain["passed"])
            continue
        escalated += 1
        assert row["extra"]["escalated_from"] == row["executed"][:-1]
        assert row["answer"] == rows[(domain, f"alone_{row['final']}", task)]["answer"]  # the bare task, as alone
        assert sum(row["cost_usd"].values()) > sum(plain["cost_usd"].values())
    assert escalated >= 1


def _essentials(out: Path) -> dict[str, tuple[Any, ...]]:
    """What a row says about its task (not when or how long it ran)."""
    return {row["key"]: (row["passed"], row["final"], row["executed"], row["answer"], row["tokens"], row["cost_usd"])
            for row in _lines(out / "rows.jsonl")}


def test_tasks_run_at_once_give_the_rows_they_give_one_at_a_time(tmp_path: Path) -> None:
    from langgraph_sale.bench.runner import BenchConfig, run_bench

    methods = ("alone", "random", "oracle", "router_knn", "cascade", "sale_nomem", "sale")
    for folder, concurrency in (("one", 1), ("four", 4)):
        config = BenchConfig(out=tmp_path / folder, methods=methods, orders=1, progress=False, concurrency=concurrency)
        assert run_bench(config, echo=lambda text: None).status == "complete"
    one, four = _essentials(tmp_path / "one"), _essentials(tmp_path / "four")
    assert one == four and len(one) == 2 * 6 * (len(methods) + 2)


def test_concurrency_is_refused_where_the_pool_serves_one_call_at_a_time(tmp_path: Path) -> None:
    from langgraph_sale.bench.runner import BenchConfig, run_bench

    config = BenchConfig(pool="local", out=tmp_path / "run", domains=("coding",), orders=1, offline=True,
                         concurrency=2, progress=False)
    with pytest.raises(AuctionConfigError, match="^--concurrency: the local pool"):
        run_bench(config, echo=lambda text: None)


def test_a_remote_pool_runs_tasks_at_once_within_its_limits(tmp_path: Path) -> None:
    from langgraph_sale.bench.runner import BenchConfig, run_bench
    from langgraph_sale.testing import FakeOpenAIEndpoint

    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": f"q{i}", "task": f"What is {i} times one?",
                                         "judge": {"answer": str(i)}}) + "\n" for i in range(20)))
    with FakeOpenAIEndpoint(lambda messages: "ANSWER: 3", delay_s=0.05) as endpoint:
        pool = tmp_path / "pool.toml"
        pool.write_text("".join(f'[[bidder]]\nname = "{name}"\nprovider = "openai"\nmodel = "{name}"\nbase_url = '
                                f'"{endpoint.url}"\nprice = {price}\nmax_concurrency = 6\n'
                                for name, price in (("small", 0.1), ("large", 0.5))))
        rows = {}
        for folder, concurrency in (("one", 1), ("eight", 8)):
            config = BenchConfig(tasks=tasks, pool="file", pool_file=pool, out=tmp_path / folder, methods=("alone",),
                                 orders=1, progress=False, concurrency=concurrency)
            assert run_bench(config, echo=lambda text: None).status == "complete"
            rows[folder] = _essentials(tmp_path / folder)
            if concurrency == 1:
                assert endpoint.peak == 1  # one call at a time
        assert 1 < endpoint.peak <= 6  # calls overlapped, within the endpoint's limit
    assert rows["one"] == rows["eight"] and len(rows["one"]) == 40
    assert sum(row[0] for row in rows["one"].values()) == 2  # "3" is right for q3 only, for both agents
