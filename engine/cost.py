"""Cost accounting: token prices for hosted APIs, GPU-hour prices for self-hosted servers.

A :class:`CostMeter` is fed token usage (and wall time) by a job and reports cost so far and a
projection for the whole run. An unknown model has no price: cost is ``None`` (shown as unknown),
never 0 (which would read as free).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from engine.config import Price


def find_price(model: str | None, prices: Mapping[str, Price]) -> Price | None:
    """The configured price of ``model``: exact name, then the last path part (``org/name`` → ``name``)."""
    if not model:
        return None
    if model in prices:
        return prices[model]
    short = model.rsplit("/", 1)[-1]
    for name, price in prices.items():
        if name.rsplit("/", 1)[-1] == short:
            return price
    return None


@dataclass
class CostMeter:
    """Running cost of one job. Token prices are per 1M tokens; GPU pricing bills wall time."""

    price: Price | None
    started: float = field(default_factory=time.monotonic)
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0

    @property
    def known(self) -> bool:
        return self.price is not None

    @property
    def is_gpu_priced(self) -> bool:
        return bool(self.price and self.price.gpu_hour_usd is not None)

    def add_usage(self, prompt: int = 0, completion: int = 0, cached: int = 0) -> None:
        self.prompt_tokens += int(prompt or 0)
        self.completion_tokens += int(completion or 0)
        self.cached_tokens += int(cached or 0)

    def cost_usd(self, now: float | None = None) -> float | None:
        """Cost so far, or None when no price is known."""
        p = self.price
        if p is None:
            return None
        if p.gpu_hour_usd is not None:
            hours = ((now if now is not None else time.monotonic()) - self.started) / 3600.0
            return round(hours * p.gpu_hour_usd * p.gpus, 6)
        uncached = max(self.prompt_tokens - self.cached_tokens, 0)
        cached_rate = p.cached_input_per_1m if p.cached_input_per_1m is not None else p.input_per_1m
        total = (
            uncached * (p.input_per_1m or 0.0)
            + self.cached_tokens * (cached_rate or 0.0)
            + self.completion_tokens * (p.output_per_1m or 0.0)
        ) / 1e6
        return round(total, 6)

    def projected_usd(self, done: int, total: int, now: float | None = None) -> float | None:
        """Projected total cost when ``total`` items are done, from the cost per item so far."""
        cost = self.cost_usd(now)
        if cost is None or done <= 0 or total <= 0:
            return None
        return round(cost * total / done, 6)

    def summary(self, done: int, total: int, instances: int | None = None) -> dict[str, Any]:
        """Figures for state.json: so far, projected, per 1k requests, per instance."""
        cost = self.cost_usd()
        out: dict[str, Any] = {"cost_usd": cost, "cost_projected_usd": self.projected_usd(done, total),
                               "price_known": self.known}
        if cost is not None and done:
            out["cost_per_1k_requests_usd"] = round(cost * 1000 / done, 6)
        if cost is not None and instances:
            out["cost_per_instance_usd"] = round(cost / instances, 6)
        return out
