"""Cost accounting: token prices for hosted APIs, GPU-hour prices for self-hosted servers.

A :class:`CostMeter` is fed token usage (and wall time) by a job and reports cost so far and a
projection for the whole run. An unknown model has no price: cost is ``None`` (shown as unknown),
never 0 (which would read as free).

Prices come from the config (``[prices."<model>"]``) first, then, for well-known hosted models,
from the price data bundled with the genai-prices package (:func:`default_price`; read offline,
never fetched: the package only goes to the network when asked to via ``UpdatePrices``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, Mapping

if TYPE_CHECKING:  # pydantic loads with the first price: the processor sends its first request without it
    from engine.config_models import Price

PriceSource = Literal["config", "genai-prices", "unknown"]


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


def _per_mtok(value: Any) -> float | None:
    """A genai-prices per-MTok price as a float; tiered prices give their base tier."""
    if value is None:
        return None
    base = getattr(value, "base", value)  # TieredPrices: long prompts cost more; the base is the common case
    try:
        return float(base)
    except (TypeError, ValueError):
        return None


def default_price(model: str | None, *, batch: bool = False) -> Price | None:
    """The list price of a well-known hosted model from genai-prices' bundled data, or None.

    ``model`` is a bare model name (``gpt-4o-mini``) or ``<provider>/<model>`` where the provider
    is one genai-prices knows (``openai/gpt-4o``). Other ``org/name`` models (``Qwen/Qwen3-32B``)
    are taken as self-hosted and get no default: their cost is GPU time, configured by the user.
    ``batch``: the provider's Batch API price where genai-prices lists one (None when it does not).
    Each answer is memoized for the day (engine/price_memo.py): the data takes ~0.3 s to load.
    """
    if not model:
        return None
    from engine import price_memo
    from engine.config_models import Price

    key = price_memo.memo_key(model, batch)
    kept = price_memo.recall(key) if key is not None else price_memo.MISSING
    if kept is not price_memo.MISSING:
        try:
            return Price.model_validate(kept) if kept is not None else None
        except ValueError:  # a memo from another version of the model: look it up again
            pass
    price = _listed_price(model, batch)
    if key is not None:
        price_memo.keep(key, price.model_dump() if price is not None else None)
    return price


def _listed_price(model: str, batch: bool) -> Price | None:
    """:func:`default_price` from genai-prices' bundled data itself."""
    try:
        from genai_prices import data_snapshot
    except ImportError:
        return None
    snapshot = data_snapshot.get_snapshot()
    ref = model.strip().lower()
    provider_id: str | None = None
    if "/" in ref:
        provider_id, _, ref = ref.partition("/")
        if not any(p.id == provider_id for p in snapshot.providers):
            return None
    try:
        _provider, info = snapshot.find_provider_model(ref, None, provider_id, None)
        now = datetime.now(tz=timezone.utc)
        mp = info.get_prices(now)
        if batch:
            batch_mp = info.get_prices(now, {"processing": "batch"})
            if getattr(batch_mp, "__dict__", {}) == getattr(mp, "__dict__", {}):
                return None  # no batch variant listed
            mp = batch_mp
    except (LookupError, ValueError):
        return None
    prices = getattr(mp, "__dict__", {})
    input_p = _per_mtok(prices.get("input_mtok"))
    output_p = _per_mtok(prices.get("output_mtok"))
    if input_p is None and output_p is None:
        return None
    from engine.config_models import Price

    return Price(input_per_1m=input_p, cached_input_per_1m=_per_mtok(prices.get("cache_read_mtok")),
                 output_per_1m=output_p)


@dataclass(frozen=True)
class PriceLookup:
    """The price found for a model, where it came from, and a warning when there is none."""

    model: str | None
    price: Price | None
    source: PriceSource
    warning: str | None = None


def resolve_price(model: str | None, prices: Mapping[str, Price] | None = None, *,
                  use_defaults: bool = True) -> PriceLookup:
    """The price of ``model``: the config's ``prices`` first, then genai-prices' list prices.

    An unknown model gives ``price=None`` and a one-line warning saying what to add to the config.
    """
    configured = find_price(model, prices or {})
    if configured is not None:
        return PriceLookup(model, configured, "config")
    if use_defaults:
        listed = default_price(model)
        if listed is not None:
            return PriceLookup(model, listed, "genai-prices")
    name = model or "(no model)"
    return PriceLookup(
        model, None, "unknown",
        f"no price for model '{name}': cost is shown as unknown; add [prices.\"{name}\"] to the config "
        "(input_per_1m/output_per_1m, or gpu_hour_usd and gpus for a self-hosted server)",
    )


#: the usual hosted Batch API price: half the online one (OpenAI, Anthropic, Google)
BATCH_DISCOUNT = 0.5


def _halved(value: float | None) -> float | None:
    return None if value is None else value * BATCH_DISCOUNT


def resolve_batch_price(model: str | None, prices: Mapping[str, Price] | None = None) -> PriceLookup:
    """The hosted Batch API price of ``model``: the config's ``batch_*`` rates, else half its
    configured online rates, else genai-prices' batch price, else half its list price.

    ``source`` says where it came from (``config``/``genai-prices``); a GPU-hour price has no
    batch meaning (a hosted batch bills tokens) and counts as unknown.
    """
    online = resolve_price(model, prices)
    p = online.price
    if p is None or (p.input_per_1m is None and p.output_per_1m is None):
        name = model or "(no model)"
        return PriceLookup(model, None, "unknown", online.warning or (
            f"no token price for model '{name}': cost is shown as unknown; add input_per_1m/output_per_1m "
            f"(or batch_input_per_1m/batch_output_per_1m) to [prices.\"{name}\"] in the config"))
    if online.source == "genai-prices":
        listed = default_price(model, batch=True)
        if listed is not None:
            return PriceLookup(model, listed, "genai-prices")
    from engine.config_models import Price

    return PriceLookup(model, Price(
        input_per_1m=p.batch_input_per_1m if p.batch_input_per_1m is not None else _halved(p.input_per_1m),
        cached_input_per_1m=(p.batch_cached_input_per_1m if p.batch_cached_input_per_1m is not None
                             else _halved(p.cached_input_per_1m)),
        output_per_1m=p.batch_output_per_1m if p.batch_output_per_1m is not None else _halved(p.output_per_1m),
    ), online.source)


def token_cost_usd(price: Price, prompt: int, completion: int, cached: int = 0) -> float:
    """USD for a token usage: cached prompt tokens at the cached rate (the input rate when none)."""
    uncached = max(int(prompt) - int(cached), 0)
    cached_n = min(int(cached), int(prompt)) if prompt else int(cached)
    cached_rate = price.cached_input_per_1m if price.cached_input_per_1m is not None else price.input_per_1m
    total = (uncached * (price.input_per_1m or 0.0) + cached_n * (cached_rate or 0.0)
             + int(completion) * (price.output_per_1m or 0.0)) / 1e6
    return round(total, 6)


def gpu_cost_usd(price: Price, seconds: float) -> float:
    """USD for ``seconds`` of wall time on ``price.gpus`` GPUs at ``price.gpu_hour_usd`` each."""
    return round(max(seconds, 0.0) / 3600.0 * (price.gpu_hour_usd or 0.0) * price.gpus, 6)


@dataclass
class CostMeter:
    """Running cost of one job. Token prices are per 1M tokens; GPU pricing bills wall time."""

    price: Price | None
    started: float = field(default_factory=time.monotonic)
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    #: why the cost is unknown (set by :meth:`for_model`), for the job to warn with once
    warning: str | None = None
    source: PriceSource | None = None

    @classmethod
    def for_model(cls, model: str | None, prices: Mapping[str, Price] | None = None, *,
                  use_defaults: bool = True) -> "CostMeter":
        """A meter priced by :func:`resolve_price`; ``warning`` is set when the model has no price."""
        found = resolve_price(model, prices, use_defaults=use_defaults)
        return cls(found.price, warning=found.warning, source=found.source)

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
            return gpu_cost_usd(p, (now if now is not None else time.monotonic()) - self.started)
        return token_cost_usd(p, self.prompt_tokens, self.completion_tokens, self.cached_tokens)

    def gpu_hours(self, now: float | None = None) -> float | None:
        """GPU-hours billed so far (wall time × GPUs) for a GPU-priced meter, else None."""
        if not self.is_gpu_priced:
            return None
        assert self.price is not None
        return round(((now if now is not None else time.monotonic()) - self.started) / 3600.0 * self.price.gpus, 6)

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
        if self.source is not None:
            out["price_source"] = self.source
        if self.is_gpu_priced:
            out["gpu_hours"] = self.gpu_hours()
        if cost is not None and done:
            out["cost_per_1k_requests_usd"] = round(cost * 1000 / done, 6)
        if cost is not None and instances:
            out["cost_per_instance_usd"] = round(cost / instances, 6)
        return out
