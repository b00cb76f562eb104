"""Helpers shared by the auction graph tests: a scripted three-bidder pool, its task, and a sync/async runner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
