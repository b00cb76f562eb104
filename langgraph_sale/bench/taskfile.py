"""Your own tasks: a bench suite from a JSON Lines file, each task with how it is judged.

One JSON object a line:

```json
{"id": "add", "task": "Write add(a, b).", "judge": {"tests": "assert add(2, 3) == 5", "examples": "assert add(1, 1)"}}
{"id": "rhine", "task": "Where does the Rhine rise?", "judge": {"answer": "Switzerland"}, "corpus": "geo.jsonl"}
{"id": "haiku", "task": "Write a haiku about rivers.", "judge": {"callable": "judges:is_haiku"}}
```

- `judge.tests` (a coding task): Python run after the answer's code in the sandbox, by the judge only; it passes when
  the program exits 0. `judge.examples`, if given, is what the agent may run while it works (the write - test - fix
  loop) and what the cascade checks; the tests stay hidden.
- `judge.answer` (a question): exact match after normalisation against the answer and its `aliases`, with F1 (as
  HotpotQA and MuSiQue are judged). `corpus`, if given, names a JSON Lines file of `{"title", "text"}` passages
  beside the task file, which the agent searches with BM25; without one it answers from what it knows.
- `judge.callable` (`module:function`): `function(task, answer)` returns a bool (passed) or a number in [0, 1] (F1;
  passed at 1). The module is imported as it stands, else from the task file's folder.

Optional per task: `domain` ("coding" or "search"; by default coding for `tests`, search otherwise), `bin` (a label
the report groups by; default "all"), `timeout_s` (the sandbox's limit, default 10), `reference` (a known good
answer: the fake pool answers with it, so the harness can be checked on the file before any model runs).

Every method, the report and `langgraph-sale fit --from-bench` work on such a suite as on the bundled ones; its
train and dev halves are a hash of each task's id (`bench.data.split_of`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from langgraph_sale.bench.data import DOMAINS, Suite, Task, _spread
from langgraph_sale.errors import AuctionConfigError

__all__ = ["TaskLine", "load_task_file", "task_file_digest", "call_judge", "FILE_SUITE"]

FILE_SUITE = "file"
"""The suite name of a task file's runs."""


class _Judge(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tests: str | None = None
    examples: str = ""
    answer: str | None = None
    aliases: tuple[str, ...] = ()
    callable: str | None = Field(default=None, pattern=r"^[\w.]+:\w+$")

    @model_validator(mode="after")
    def _one_kind(self) -> _Judge:
        kinds = [k for k in ("tests", "answer", "callable") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of tests, answer or callable (got {', '.join(kinds) or 'none'})")
        if self.examples and self.tests is None:
            raise ValueError("examples go with tests")
        if self.aliases and self.answer is None:
            raise ValueError("aliases go with answer")
        return self


class TaskLine(BaseModel):
    """One line of a task file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    task: str = Field(min_length=1)
    judge: _Judge
    domain: Literal["coding", "search"] | None = None
    bin: str = Field(default="all", min_length=1)
    timeout_s: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    corpus: str | None = None
    reference: str | None = None

    @property
    def kind(self) -> str:
        return "tests" if self.judge.tests is not None else "answer" if self.judge.answer is not None else "callable"

    def as_task(self) -> Task:
        domain = self.domain or ("coding" if self.kind == "tests" else "search")
        answers = (self.judge.answer, *self.judge.aliases) if self.judge.answer is not None else (
            (self.reference,) if self.reference else ())
        return Task(id=self.id, domain=domain, source=FILE_SUITE, bin=self.bin, text=self.task,
                    canonical=self.reference or "" if domain == "coding" else "",
                    visible_suffix=self.judge.examples, hidden_suffix=self.judge.tests or "",
                    timeout_s=self.timeout_s, answers=tuple(a for a in answers if a is not None),
                    corpus=self.corpus or "", judge_fn=self.judge.callable or "")


def load_task_file(path: str | Path, *, domains: tuple[str, ...] = DOMAINS, limit: int | None = None) -> Suite:
    """The suite a task file describes, with the corpora its questions search.

    Raises:
        AuctionConfigError: Naming the file, the line and the field: a line that is not JSON, a missing or unknown
            field, two tasks with one id, a corpus file that is missing or bad, a callable that does not import.

    Examples:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        ...     _ = handle.write('{"id": "a", "task": "Add.", "judge": {"tests": "assert add(1, 1) == 2"}}\\n')
        >>> [t.domain for t in load_task_file(handle.name).tasks["coding"]]
        ['coding']
    """
    file = Path(path)
    where = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuctionConfigError(where, "no such task file") from None
    tasks: list[Task] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        line = _line(raw, f"{where}: line {number}")
        if line.id in seen:
            raise AuctionConfigError(f"{where}: line {number}: id", f"{line.id!r} is used by an earlier task")
        seen.add(line.id)
        if line.judge.callable:
            load_judge(line.judge.callable, file.parent, field=f"{where}: line {number}: judge.callable")
        tasks.append(line.as_task())
    if not tasks:
        raise AuctionConfigError(where, "holds no task")
    suite = Suite(name=FILE_SUITE, root=file.parent)
    for domain in domains:
        chosen = [t for t in tasks if t.domain == domain]
        if chosen:
            suite.tasks[domain] = _spread(chosen, limit)
    for corpus in sorted({t.corpus for ts in suite.tasks.values() for t in ts if t.corpus}):
        suite.corpora[corpus] = _corpus(file.parent / corpus, f"{where}: corpus {corpus}")
    return suite


def _line(raw: str, where: str) -> TaskLine:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise AuctionConfigError(where, f"is not JSON: {err}") from None
    try:
        return TaskLine.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "task"
        reason = {"missing": "is missing", "extra_forbidden": "is not a task file field"}.get(
            first["type"], str(first["msg"]).removeprefix("Value error, "))
        raise AuctionConfigError(f"{where}: {field}", reason) from None


def _corpus(path: Path, where: str) -> list[dict[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise AuctionConfigError(where, f"no such file {path}") from None
    passages = []
    for number, raw in enumerate(lines, start=1):
        if raw.strip():
            try:
                item = json.loads(raw)
                passages.append({"title": str(item["title"]), "text": str(item["text"])})
            except (json.JSONDecodeError, KeyError, TypeError):
                raise AuctionConfigError(f"{where}: line {number}",
                                         'must be a JSON object with "title" and "text"') from None
    return passages


def load_judge(name: str, folder: Path, *, field: str = "judge.callable") -> Callable[[str, str], Any]:
    """The callable `module:function` names: imported as it stands, else from `folder` (the task file's).

    Raises:
        AuctionConfigError: Naming `field`, when the module or the function cannot be found.
    """
    module_name, _, function = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            raise AuctionConfigError(field, f"cannot import {module_name!r} ({err})") from None
    judge = getattr(module, function, None)
    if not callable(judge):
        raise AuctionConfigError(field, f"{module_name} has no function {function!r}")
    return judge  # type: ignore[no-any-return]


def call_judge(task: Task, answer: str) -> tuple[bool, float]:
    """(passed, F1) of an answer by its task's callable: a bool, or a number in [0, 1] (passed at 1).

    Raises:
        AuctionConfigError: When it returns anything else, naming the callable.
    """
    said = load_judge(task.judge_fn, Path.cwd())(task.text, answer)  # its module was found when the file loaded
    if isinstance(said, bool):
        return said, float(said)
    if isinstance(said, (int, float)) and math.isfinite(said) and 0 <= said <= 1:
        return said >= 1, float(said)
    raise AuctionConfigError(task.judge_fn, f"must return a bool or a number in [0, 1], got {said!r}")


def task_file_digest(path: str | Path) -> str:
    """A digest of a task file and every corpus it names, for a run's fingerprint: runs on other tasks never mix."""
    file = Path(path)
    digest = hashlib.sha256(file.read_bytes())
    corpora = sorted({json.loads(raw).get("corpus") or "" for raw in file.read_text(encoding="utf-8").splitlines()
                      if raw.strip()} - {""})
    for corpus in corpora:
        with_path = file.parent / corpus
        digest.update(corpus.encode() + (with_path.read_bytes() if with_path.exists() else b""))
    return digest.hexdigest()[:16]
