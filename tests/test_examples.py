"""Every example in `examples/` runs offline (scripted fakes, no model server) and prints its key line.

The examples are found by glob, so a new one is covered the day it lands: it must exit 0 and print something, and
gets a stronger check once its key line is listed in `KEY_LINES`. Each runs in a subprocess, as a reader would run
it (`python examples/<name>.py`), with no API key in the environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(path for path in (ROOT / "examples").glob("*.py") if not path.name.startswith("_"))

# quickstart.py has no offline mode: it is the real-model demo (`make demo`), which on first use builds llama-server
# (about 6 minutes on 2 cores) and then runs an auction of about 90 s, far beyond this suite's budget. Its offline
# twin quickstart_fake.py runs below; the real pool is tested in tests/test_local.py.
REAL_POOL_ONLY = {"quickstart.py": "needs the real local pool and minutes of CPU; `make demo` runs it"}

KEY_LINES = {
    "quickstart_fake.py": "Winner: small",
    "host_graph.py": "Host reply: Solved by small",
    "decide_mode.py": "Routed to host node: quick_answer",
    "auction_as_tool.py": "Tool result (run_auction): def solve",
    "coding_pool.py": "[execute_small] run_python -> status: ok / output: / all tests passed",
    "search_pool.py": "Success: True",
    "memory_stream.py": "provisional large -> winner small  outbid=True outbid_by=small recalled=1",
}


def run_example(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=env, check=False)


@pytest.fixture(scope="module")
def offline_runs(request: pytest.FixtureRequest) -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    """The selected examples, started two at a time (the suite's budget is under a minute on 2 cores)."""
    selected = [item.callspec.params["example"] for item in request.session.items
                if getattr(item, "originalname", "") == "test_example_runs_offline" and hasattr(item, "callspec")]
    with ThreadPoolExecutor(max_workers=2) as workers:
        yield {path.name: workers.submit(run_example, path) for path in selected if path.name not in REAL_POOL_ONLY}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_runs_offline(example: Path, offline_runs: dict[str, Future[subprocess.CompletedProcess[str]]]
                              ) -> None:
    if example.name in REAL_POOL_ONLY:
        pytest.skip(REAL_POOL_ONLY[example.name])
    result = offline_runs[example.name].result()
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "an example should print what it shows"
    assert KEY_LINES.get(example.name, "") in result.stdout


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_says_how_to_run_it(example: Path) -> None:
    source = example.read_text(encoding="utf-8")
    assert source.startswith('"""'), "a module docstring first, saying what the example shows"
    assert f"python examples/{example.name}" in source
    if not example.name.startswith("quickstart"):
        assert "--local" in source, "every example also runs on the real local pool"


def test_every_listed_key_line_belongs_to_an_example() -> None:
    assert set(KEY_LINES) | set(REAL_POOL_ONLY) <= {path.name for path in EXAMPLES}


def test_search_example_over_hotpotqa_when_the_shared_data_is_present() -> None:
    shared = next((d for d in (ROOT / "shared" / "data", ROOT.parent / "shared" / "data")
                   if (d / "hotpotqa_hipporag").is_dir()), None)
    if shared is None:
        pytest.skip("no shared/data/hotpotqa_hipporag here")
    result = run_example(ROOT / "examples" / "search_pool.py", "--hotpotqa", "0", "--data", str(shared))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Corpus: 994 passages." in result.stdout and "[execute_small] search -> [1]" in result.stdout
