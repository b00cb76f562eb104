"""Typed errors raised by the auction.

Every error names the field or input that is wrong, so a misconfigured pool fails where it is built (or where a
run starts) instead of deep inside a parallel branch.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

_Model = TypeVar("_Model", bound=BaseModel)

__all__ = ["AuctionConfigError", "AuctionInputError", "BidTimeoutError", "load_model", "require_int", "require_seconds",
           "require_choice", "is_context_overflow"]


class AuctionConfigError(ValueError):
    """The pool or an auction option is invalid; raised when the graph is built.

    Examples:
        >>> from langgraph_sale.errors import AuctionConfigError
        >>> try:
        ...     raise AuctionConfigError("bidders", "the pool is empty")
        ... except AuctionConfigError as err:
        ...     print(err.field)
        bidders
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class AuctionInputError(AuctionConfigError):
    """The run's input is invalid (for example an empty task); raised when the run starts.

    Examples:
        >>> from langgraph_sale.errors import AuctionInputError
        >>> str(AuctionInputError("auction_task", "must be non-empty text"))
        'auction_task: must be non-empty text'
    """


class BidTimeoutError(Exception):
    """A model call of the auction (a bid or a jury judgment) ran past its timeout.

    Not a subclass of `TimeoutError` on purpose: LangGraph's default `RetryPolicy` does not retry `OSError`
    (and so not `TimeoutError`), while a slow model server is exactly what a retry should cover.

    Examples:
        >>> from langgraph_sale.errors import BidTimeoutError
        >>> str(BidTimeoutError("small", 5.0))
        'small did not answer within 5.0 s'
    """

    def __init__(self, bidder: str, timeout_s: float) -> None:
        self.bidder = bidder
        self.timeout_s = timeout_s
        super().__init__(f"{bidder} did not answer within {timeout_s} s")


def require_name(field: str, value: Any) -> str:
    """`value` as non-empty text (a tool's name, say), else `AuctionConfigError` naming `field`."""
    if not isinstance(value, str) or not value.strip():
        raise AuctionConfigError(field, f"must be a non-empty tool name, got {value!r}")
    return value


def require_int(field: str, value: Any, *, minimum: int = 1) -> int:
    """`value` as an int of at least `minimum` (a bool is not an int here), else `AuctionConfigError` naming `field`.

    Examples:
        >>> require_int("k", 3)
        3
        >>> require_int("k", True)
        Traceback (most recent call last):
        ...
        langgraph_sale.errors.AuctionConfigError: k: must be an int >= 1, got True
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise AuctionConfigError(field, f"must be an int >= {minimum}, got {value!r}")
    return value


def require_seconds(field: str, value: Any, *, optional: bool = True) -> float | None:
    """`value` as a positive, finite number of seconds (or None where `optional`), else `AuctionConfigError`.

    Examples:
        >>> require_seconds("timeout", 2), require_seconds("timeout", None)
        (2.0, None)
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise AuctionConfigError(field, f"must be a positive number of seconds{' or None' if optional else ''}, "
                                 f"got {value!r}")
    return float(value)


def require_choice(field: str, value: Any, choices: Collection[Any]) -> Any:
    """`value` if it is one of `choices`, else `AuctionConfigError` naming them.

    Examples:
        >>> require_choice("route", "decide", ("internal", "decide"))
        'decide'
    """
    if value not in choices:
        raise AuctionConfigError(field, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def load_model(model: type[_Model], path: str | Path, *, field: str, missing: str) -> _Model:
    """A pydantic model read from a JSON file (weights, a value model), or an `AuctionConfigError` naming `field`:
    `missing` at the path when there is no file, what is invalid when the content does not fit."""
    try:
        return model.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise AuctionConfigError(field, f"{missing} at {path}") from err
    except ValueError as err:
        raise AuctionConfigError(field, f"{path} does not hold valid {model.__name__}: {err}") from err


def save_model(model: BaseModel, path: str | Path) -> None:
    """A pydantic model written as indented JSON, the file `load_model` reads back."""
    Path(path).write_text(json.dumps(model.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")


# How providers say a request is longer than the model's context window: llama.cpp's server ("Context size has been
# exceeded", "exceeds the available context size"), OpenAI and vLLM ("maximum context length",
# "context_length_exceeded"), Anthropic ("prompt is too long").
_OVERFLOW = re.compile(r"context size has been exceeded|exceeds? the available context|exceed_context_size|"
                       r"maximum context length|context_length_exceeded|prompt is too long", re.I)


def is_context_overflow(error: BaseException | str) -> bool:
    """Whether a model call failed because its prompt does not fit the model's context window (or an error's text,
    as a failed bid or juror records it, says so): no retry helps, a shorter prompt may.

    Examples:
        >>> is_context_overflow(RuntimeError("Error code: 500 - Context size has been exceeded."))
        True
        >>> is_context_overflow("TimeoutError: no answer in 30 s")
        False
    """
    seen: set[int] = set()
    while isinstance(error, BaseException) and id(error) not in seen:  # the error, then what it was raised from
        seen.add(id(error))
        if _OVERFLOW.search(str(error)):
            return True
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return isinstance(error, str) and _OVERFLOW.search(error) is not None
