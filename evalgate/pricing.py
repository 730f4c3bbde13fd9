"""What a completion cost, from the user's price table (USD per million tokens)."""

from __future__ import annotations

from collections.abc import Mapping

from evalgate.config import Price

PER_TOKENS = 1_000_000


def find_price(prices: Mapping[str, Price], model: str, served: str | None = None) -> Price | None:
    """The price for the configured model name, else for the model id the server reported."""
    for name in (model, served):
        if name and name in prices:
            return prices[name]
    return None


def cost_usd(
    prices: Mapping[str, Price],
    model: str,
    input_tokens: int | None,
    output_tokens: int | None,
    *,
    served: str | None = None,
) -> float | None:
    """USD for one call, or ``None`` when the price or either token count is unknown."""
    price = find_price(prices, model, served)
    # A partial count would understate the cost; unknown is more honest than wrong.
    if price is None or input_tokens is None or output_tokens is None:
        return None
    return (input_tokens * price.input + output_tokens * price.output) / PER_TOKENS
