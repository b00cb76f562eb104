"""`langgraph-sale report`'s blocks: a published run on the fake pool, its report written once and checked, and each
kind of table rendered into a document between markers (`langgraph_sale.bench.publish`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from langgraph_sale.bench.publish import ReportDiffers, load_spec, publish
from langgraph_sale.cli import main
from langgraph_sale.errors import AuctionConfigError

SPEC = {
    "records": {},
    "presets": {"SMOKE": "--suite smoke --pool fake --domains coding --orders 2"},
    "runs": {"smoke": {"args": "$SMOKE --methods alone,oracle,sale_nomem,sale,sale_skip", "plots": True}},
}
DOC = """# Results

<!-- report:goals rows="smoke:sale=SALE;smoke:sale_skip=SALE + skip" -->
stale text, made again
<!-- /report -->

- A list item with a table:

  <!-- report:table rows="smoke:alone_*;smoke:sale=the auction" columns=pass,cost,ratio,largest -->
  <!-- /report -->

<!-- report:bins rows=smoke:* -->
<!-- /report -->
<!-- report:skip pairs="smoke:sale:sale_skip=fake" -->
<!-- /report -->
<!-- report:phases rows=smoke:sale -->
<!-- /report -->
<!-- report:break-even rows=smoke:sale -->
<!-- /report -->
<!-- report:jury run=smoke -->
<!-- /report -->
<!-- report:weights files="paper default=;shipped=langgraph_sale/weights/local_pool.json" -->
<!-- /report -->
<!-- report:commands runs=smoke -->
<!-- /report -->
<!-- report:ablation file=ablation.json -->
<!-- /report -->
<!-- report:intervals rows="smoke:alone_*;smoke:sale=the auction" -->
<!-- /report -->
<!-- report:caps rows="smoke:alone_*" -->
<!-- /report -->
<!-- report:table rows="smoke:sale" columns=exec,auction,exec_ratio -->
<!-- /report -->
<!-- report:pareto rows="smoke:alone_*;smoke:oracle;smoke:sale" file=figures/pareto.png link=figures/pareto.png -->
<!-- /report -->
"""


_ROUTED = {"tasks": 4, "passed": 3, "pass_rate": 0.75, "total_cost_usd": 4e-4, "mean_loss": -0.5, "worst_loss": 0.1,
           "picks": {"small": 2, "large": 2}}
ABLATION = {"tasks": 4, "folds": 2, "lam": 100.0, "reference": {"always_largest": {**_ROUTED, "passed": 2}},
            "rows": [{"name": "bid", "features": ["entropy"], "auc_success": {"small": 0.61, "large": None},
                      "auc_gain": 0.55, "w_value": 2.0, "routing": _ROUTED}]}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with one published run (the fake pool, no record), its report written."""
    root = tmp_path_factory.mktemp("repo")
    (root / "docs" / "results").mkdir(parents=True)
    (root / "docs" / "results" / "published.json").write_text(json.dumps(SPEC), encoding="utf-8")
    (root / "langgraph_sale" / "weights").mkdir(parents=True)
    (root / "langgraph_sale" / "weights" / "local_pool.json").write_text(
        json.dumps({"w_cost": 0.0, "w_entropy": -1.0, "w_jury": {"small": 0.0}, "jury_default": 0.0}))
    (root / "ablation.json").write_text(json.dumps(ABLATION))
    written = publish(root=root, docs=False, say=lambda _: None)
    folder = root / "docs" / "results" / "smoke"
    assert {path.name for path in written} == {"results.md", "summary.json", "pareto.png", "win_share.png"}
    assert all(path.parent == folder for path in written)
    return root


def test_a_published_run_is_written_once_then_checks_clean(published: Path) -> None:
    assert publish(root=published, docs=False, say=lambda _: None) == []  # the same replay, the same bytes
    report = published / "docs" / "results" / "smoke" / "results.md"
    report.write_text(report.read_text().replace("| sale |", "| sale (edited) |"))
    with pytest.raises(ReportDiffers, match=r"results.md differs(.|\n)*\+\| sale \|"):
        publish(root=published, docs=False, check=True, say=lambda _: None)
    publish(root=published, docs=False, say=lambda _: None)  # written back


def test_every_kind_of_block_is_rendered_from_the_summaries(published: Path) -> None:
    document = published / "README.md"
    document.write_text(DOC)
    publish(root=published, replays=False, say=lambda _: None)
    text = document.read_text()
    assert "stale text" not in text
    summary = json.loads((published / "docs" / "results" / "smoke" / "summary.json").read_text())
    large = summary["summary"]["coding"]["alone_large"]
    assert f"large alone passes {100 * large['pass']['mean']:.1f}%" in text  # the goals' baseline line
    assert "| SALE + skip |" in text and "| SALE configuration |" in text
    assert "  | the auction |" in text  # indented inside its list item
    assert "| large alone |" in text and "1.00×" in text  # the baseline against itself
    assert "langgraph-sale bench --suite smoke --pool fake" in text and "--out bench-results/smoke" in text
    assert "| `w_entropy` | +1 | -1 |" in text
    assert "| bid | 0.61 | - | 0.55 | 3/4 | 100 | -0.500 |" in text and "| *always largest* |" in text
    sale = summary["intervals"]["coding"]["sale"]["pass"]
    assert (f"| the auction | {100 * sale['mean']:.1f} [{100 * sale['low']:.1f}, {100 * sale['high']:.1f}] |"
            in text)
    assert "pass@1 vs large alone (points, paired)" in text
    caps = summary["cap_shares"]["coding"]["alone_small"]
    first_bin = next(b for b in ("easy", "medium", "hard", "xhard") if b in caps)
    hits, of = caps[first_bin]
    assert f"| small alone | {hits} of {of} ({hits / of:.0%}) |" in text
    assert f"| sale | {summary['summary']['coding']['sale']['exec_tokens']['mean']:,.0f}" in text
    assert "![pass@1 against cost, with 95% intervals over tasks](figures/pareto.png)" in text
    assert (published / "figures" / "pareto.png").read_bytes().startswith(b"\x89PNG")
    # A second rendering changes nothing, and the check agrees.
    assert publish(root=published, replays=False, say=lambda _: None) == []
    publish(root=published, replays=False, check=True, say=lambda _: None)
    document.write_text(text.replace("| SALE + skip |", "| SALE + skip, by hand |"))
    with pytest.raises(ReportDiffers, match="README.md differs"):
        publish(root=published, replays=False, check=True, say=lambda _: None)


@pytest.mark.parametrize(("block", "error"), [
    ("<!-- report:nonsense run=smoke -->", "unknown block report:nonsense"),
    ("<!-- report:table rows=other:sale -->", "no published run named 'other'"),
    ("<!-- report:table rows=smoke:magic -->", "run smoke has no method 'magic'"),
    ("<!-- report:table rows=smoke:sale columns=pass,speed -->", "unknown columns \\['speed'\\]"),
    ("<!-- report:table smoke -->", "options must be key=value"),
    ("<!-- report:table rows=smoke:sale colour=red -->", "unexpected keyword argument 'colour'"),
])
def test_a_bad_block_is_named(published: Path, block: str, error: str) -> None:
    (published / "README.md").write_text(f"{block}\n<!-- /report -->\n")
    with pytest.raises(AuctionConfigError, match=f"README.md, block report:.*{error}"):
        publish(root=published, replays=False, say=lambda _: None)


def test_the_spec_names_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "docs" / "results").mkdir(parents=True)
    spec = tmp_path / "docs" / "results" / "published.json"
    spec.write_text(json.dumps({**SPEC, "runs": {"x": {"args": "$NOPE"}}}))
    with pytest.raises(AuctionConfigError, match=r"run x: unknown preset \$NOPE"):
        load_spec(root=tmp_path)
    spec.write_text(json.dumps({**SPEC, "runs": {"x": {"record": "gone", "args": "--suite smoke"}}}))
    with pytest.raises(AuctionConfigError, match="run x: unknown record 'gone'"):
        load_spec(root=tmp_path)
    assert main(["report", "--root", str(tmp_path / "nowhere")]) == 2


def test_the_command_line_checks_and_says_so(published: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (published / "README.md").write_text(DOC)
    assert main(["report", "--root", str(published), "--docs-only", "--check"]) == 1
    assert "README.md differs" in capsys.readouterr().out
    assert main(["report", "--root", str(published), "--docs-only"]) == 0
    assert main(["report", "--root", str(published), "--docs-only", "--check"]) == 0
    assert "nothing to change" in capsys.readouterr().out
