"""Prices as providers charge them: dollars per million input, cached-input and output tokens.

A bidder's price is a `Pricing`. One number (`Bidder(..., 0.18)`) is shorthand for the same price on every kind of
token, and then a call costs `price * (input + output) / 1e6`, as it always has. With separate prices a call costs
its uncached input, its cached input (the part of the prompt the provider served from its prompt cache, where it
reports it) and its output, each at its own price. The scorer's cost term (price x plan length) and the pool's
order read the output price: a plan is output, and the output price is what ranks providers' models.

Examples:
    >>> Pricing.of(0.18).cost(input_tokens=900, output_tokens=100)
    0.00018
    >>> provider = Pricing(input=0.10, cached_input=0.025, output=0.40)
    >>> f"{provider.cost(input_tokens=900, cached_input_tokens=600, output_tokens=100):.9f}"
    '0.000085000'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from langgraph_sale.errors import AuctionConfigError

__all__ = ["Pricing"]


@dataclass(frozen=True)
class Pricing:
    """Dollars per million tokens: input, cached input (default: the input price) and output.

    Raises:
        AuctionConfigError: On a price that is not a finite number >= 0.
    """

    input: float
    output: float
    cached_input: float | None = None

    def __post_init__(self) -> None:
        for name in ("input", "output", "cached_input"):
            value = getattr(self, name)
            if value is None and name == "cached_input":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise AuctionConfigError(f"pricing.{name}", f"must be a finite number >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))

    @classmethod
    def of(cls, price: float | Pricing, *, field: str = "price_per_mtok") -> Pricing:
        """A `Pricing` from one number (the same price on every token) or a `Pricing`.

        Raises:
            AuctionConfigError: Naming `field`, on anything else or a bad number.
        """
        if isinstance(price, Pricing):
            return price
        if isinstance(price, bool) or not isinstance(price, (int, float)):
            raise AuctionConfigError(field, f"must be a number or a Pricing, got {price!r}")
        if not math.isfinite(price) or price < 0:
            raise AuctionConfigError(field, f"must be a finite number >= 0, got {price!r}")
        return cls(input=price, output=price)

    @property
    def cached(self) -> float:
        """The cached-input price (the input price where none is given)."""
        return self.input if self.cached_input is None else self.cached_input

    @property
    def flat(self) -> bool:
        """One price for every kind of token."""
        return self.input == self.output == self.cached

    def cost(self, *, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float:
        """Dollars for one call; `input_tokens` counts the cached ones too, as providers report them."""
        if self.flat:  # the one-price form, to the last digit
            return self.output * (input_tokens + output_tokens) / 1_000_000
        uncached = max(0, input_tokens - cached_input_tokens)
        return (self.input * uncached + self.cached * cached_input_tokens + self.output * output_tokens) / 1_000_000

    def to_state(self) -> dict[str, Any]:
        return {"input": self.input, "cached_input": self.cached, "output": self.output}
