"""The judges: a coding answer passes when its code passes the task's own tests in the sandbox; a search answer
passes on exact match (SQuAD normalisation) with the gold answer or an alias, and its F1 is reported beside it.

The tests an agent may run while it works (`Task.visible_program`: the examples shown in the task) are never the
judge's tests (`Task.hidden_program`: the full suite).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable

from langgraph_sale.agents import extract_code

__all__ = ["extract_code", "extract_answer", "normalize_answer", "exact_match", "f1_score", "best_match"]

_ANSWER = re.compile(r"ANSWER\s*:\s*(.*)", re.I)


def extract_answer(text: str) -> str:
    """The short answer of a search agent: what follows the last `ANSWER:`, else the first non-empty line.

    Examples:
        >>> extract_answer("SEARCH: x\\nANSWER: Paris.")
        'Paris.'
    """
    found = _ANSWER.findall(text)
    if found:
        return str(found[-1]).strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces.

    Examples:
        >>> normalize_answer("The  Eiffel Tower!")
        'eiffel tower'
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> bool:
    """Exact match after normalisation."""
    return normalize_answer(prediction) == normalize_answer(gold)


def f1_score(prediction: str, gold: str) -> float:
    """Token F1 after normalisation (SQuAD).

    Examples:
        >>> round(f1_score("Eiffel Tower in Paris", "the Eiffel Tower"), 3)
        0.667
    """
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = Counter(predicted) & Counter(expected)
    same = sum(common.values())
    if not predicted or not expected:
        return float(predicted == expected)
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_match(prediction: str, golds: Iterable[str]) -> tuple[bool, float]:
    """(exact match, F1) of a prediction against the best of several gold answers."""
    golds = list(golds)
    return (any(exact_match(prediction, gold) for gold in golds),
            max((f1_score(prediction, gold) for gold in golds), default=0.0))
