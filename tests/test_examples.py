"""Every example in `examples/` runs offline (scripted fakes, no model server) and prints its key line; the demo
(`quickstart.py`, `make demo`) runs on the real local pool.

The examples are found by glob, so a new one is covered the day it lands: it must exit 0 and print something, and
gets a stronger check once its key line is listed in `KEY_LINES`. Each runs in a subprocess, as a reader would run
it (`python examples/<name>.py`), with no API key in the environment. The real-pool and HotpotQA runs are
`@pytest.mark.real(...)`: skipped with the reason where the part is missing, failed under CI (tests/support.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import hotpotqa_dir

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(path for path in (ROOT / "examples").glob("*.py") if not path.name.startswith("_"))

# quickstart.py has no offline mode: it is the real-model demo (`make demo`). It runs on the installed pool below
# (`test_the_demo_runs_on_the_real_pool`, under a minute once `make pool` has built llama-server), never offline; its
# offline twin quickstart_fake.py runs with the others. Each real-pool example with the line it must print.
REAL_POOL_ONLY = {"quickstart.py": "Winner: "}
OFFLINE = [path for path in EXAMPLES if path.name not in REAL_POOL_ONLY]

KEY_LINES = {
    "quickstart_fake.py": "Winner: small",
    "host_graph.py": "Host reply: Solved by small",
    "decide_mode.py": "Routed to host node: quick_answer",
    "auction_as_tool.py": "Tool result (run_auction): def solve",
    "coding_pool.py": "Deliverable: the answer defines is_palindrome: True; evaluated: success=True",
    "search_pool.py": "Deliverable: a short answer: True (\"Send, one branch per bidder: LangGraph's map-reduce\"); "
                      "evaluated: success=True",
    "memory_stream.py": "provisional large -> winner small  outbid=True outbid_by=small recalled=1",
    "chat_node.py": "Answer from small: def solve",
}


def run_example(path: Path, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run one example as a reader would; `timeout_s` is a backstop against a hang, not a claim about speed."""
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, timeout=timeout_s,
                          cwd=ROOT, env=env, check=False)


@pytest.fixture(scope="module")
def offline_runs(request: pytest.FixtureRequest) -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    """The selected examples, started two at a time (the suite's budget is under a minute on 2 cores)."""
    selected = [item.callspec.params["example"] for item in request.session.items
                if getattr(item, "originalname", "") == "test_example_runs_offline" and hasattr(item, "callspec")]
    with ThreadPoolExecutor(max_workers=2) as workers:
        yield {path.name: workers.submit(run_example, path) for path in selected}


@pytest.mark.parametrize("example", OFFLINE, ids=lambda path: path.name)
def test_example_runs_offline(example: Path, offline_runs: dict[str, Future[subprocess.CompletedProcess[str]]]
                              ) -> None:
    result = offline_runs[example.name].result()
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "an example should print what it shows"
    assert KEY_LINES.get(example.name, "") in result.stdout


@pytest.mark.real("pool")
@pytest.mark.parametrize("example", [ROOT / "examples" / name for name in REAL_POOL_ONLY], ids=lambda path: path.name)
def test_the_demo_runs_on_the_real_pool(example: Path) -> None:
    # One auction between the installed local models, then the largest alone: about 40 s on 2 idle cores.
    result = run_example(example, timeout_s=900)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    assert "Local pool ready in" in result.stdout and REAL_POOL_ONLY[example.name] in result.stdout
    assert "Winner: none" not in result.stdout, result.stdout[-3000:]


# The pool examples on the real local models: each answer must be the deliverable (a definition of the requested
# function; a short answer), and the evaluator must have run (success True or False, never None).
REAL_POOL_RUNS = {
    "coding_pool.py": re.compile(r"Deliverable: the answer defines is_palindrome: True; "
                                 r"evaluated: success=(True|False)"),
    "search_pool.py": re.compile(r"Deliverable: a short answer: True \(.*\); evaluated: success=(True|False)"),
}


@pytest.mark.real("pool")
@pytest.mark.parametrize("name", sorted(REAL_POOL_RUNS))
def test_the_pool_examples_deliver_on_the_real_pool(name: str) -> None:
    result = run_example(ROOT / "examples" / name, "--local", timeout_s=900)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    assert REAL_POOL_RUNS[name].search(result.stdout), result.stdout[-3000:]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_says_how_to_run_it(example: Path) -> None:
    source = example.read_text(encoding="utf-8")
    assert source.startswith('"""'), "a module docstring first, saying what the example shows"
    assert f"python examples/{example.name}" in source
    if not example.name.startswith("quickstart"):
        assert "--local" in source, "every example also runs on the real local pool"


def test_every_listed_key_line_belongs_to_an_example() -> None:
    assert set(KEY_LINES) | set(REAL_POOL_ONLY) <= {path.name for path in EXAMPLES}


@pytest.mark.real("hotpotqa")
def test_search_example_over_hotpotqa_when_the_shared_data_is_present() -> None:
    hotpotqa = hotpotqa_dir()
    assert hotpotqa is not None
    result = run_example(ROOT / "examples" / "search_pool.py", "--hotpotqa", "0", "--data", str(hotpotqa.parent))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Corpus: 994 passages." in result.stdout and "[execute_small] search -> [1]" in result.stdout
