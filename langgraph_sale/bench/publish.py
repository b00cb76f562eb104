"""`langgraph-sale report`: every published figure made again from the committed record, by one command.

    langgraph-sale report                        # replay every published run offline, rewrite its report and the docs
    langgraph-sale report --runs coding80-test-default --check    # replay one and say what differs; write nothing
    langgraph-sale report --docs-only            # the docs' tables from the committed summaries, no replay

The published runs are listed in `docs/results/published.json`: each has a name, the record it replays from (a
folder of `docs/results/runs/`, or none for the fake pool, which needs no record) and its `langgraph-sale bench`
options, written with the file's `presets` (`$CODING`, `$M`, ...) as the docs write them. A run is replayed with
`--reuse <record> --offline` into a scratch folder: no model server starts and a call missing from the record stops
it, naming the call. Its `results.md` and `summary.json` (every figure, nothing that depends on where or when it ran)
are then written to the run's folder beside the record (`docs/results/runs/<record>/<run>/`), with its plots where
the run asks for them.

The docs' tables are not copied by hand: each lies between an opening marker that says how to make it and a
closing one,

    <!-- report:table rows="coding80:alone_*;coding80:sale=SALE" columns=pass,cost -->
    ...generated...
    <!-- /report -->

and is rendered from the committed `summary.json` files (`langgraph_sale.bench.blocks`: `BLOCKS` has the kinds and
their options). `--check`
writes nothing and fails on the first character that differs; the test suite runs it on a slice of the runs
(`tests/test_replay.py`), so any change that moves a published number must regenerate the reports in its commit.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph_sale.bench.blocks import BLOCKS, Summaries, render_document
from langgraph_sale.errors import AuctionConfigError

__all__ = ["PublishedRun", "load_spec", "replay", "render_document", "publish", "add_parser", "BLOCKS",
           "ReportDiffers"]

SPEC = Path("docs/results/published.json")
DOCUMENTS = (Path("docs/RESULTS.md"), Path("docs/benchmark.md"), Path("docs/method.md"), Path("README.md"))
PUBLISHED_FILES = ("results.md", "summary.json")
PLOTS = ("pareto.png", "win_share.png")
class ReportDiffers(Exception):
    """A regenerated report or table is not the committed one (`--check`)."""


# ---- the published runs ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishedRun:
    """One run of `published.json`: its name, its record (None: a pool that needs none), its bench options."""

    name: str
    record: Path | None
    args: tuple[str, ...]
    folder: Path
    """Where its results.md and summary.json are committed."""
    plots: bool = False

    def command(self) -> str:
        """The command that replays it from the record, as a user types it."""
        replay = f" --reuse {self.record} --offline" if self.record is not None else ""
        return f"langgraph-sale bench {shlex.join(self.args)}{replay} --out bench-results/{self.name}"


def load_spec(path: Path = SPEC, *, root: Path = Path(".")) -> dict[str, PublishedRun]:
    """The runs of a `published.json`, by name, in file order.

    Raises:
        AuctionConfigError: When the file is missing or a run names an unknown preset or record.
    """
    file = root / path
    try:
        spec = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AuctionConfigError(str(path), f"cannot read {file}: {err}") from err
    presets: dict[str, str] = spec.get("presets", {})
    runs = {}
    for name, entry in spec.get("runs", {}).items():
        text = re.sub(r"\$([A-Z_]+)", functools.partial(_preset, presets, run=name), entry["args"])
        if entry.get("record") and entry["record"] not in spec["records"]:
            raise AuctionConfigError(str(path), f"run {name}: unknown record {entry['record']!r}")
        record = Path(spec["records"][entry["record"]]) if entry.get("record") else None
        folder = Path(entry.get("folder") or (record / name if record is not None else f"docs/results/{name}"))
        runs[name] = PublishedRun(name, record, tuple(shlex.split(text)), folder, bool(entry.get("plots")))
    return runs


def _preset(presets: Mapping[str, str], match: re.Match[str], *, run: str) -> str:
    key = match.group(1)
    if key not in presets:
        raise AuctionConfigError(str(SPEC), f"run {run}: unknown preset ${key}")
    return presets[key]


def replay(run: PublishedRun, work: Path, *, root: Path = Path(".")) -> Path:
    """Replay one run into `work/<name>` (offline from its record); returns the folder.

    Raises:
        AuctionConfigError: When the replay does not complete (a call the record lacks: the message names it).
    """
    from langgraph_sale.bench.cli import add_arguments, config_from
    from langgraph_sale.bench.runner import run_bench

    root, out = root.resolve(), (work / run.name).resolve()
    argv = [*run.args, "--out", str(out), "--fresh", "--quiet"]
    if run.record is not None:
        if not (root / run.record).is_dir():
            raise AuctionConfigError("report", f"run {run.name}: its record {root / run.record} does not exist")
        argv += ["--reuse", str(root / run.record), "--offline"]
    parser = argparse.ArgumentParser(prog="langgraph-sale bench")
    add_arguments(parser)
    args = parser.parse_args(argv)
    said: list[str] = []
    # The published runs name their weights relative to the repository.
    with _chdir(root):
        result = run_bench(config_from(args, argv), echo=said.append)
    if result.status != "complete":
        raise AuctionConfigError("report", f"run {run.name} did not replay: {' '.join(said)[-800:]}")
    return out


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:  # contextlib.chdir is Python 3.11+
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


# ---- the command --------------------------------------------------------------------------------------------------
def publish(*, root: Path = Path("."), names: Sequence[str] | None = None, check: bool = False, docs: bool = True,
            replays: bool = True, say: Callable[[str], None] = print) -> list[Path]:
    """Replay the published runs (all, or `names`) and write their reports, then the docs' tables; returns the
    files written (or, with `check`, raises `ReportDiffers` at the first file that would change)."""
    runs = load_spec(root=root)
    unknown = sorted(set(names or ()) - set(runs))
    if unknown:
        raise AuctionConfigError("--runs", f"no published runs {unknown}; known: {', '.join(runs)}")
    changed: list[Path] = []
    if replays:
        with tempfile.TemporaryDirectory(prefix="sale-report-") as scratch:
            for name in names or runs:
                run = runs[name]
                say(f"replaying {name}: {run.command()}")
                out = replay(run, Path(scratch), root=root)
                files = [*PUBLISHED_FILES, *(PLOTS if run.plots and not check else ())]
                for file in files:
                    changed += _put(out / file, root / run.folder / file, check=check and file in PUBLISHED_FILES)
    if docs:
        summaries = Summaries(runs, root, spec=SPEC)
        for document in DOCUMENTS:
            path = root / document
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            changed += _write(path, render_document(text, summaries, where=str(document)), text, check=check)
        if not check:  # figures are made again, never checked: a matplotlib release may change a pixel
            for file, image in summaries.figures.items():
                target = root / file
                if not (target.is_file() and target.read_bytes() == image):
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(image)
                    changed.append(target)
    return changed


def _put(source: Path, target: Path, *, check: bool) -> list[Path]:
    if not source.is_file():
        return []
    if source.suffix == ".png":  # plots are made again, never checked: a matplotlib release may change a pixel
        if target.is_file() and target.read_bytes() == source.read_bytes():
            return []
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return [target]
    text = source.read_text(encoding="utf-8")
    return _write(target, text, target.read_text(encoding="utf-8") if target.is_file() else None, check=check)


def _write(path: Path, text: str, before: str | None, *, check: bool) -> list[Path]:
    if text == before:
        return []
    if check:
        raise ReportDiffers(f"{path} differs from what the record gives:\n{_first_difference(before or '', text)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return [path]


def _first_difference(committed: str, made: str) -> str:
    import difflib

    diff = difflib.unified_diff(committed.splitlines(), made.splitlines(), "committed", "from the record", n=1,
                                lineterm="")
    return "\n".join(list(diff)[:40])


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `report` on the `langgraph-sale` subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report", help="make every published table again from the committed record",
        description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", default=None, help="comma list of published runs to replay (default all)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; fail (exit 1) where a report or table differs from the committed one")
    parser.add_argument("--docs-only", action="store_true",
                        help="only the docs' tables, from the committed summaries (no replay)")
    parser.add_argument("--no-docs", action="store_true", help="only the runs' reports, not the docs' tables")
    parser.add_argument("--root", default=".", help="the repository (default: the working directory)")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """`langgraph-sale report`; 0 done (or nothing differs with --check), 1 something differs."""
    names = [n.strip() for n in args.runs.split(",") if n.strip()] if args.runs else None
    try:
        written = publish(root=Path(args.root), names=names, check=args.check, docs=not args.no_docs,
                          replays=not args.docs_only)
    except ReportDiffers as differs:
        print(f"langgraph-sale report: {differs}")
        return 1
    print("nothing to change" if not written else "wrote " + ", ".join(str(p) for p in written))
    return 0
