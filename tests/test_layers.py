"""The import contract: the auction's core imports none of the extras.

The extras (the local model pool, pool files, the sandbox and search tools, the weight fit, the PostgreSQL stores,
the Studio graphs, the scripted fakes, the embedders, the benchmark and the command line) build on the core and are
pulled in by their own install extras; the core must run with none of them. Every `import` of every core module is
read from its source (module level and inside functions alike; docstrings are not code) and checked against that
list.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "langgraph_sale"
EXTRAS = ("local", "local_install", "local_server", "tools", "sandbox", "sandbox_boundary", "search",
          "sandbox_bootstrap", "agents", "fit", "fit_examples", "fit_program", "value_fit", "value_ablation",
          "stores", "studio", "testing", "fake_endpoint", "embeddings", "bench", "cli", "poolfile",
          "sandbox_escapes")
"""Modules and subpackages of `langgraph_sale` that are not the core (see docs/architecture.md)."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_extra(module: str) -> bool:
    parts = module.split(".")
    return len(parts) > 1 and parts[0] == "langgraph_sale" and parts[1] in EXTRAS


CORE = sorted(path for path in PACKAGE.rglob("*.py") if not _is_extra(_module_name(path)))


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]  # from langgraph_sale import tools
    return names


def test_the_core_is_the_auction_and_every_extra_is_outside_it() -> None:
    core = {_module_name(path) for path in CORE}
    assert {"langgraph_sale.graph", "langgraph_sale.options", "langgraph_sale.phases.decide",
            "langgraph_sale.node", "langgraph_sale.memory", "langgraph_sale.scoring"} <= core
    assert not any(_is_extra(name) for name in core)
    for extra in EXTRAS:
        assert (PACKAGE / f"{extra}.py").is_file() or (PACKAGE / extra).is_dir(), extra


@pytest.mark.parametrize("path", CORE, ids=lambda path: _module_name(path))
def test_a_core_module_imports_no_extra(path: Path) -> None:
    extras = [name for name in _imports(path) if _is_extra(name)]
    assert not extras, f"{_module_name(path)} imports {extras}: the core must not depend on the extras"


def test_the_contract_catches_an_import_of_an_extra(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text("def f():\n    from langgraph_sale.local import MODELS\n    from langgraph_sale import fit\n")
    assert {name for name in _imports(source) if _is_extra(name)} == {
        "langgraph_sale.local", "langgraph_sale.local.MODELS", "langgraph_sale.fit"}
