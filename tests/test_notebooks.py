"""Every notebook in `notebooks/` runs top to bottom in a fresh kernel of this interpreter and shows what it promises.

Which pool: the real local pool (`langgraph_sale.local`) when it is installed, else the scripted `fake_pool()`;
`LANGGRAPH_SALE_NOTEBOOK_POOL=fake` forces the fake pool (a few seconds a notebook). On the local pool an auction
takes about a minute on 2 cores, so each cell gets 15 minutes instead of 2.

Which kernel: a kernel spec written to a temporary directory, whose argv starts with `sys.executable`, found by a
`KernelSpecManager` that searches that directory only. Kernel specs installed on the machine (a `python3` spec whose
`python` is whatever PATH finds first, a user's spec pointing to another environment) are never consulted. A probe
cell appended to the in-memory copy of each notebook checks that the kernel's `sys.prefix` is this interpreter's.

The notebooks are globbed, so a new one is executed automatically. Every notebook must run without an error, be
committed without outputs, and pass the checks of the tags its cells carry (`TAG_CHECKS`): `account`,
`answer`, `cost`, `bids`, `jury-heatmap` and `score-chart` (an image/png each), `scores-table`, `events`.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell


def _pool_installed() -> bool:
    from langgraph_sale.local import pool_installed

    return pool_installed()


ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
REAL = os.environ.get("LANGGRAPH_SALE_NOTEBOOK_POOL", "").strip().lower() != "fake" and _pool_installed()
CELL_TIMEOUT_S = 900 if REAL else 120
KERNEL_NAME = "langgraph-sale-test-venv"
PROBE_MARK = "KERNEL-PREFIX="
PROBE = f"import sys\nprint({PROBE_MARK!r} + sys.prefix)\nprint('KERNEL-EXECUTABLE=' + sys.executable)"


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """A spec manager that knows one kernel: ipykernel run by this very interpreter."""
    kernels = tmp_path_factory.mktemp("kernels")
    spec_dir = kernels / KERNEL_NAME
    spec_dir.mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({sys.prefix})",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return KernelSpecManager(kernel_dirs=[str(kernels)])


def _execute(path: Path, specs: KernelSpecManager) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(new_code_cell(PROBE))  # the copy in memory only; the file on disk is not touched
    km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, startup_timeout=120, allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError with the cell's traceback on the first failing cell
    return nb


def _text(cell: nbformat.NotebookNode) -> str:
    parts: list[str] = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            data = output.get("data", {})
            parts.append(data.get("text/markdown") or data.get("text/plain") or "")
    return "".join(parts)


def _has_image(cell: nbformat.NotebookNode) -> bool:
    return any("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


# ---- the checks of each cell tag: (cell, the auction's winner, the pool's bidder names) -> None ----------------------
def _check_account(cell: nbformat.NotebookNode, winner: str, names: list[str]) -> None:
    text = _text(cell)
    assert f"Winner: {winner} (" in text, text
    for section in ("Bids", "Jury", "Scores", "Cost by phase"):
        assert section in text, f"{section!r} missing from the account"


def _check_answer(cell: nbformat.NotebookNode, winner: str, names: list[str]) -> None:
    text = _text(cell)
    assert text.startswith(f"{winner} answered:"), text
    assert text.split(":", 1)[1].strip(), "the winner's answer is empty"


def _check_cost(cell: nbformat.NotebookNode, winner: str, names: list[str]) -> None:
    text = _text(cell)
    for phase in ("bid", "jury", "execute", "total", "auction overhead"):
        assert re.search(rf"^{phase}\b", text, re.M), f"{phase!r} missing from the cost table:\n{text}"


def _check_bids(cell: nbformat.NotebookNode, winner: str, names: list[str]) -> None:
    table = _text(cell)
    assert table.startswith("| bidder |"), table
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    assert [row.split("|")[1].strip() for row in rows] == names


def _check_image(cell: nbformat.NotebookNode, winner: str, names: list[str]) -> None:
    assert _has_image(cell), f"no image/png output in:\n{cell.source[:300]}"


def _check_scores_table(cell: nbformat.NotebookNode, winner: str, names: list[str]) -> None:
    text = _text(cell)
    assert f"| {winner} **(winner)** |" in text, text
    assert text.count("(winner)") == 1


def _check_events(cell: nbformat.NotebookNode, winner: str, names: list[str]) -> None:
    kinds = [line.split()[1] for line in _text(cell).splitlines() if re.match(r"\s*\d+\s+\w+", line)]
    assert kinds[0] == "auction_opened" and kinds[-1] == "outcome", kinds
    assert kinds.count("bid_submitted") + kinds.count("bid_failed") == len(names)
    assert kinds.count("bid_scored") >= 1 and kinds.count("winner") == 1
    # Phases in order: every bid before the first judgment, every judgment before the first score, and so on.
    order = ["auction_opened", "bid_submitted", "jury_scored", "bid_scored", "winner", "executed", "outcome"]
    ranks = [order.index(kind) for kind in kinds if kind in order]
    assert ranks == sorted(ranks), kinds
    assert f"winner {winner}" in _text(cell).splitlines()[-1]


TAG_CHECKS: dict[str, Callable[[nbformat.NotebookNode, str, list[str]], None]] = {
    "account": _check_account,
    "answer": _check_answer,
    "cost": _check_cost,
    "bids": _check_bids,
    "jury-heatmap": _check_image,
    "score-chart": _check_image,
    "scores-table": _check_scores_table,
    "events": _check_events,
}


@pytest.fixture
def notebook_pool(monkeypatch: pytest.MonkeyPatch) -> str:
    """Set the pool the notebooks choose (the kernel inherits this environment); returns "fake" or "local"."""
    if not REAL:
        monkeypatch.setenv("LANGGRAPH_SALE_NOTEBOOK_POOL", "fake")
        return "fake"
    monkeypatch.setenv("LANGGRAPH_SALE_NOTEBOOK_POOL", "local")
    return "local"


def test_the_notebooks_exist() -> None:
    assert {path.name for path in NOTEBOOKS} >= {"quickstart.ipynb", "inside_an_auction.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs in\n{cell.source}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs(path: Path, kernel_specs: KernelSpecManager, notebook_pool: str) -> None:
    nb = _execute(path, kernel_specs)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    for cell in code:
        assert cell.execution_count is not None, f"not executed:\n{cell.source}"
        assert not [o for o in cell.outputs if o.output_type == "error"], f"error in:\n{cell.source}"

    probe = _text(code[-1])
    assert f"{PROBE_MARK}{sys.prefix}\n" in probe, f"the kernel is not this interpreter ({sys.executable}):\n{probe}"

    tagged: dict[str, Any] = {tag: cell for cell in code for tag in _tags(cell)}
    if "setup" in tagged:
        assert _text(tagged["setup"]).startswith(f"Pool: {notebook_pool} ("), _text(tagged["setup"])
    if "run" not in tagged:
        return
    match = re.search(r"winner (\w+)", _text(tagged["run"]))
    assert match, _text(tagged["run"])
    winner = match.group(1)
    if notebook_pool == "fake":
        from langgraph_sale.testing import fake_pool

        names = [bidder.name for bidder in fake_pool()]
        assert winner == "small"  # cheap where cheap suffices: the fake pool's scripted outcome
    else:
        from langgraph_sale.local import MODELS

        names = [model.bidder for model in MODELS]
    assert winner in names
    for tag, check in TAG_CHECKS.items():
        if tag in tagged:
            check(tagged[tag], winner, names)
