"""The learned value's feature ablation and its held-out evaluation, in the form the reports read.

`ablate_value` fits the learned value (`value_fit.fit_value_model`) on each of several feature sets and measures each
on its out-of-fold predictions (`langgraph-sale fit --value --ablation`): what each feature contributes, and whether
it pays for its calls. `evaluate_value` measures one fitted model on tasks it never saw (`langgraph-sale fit --value
--evaluate MODEL`). Both return a `ValueAblation`, which `langgraph-sale report`'s `ablation` block renders
(docs/method.md §6.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from langgraph_sale.errors import AuctionConfigError, load_model, save_model
from langgraph_sale.fit import RoutingSummary
from langgraph_sale.fit_examples import FitExample
from langgraph_sale.value import BID_FEATURES, JURY_FEATURES, VALUE_FEATURES, ValueModel
from langgraph_sale.value_fit import ValueFit, fit_value_model, measure_value

__all__ = ["ABLATION_SETS", "AblationRow", "ValueAblation", "ablate_value", "evaluate_value"]

ABLATION_SETS: dict[str, tuple[str, ...]] = {
    "bid": BID_FEATURES,
    "self": ("self_score",),
    "peer": ("peer_score",),
    "memory": ("memory_rate",),
    "bid + self": (*BID_FEATURES, "self_score"),
    "bid + jury": (*BID_FEATURES, *JURY_FEATURES),
    "bid + memory": (*BID_FEATURES, "memory_rate"),
    "all": VALUE_FEATURES,
}
"""The feature sets `ablate_value` compares by default: each family alone and added to the bid's own."""


class AblationRow(BaseModel):
    """One feature set of an ablation: what its cross-fitted model predicts and how it routes."""

    name: str
    features: tuple[str, ...]
    auc_success: dict[str, float | None]
    auc_gain: float | None
    w_value: float
    routing: RoutingSummary
    """The out-of-fold routing with the chosen `w_value`, the jury's calls charged where the set reads them."""


class ValueAblation(BaseModel):
    """An ablation of the learned value's features (`langgraph-sale fit --value --ablation` writes it as JSON)."""

    tasks: int
    folds: int
    lam: float
    memory_k: int | None = None
    """How many similar tasks the memory feature read (None: no memory feature, its sets left out)."""
    rows: list[AblationRow]
    reference: dict[str, RoutingSummary] = {}
    """The same tasks routed with no model: "always_cheapest", "always_largest", "oracle"."""

    def save(self, path: str | Path) -> None:
        save_model(self, path)

    @classmethod
    def load(cls, path: str | Path) -> ValueAblation:
        """Load an ablation from JSON.

        Raises:
            AuctionConfigError: When the file is missing or does not hold a valid ablation.
        """
        return load_model(cls, path, field="ablation", missing="no ablation file")


def ablate_value(examples: Sequence[FitExample], sets: dict[str, tuple[str, ...]] | None = None, *,
                 lam: float | None = None, folds: int = 5, c: float = 1.0, memory_k: int | None = None
                 ) -> ValueAblation:
    """Fit the learned value on each feature set and measure each on its out-of-fold predictions.

    A set that needs the memory feature is measured only when `memory_rates` filled it in (`memory_k`: how many
    similar tasks it read, for the record).

    Examples:
        >>> from langgraph_sale.testing import toy_fit_examples
        >>> ablation = ablate_value(toy_fit_examples(range(20), small_below=10, large_below=16, jury=True), folds=4)
        >>> [row.name for row in ablation.rows]
        ['bid', 'self', 'peer', 'bid + self', 'bid + jury']
    """
    chosen = ABLATION_SETS if sets is None else sets
    has_memory = all(c.memory_rate is not None for e in examples for c in e.candidates)
    rows, last = [], None
    for name, features in chosen.items():
        if "memory_rate" in features and not has_memory:
            continue
        last = fit_value_model(examples, lam=lam, features=features, folds=folds, c=c)
        rows.append(_row(name, last))
    if last is None:
        raise AuctionConfigError("sets", "no feature set to measure (a memory set needs memory_rates first)")
    return ValueAblation(tasks=len(examples), folds=folds, lam=last.lam, memory_k=memory_k if has_memory else None,
                         rows=rows, reference=_reference(last))


def _row(name: str, measured: ValueFit) -> AblationRow:
    return AblationRow(name=name, features=measured.model.features, auc_success=measured.auc_success,
                       auc_gain=measured.auc_gain, w_value=measured.model.w_value, routing=measured.routing["value"])


def _reference(measured: ValueFit) -> dict[str, RoutingSummary]:
    return {k: v for k, v in measured.routing.items() if k != "value"}


def evaluate_value(model: ValueModel, examples: Sequence[FitExample], *, lam: float | None = None,
                   name: str | None = None) -> ValueAblation:
    """`value_fit.measure_value` (a fitted model measured on tasks it never saw) in the ablation's form: one row,
    named `name` or by the model's features, and `folds` 0, as nothing is refitted. `lam` and the errors raised are
    `measure_value`'s.

    Examples:
        >>> from langgraph_sale.testing import toy_fit_examples
        >>> fitted = fit_value_model(toy_fit_examples(range(20), small_below=10, large_below=16), folds=4)
        >>> unseen = toy_fit_examples(range(5, 25, 2), small_below=11, large_below=17)
        >>> [(row.name, row.auc_gain > 0.5) for row in evaluate_value(fitted.model, unseen, name="bid").rows]
        [('bid', True)]
    """
    measured = measure_value(model, examples, lam=lam)
    row = _row(name or ", ".join(model.features), measured)
    return ValueAblation(tasks=len(examples), folds=0, lam=measured.lam, rows=[row], reference=_reference(measured))
