"""The task suites: coding (HumanEval, MBPP, ClassEval) and deep search (HotpotQA, MuSiQue), read from a data root.

A data root holds the upstream files in their upstream layout (`humaneval/HumanEval.jsonl[.gz]`,
`mbpp/sanitized-mbpp.json`, `classeval/ClassEval_data.json`, `hotpotqa_hipporag/…`, `musique_hipporag/…`) and the
manifests that pick the tasks and their complexity bins (`manifests/smoke.json`, `manifests/bench.json`).

Where a suite's data comes from:

- the bundled roots of the repository, `benchmarks/data/<suite>/` (`benchmarks/data/make_bundle.py` copies them
  from the shared data): `smoke` (6 coding tasks, 6 questions with the paragraphs of their own contexts as the
  corpus) and `bench` (the manifest's 80 coding tasks and 200 questions, with the pooled corpora whole), from
  sources whose licences allow redistribution;
- the shared one, `../shared/data` beside the repository (or `$LANGGRAPH_SALE_DATA`): every data set whole.

Both suites read their bundled root unless told otherwise (`--data`), so a run is the same on every clone, beside
`../shared` or not; the bundled `bench` tasks are the shared ones, record for record (checked by the tests).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langgraph_sale.errors import AuctionConfigError

__all__ = ["Task", "Suite", "load_suite", "resolve_root", "bundled_root", "shared_root", "DOMAINS", "SUITES"]

Domain = Literal["coding", "search"]
DOMAINS: tuple[Domain, ...] = ("coding", "search")
SUITES = ("smoke", "bench", "holdout")
BIN_ORDER = {"easy": 0, "medium": 1, "hard": 2, "xhard": 3}

CODE_FORMAT = "Respond with the complete code (with any imports it needs) in one ```python code block."


@dataclass(frozen=True)
class Task:
    """One task of a suite, as every method sees it (`text`) and as the judge checks it (the rest).

    Coding tasks carry the code the candidate is wrapped in: `visible_*` for the tests an agent may run (the
    examples shown in the task) and `hidden_*` for the judge (the task's own full test suite). Search tasks carry
    the gold answers and the name of the corpus to search.
    """

    id: str
    domain: Domain
    source: str
    bin: str
    text: str
    label: str = ""
    entry_point: str = ""
    canonical: str = ""
    """Code that passes the hidden tests (the dataset's reference solution)."""
    stub: str = ""
    """The signature or skeleton the task shows, with no working body."""
    visible_prefix: str = ""
    visible_suffix: str = ""
    hidden_prefix: str = ""
    hidden_suffix: str = ""
    timeout_s: float = 10.0
    answers: tuple[str, ...] = ()
    corpus: str = ""
    gold_titles: tuple[str, ...] = ()
    judge_fn: str = ""
    """`module:function` that judges an answer (a task file's `judge.callable`; `bench.taskfile.call_judge`)."""

    @property
    def question(self) -> str:
        """A search task's question (its text after `SEARCH_TEXT`'s "Question:"); the text itself for other tasks."""
        _, marker, question = self.text.partition("Question:")
        return question.strip() if self.domain == "search" and marker else self.text

    def visible_program(self, code: str) -> str:
        """The candidate code with the visible tests around it (what the agent and the cascade run)."""
        return f"{self.visible_prefix}\n{code}\n{self.visible_suffix}"

    def hidden_program(self, code: str) -> str:
        """The candidate code with the task's own tests around it (what the judge runs)."""
        return f"{self.hidden_prefix}\n{code}\n{self.hidden_suffix}"


@dataclass
class Suite:
    """The tasks of one suite per domain, and the corpora its questions search."""

    name: str
    root: Path
    tasks: dict[str, list[Task]] = field(default_factory=dict)
    corpora: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def by_text(self) -> dict[str, Task]:
        return {task.text: task for tasks in self.tasks.values() for task in tasks}


# ---- roots --------------------------------------------------------------------------------------------------------
def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def bundled_root(suite: str = "smoke") -> Path | None:
    """`benchmarks/data/<suite>` of the repository, when this is a checkout that has it."""
    root = _repo_root() / "benchmarks" / "data" / suite
    return root if (root / "manifests" / f"{suite}.json").is_file() else None


def shared_root() -> Path | None:
    """`$LANGGRAPH_SALE_DATA`, else `../shared/data` beside the repository or the working directory."""
    candidates = []
    if os.environ.get("LANGGRAPH_SALE_DATA"):
        candidates.append(Path(os.environ["LANGGRAPH_SALE_DATA"]))
    candidates += [_repo_root().parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for root in candidates:
        if (root / "manifests" / "bench.json").is_file():
            return root.resolve()
    return None


def resolve_root(suite: str, explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data root for a suite: the explicit one, else the suite's bundled root, else the shared root."""
    if explicit is not None:
        root = Path(explicit)
        if not (root / "manifests" / f"{suite}.json").is_file():
            raise AuctionConfigError("--data", f"{root} has no manifests/{suite}.json")
        return root.resolve()
    for candidate in (bundled_root(suite), shared_root()):
        if candidate is not None and (candidate / "manifests" / f"{suite}.json").is_file():
            return candidate
    raise AuctionConfigError(
        "--data", f"no data for the {suite!r} suite: pass --data DIR (a folder with manifests/{suite}.json and the "
        "datasets), set LANGGRAPH_SALE_DATA, or place the shared data at ../shared/data")


# ---- raw files ----------------------------------------------------------------------------------------------------
def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


@functools.lru_cache(maxsize=8)
def _humaneval(root: Path) -> dict[str, dict[str, Any]]:
    folder = root / "humaneval"
    plain, packed = folder / "HumanEval.jsonl", folder / "HumanEval.jsonl.gz"
    opener: Any = (lambda: plain.open(encoding="utf-8")) if plain.is_file() else (
        lambda: gzip.open(packed, "rt", encoding="utf-8"))
    with opener() as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    return {record["task_id"]: record for record in records}


@functools.lru_cache(maxsize=8)
def _mbpp(root: Path) -> dict[str, dict[str, Any]]:
    return {str(record["task_id"]): record for record in _read_json(root / "mbpp" / "sanitized-mbpp.json")}


@functools.lru_cache(maxsize=8)
def _classeval(root: Path) -> dict[str, dict[str, Any]]:
    return {record["task_id"]: record for record in _read_json(root / "classeval" / "ClassEval_data.json")}


SEARCH_FILES = {"hotpotqa": "hotpotqa_hipporag/hotpotqa_train.json",
                "hotpotqa_corpus": "hotpotqa_hipporag/hotpotqa_train_corpus.json",
                "musique": "musique_hipporag/musique_train.json",
                "musique_corpus": "musique_hipporag/musique_train_corpus.json"}
"""Where a data root keeps each search set's questions and corpus, unless its manifest's `files` says otherwise (the
holdout's are in `hotpotqa_holdout/` and `musique_holdout/`)."""


def _search_files(root: Path, manifest: Mapping[str, Any]) -> dict[str, Path]:
    named = manifest.get("files") or {}
    return {key: root / named.get(key, default) for key, default in SEARCH_FILES.items()}


@functools.lru_cache(maxsize=8)
def _hotpot(questions_file: Path, corpus_file: Path) -> tuple[dict[str, dict[str, Any]], list[dict[str, str]]]:
    questions = {record["_id"]: record for record in _read_json(questions_file)}
    corpus = [{"title": title, "text": "".join(sentences)} for title, sentences in _read_json(corpus_file).items()]
    return questions, corpus


@functools.lru_cache(maxsize=8)
def _musique(questions_file: Path, corpus_file: Path) -> tuple[dict[str, dict[str, Any]], list[dict[str, str]]]:
    questions = {record["id"]: record for record in _read_json(questions_file)}
    corpus = [{"title": doc["title"], "text": doc["text"]} for doc in _read_json(corpus_file)]
    return questions, corpus


def _search_set(files: Mapping[str, Path], corpus: str) -> tuple[dict[str, dict[str, Any]], list[dict[str, str]]]:
    load = _hotpot if corpus == "hotpotqa" else _musique
    return load(files[corpus], files[f"{corpus}_corpus"])


# ---- tasks ----------------------------------------------------------------------------------------------------------
_EXAMPLES_RUNNER = """
import doctest as _bench_doctest, json as _bench_json
class _BenchRunner(_bench_doctest.DocTestRunner):
    failed = []
    def report_failure(self, out, test, example, got):
        self.failed.append(test.examples.index(example))
        super().report_failure(out, test, example, got)
    def report_unexpected_exception(self, out, test, example, exc_info):
        self.failed.append(test.examples.index(example))
        super().report_unexpected_exception(out, test, example, exc_info)
_bench_checked = {checked!r}
_bench_test = _bench_doctest.DocTestParser().get_doctest({examples!r}, dict(globals()), "examples", None, 0)
_bench_runner = _BenchRunner(optionflags=_bench_doctest.NORMALIZE_WHITESPACE)
_bench_lines = []
_bench_runner.run(_bench_test, out=_bench_lines.append)
if _bench_checked is None:
    print(_bench_json.dumps(sorted(set(_BenchRunner.failed))))
else:
    _bench_bad = [i for i in _BenchRunner.failed if i in _bench_checked]
    if _bench_bad:
        print("".join(_bench_lines)[-3000:])
        raise SystemExit(1)
    print("the examples pass")
"""


def _docstring_text(text: str) -> str:
    # Only the docstrings' text matters: a closing quote line must end an expected output, not belong to it;
    # ">>>x" (no blank) is a common typo the doctest parser rejects.
    return re.sub(r">>>(?=\S)", ">>> ", text.replace('"""', "").replace("\'\'\'", ""))


def _examples_suffix(prefix: str, canonical: str, text: str, timeout_s: float) -> str:
    """A program tail running the `>>>` examples of `text` against the code above it.

    The examples are the task's own, as shown to the agent; those that the reference solution itself fails (typos in
    the expected output, informal notation) are run for their side effects but not checked. With no example left
    the tail only checks that the code runs.
    """
    from langgraph_sale.tools import run_python

    examples = _docstring_text(text)
    if ">>>" not in examples:
        return 'print("the code runs")'
    try:
        import doctest

        count = len(doctest.DocTestParser().get_examples(examples))
    except ValueError:
        count = 0
    # Seeded: a reference solution that draws random numbers (ClassEval_54's board) must pass the same examples on
    # every load, or the task's visible program, and every cached run of it, would change from one load to the next.
    program = (f"import random as _bench_random\n_bench_random.seed(0)\n{prefix}\n{canonical}\n"
               f"{_EXAMPLES_RUNNER.format(checked=None, examples=examples)}")
    # The reference solution runs its examples well inside the timeout; a run that did not finish was starved by a
    # loaded machine, and must not change which examples the task checks either.
    for _attempt in range(3):
        report = run_python(program, timeout_s=timeout_s)
        if report.ok:
            break
    try:
        failing = set(json.loads(report.output.strip().splitlines()[-1])) if report.ok else set(range(count))
    except (ValueError, IndexError):
        failing = set(range(count))
    checked = sorted(set(range(count)) - failing)
    if not checked:
        return 'print("the code runs")'
    return _EXAMPLES_RUNNER.format(checked=set(checked), examples=examples)


def _humaneval_task(root: Path, entry: dict[str, Any]) -> Task:
    record = _humaneval(root)[entry["task_id"]]
    prompt = record["prompt"]
    text = f"Complete the following Python function.\n\n```python\n{prompt.strip()}\n```\n\n{CODE_FORMAT}"
    return Task(
        id=f"humaneval/{record['task_id']}", domain="coding", source="humaneval", bin=entry["bin"], text=text,
        entry_point=record["entry_point"], canonical=prompt + record["canonical_solution"], stub=prompt,
        # The prompt first: helpers it defines (e.g. encode_cyclic) exist even when the answer leaves them out.
        visible_prefix=prompt, visible_suffix=_examples_suffix(prompt, record["canonical_solution"], prompt, 10.0),
        hidden_prefix=prompt, hidden_suffix=f"{record['test']}\ncheck({record['entry_point']})\n",
    )


def _mbpp_task(root: Path, entry: dict[str, Any]) -> Task:
    record = _mbpp(root)[str(entry["task_id"])]
    tests = list(record["test_list"])
    imports = "\n".join(record.get("test_imports") or [])
    text = f"{record['prompt'].strip()}\nYour code should pass this test:\n{tests[0]}\n\n{CODE_FORMAT}"
    return Task(
        id=f"mbpp/{record['task_id']}", domain="coding", source="mbpp", bin=entry["bin"], text=text,
        canonical=record["code"], stub="",
        visible_prefix=imports, visible_suffix=f"{tests[0]}\nprint('the example test passes')\n",
        hidden_prefix=imports, hidden_suffix="\n".join(tests) + "\n",
    )


_UNITTEST_MAIN = """
import unittest as _bench_unittest
_bench_suite = _bench_unittest.TestSuite()
for _bench_name in {classes!r}:
    _bench_suite.addTests(_bench_unittest.defaultTestLoader.loadTestsFromTestCase(globals()[_bench_name]))
_bench_result = _bench_unittest.TextTestRunner(verbosity=0).run(_bench_suite)
raise SystemExit(0 if _bench_result.wasSuccessful() and _bench_result.testsRun else 1)
"""


def _classeval_task(root: Path, entry: dict[str, Any]) -> Task:
    record = _classeval(root)[entry["task_id"]]
    skeleton = record["skeleton"]
    imports = record.get("import_statement") or []
    if isinstance(imports, str):
        imports = [line for line in imports.strip("[]").replace("'", "").split(", ") if line]
    header = "\n".join(imports)
    classes = record.get("test_classes") or []
    if isinstance(classes, str):
        classes = [name for name in classes.strip("[]").replace("'", "").split(", ") if name]
    text = (f"Complete the following Python class so that every method does what its docstring says.\n\n"
            f"```python\n{skeleton.strip()}\n```\n\n{CODE_FORMAT}")
    return Task(
        id=f"classeval/{record['task_id']}", domain="coding", source="classeval", bin=entry["bin"], text=text,
        entry_point=record.get("class_name", ""), canonical=record["solution_code"], stub=skeleton,
        visible_prefix=header, visible_suffix=_examples_suffix(header, record["solution_code"], skeleton, 20.0),
        hidden_prefix=header, hidden_suffix=f"\n{record['test']}\n{_UNITTEST_MAIN.format(classes=classes)}",
        timeout_s=20.0,
    )


SEARCH_TEXT = "Answer the question by searching the document collection.\nQuestion: {question}"


def _hotpot_task(files: Mapping[str, Path], entry: dict[str, Any]) -> Task:
    questions, _ = _search_set(files, "hotpotqa")
    record = questions[entry["qid"]]
    gold = tuple(dict.fromkeys(title for title, _ in record.get("supporting_facts") or []))
    return Task(
        id=f"hotpotqa/{record['_id']}", domain="search", source="hotpotqa", bin=entry["bin"],
        label=entry.get("label", record.get("level", "")), text=SEARCH_TEXT.format(question=record["question"]),
        answers=(record["answer"],), corpus="hotpotqa", gold_titles=gold,
    )


def _musique_task(files: Mapping[str, Path], entry: dict[str, Any]) -> Task:
    questions, _ = _search_set(files, "musique")
    record = questions[entry["qid"]]
    gold = tuple(p["title"] for p in record.get("paragraphs") or [] if p.get("is_supporting"))
    return Task(
        id=f"musique/{record['id']}", domain="search", source="musique", bin=entry["bin"],
        label=entry.get("label", ""), text=SEARCH_TEXT.format(question=record["question"]),
        answers=(record["answer"], *(record.get("answer_aliases") or [])), corpus="musique", gold_titles=gold,
    )


_CODING = {"humaneval": _humaneval_task, "mbpp_sanitized": _mbpp_task, "mbpp": _mbpp_task,
           "classeval": _classeval_task}
_SEARCH = {"hotpotqa": _hotpot_task, "musique": _musique_task}


SPLITS = ("all", "train", "dev")
SPLIT_ALIASES = {"test": "dev"}
"""Earlier names of the halves: `test` is the dev half (runs recorded before 2026-12-07 name it so). Configurations
were chosen on it, so it is a development set; the held-out verdict is the `holdout` suite's."""


def split_of(task_id: str) -> str:
    """The half of a suite's tasks a task belongs to, from a hash of its id: "train" (weights are fitted there) or
    "dev" (configurations are compared there). Stable across runs, limits and task orders. Nothing is chosen on the
    `holdout` suite, which is apart from both.

    Examples:
        >>> split_of("HumanEval/0") in ("train", "dev")
        True
    """
    return "train" if int(hashlib.sha256(task_id.encode()).hexdigest(), 16) % 2 == 0 else "dev"


def split_name(value: str) -> str:
    """The split `value` names, earlier names included.

    Raises:
        AuctionConfigError: Naming `--split`, when it names none.

    Examples:
        >>> split_name("test"), split_name("train")
        ('dev', 'train')
    """
    name = SPLIT_ALIASES.get(value, value)
    if name not in SPLITS:
        raise AuctionConfigError("--split", f"must be one of {', '.join(SPLITS)}, got {value!r}")
    return name


def load_suite(name: str, *, root: Path | None = None, domains: tuple[str, ...] = DOMAINS,
               limit: int | None = None) -> Suite:
    """Load a suite's tasks (manifest order) and corpora.

    Args:
        name: "smoke" or "bench".
        root: The data root (default: `resolve_root(name)`).
        domains: Which of "coding" and "search" to load.
        limit: At most this many tasks per domain, taken across bins in turn (so a short run still spans them).

    Examples:
        >>> suite = load_suite("smoke")
        >>> [len(suite.tasks[d]) for d in ("coding", "search")]
        [6, 6]
    """
    if name not in SUITES:
        raise AuctionConfigError("--suite", f"must be one of {', '.join(SUITES)}, got {name!r}")
    root = resolve_root(name) if root is None else root
    manifest = _read_json(root / "manifests" / f"{name}.json")
    suite = Suite(name=name, root=root)
    if "coding" in domains:
        suite.tasks["coding"] = _spread([_CODING[e["source"]](root, e) for e in manifest.get("coding", [])], limit)
    if "search" in domains:
        files = _search_files(root, manifest)
        tasks = [_SEARCH[e["source"]](files, e) for e in manifest.get("deep_search", [])]
        suite.tasks["search"] = _spread(tasks, limit)
        for corpus in sorted({task.corpus for task in suite.tasks["search"]}):
            suite.corpora[corpus] = _search_set(files, corpus)[1]
    return suite


def _spread(tasks: list[Task], limit: int | None) -> list[Task]:
    """The first `limit` tasks taking one of each bin in turn (manifest order within a bin); all when no limit."""
    if limit is None or limit >= len(tasks):
        return tasks
    by_bin: dict[str, list[Task]] = {}
    for task in tasks:
        by_bin.setdefault(task.bin, []).append(task)
    bins = sorted(by_bin, key=lambda b: BIN_ORDER.get(b, 9))
    picked: list[Task] = []
    while len(picked) < limit:
        for bin_name in bins:
            if by_bin[bin_name] and len(picked) < limit:
                picked.append(by_bin[bin_name].pop(0))
    keep = {task.id for task in picked}
    return [task for task in tasks if task.id in keep]
