"""Judges of the example task file `mine.jsonl` (`"judge": {"callable": "judges:<function>"}`): each takes the task's
text and an agent's answer and returns a bool (passed) or a number in [0, 1] (a partial score)."""

from __future__ import annotations

import re


def prime_between_50_and_60(task: str, answer: str) -> bool:
    """The answer names 53 or 59, and no other number."""
    numbers = re.findall(r"\d+", answer)
    return bool(numbers) and set(numbers) <= {"53", "59"}


def light_primaries(task: str, answer: str) -> float:
    """The share of red, green and blue the answer names (1.0: all three)."""
    named = {colour for colour in ("red", "green", "blue") if re.search(rf"\b{colour}\b", answer, re.I)}
    return len(named) / 3
