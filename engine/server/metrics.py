"""Scrape a server's Prometheus ``/metrics`` and fold the per-rank series into one picture.

SGLang (``--enable-metrics``) exports one series per dp_rank/tp_rank: counts, throughputs and
token counters are summed over them, ratios (KV token usage, cache hit rate) averaged (and the
worst rank kept), latency histograms merged bucket by bucket before quantiles are taken.
vLLM's names are mapped onto the same fields.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client.parser import text_string_to_metric_families

from engine.errors import ServiceError

if TYPE_CHECKING:  # httpx loads with a scrape: a processing run parses what its own transport fetched
    import httpx

#: field -> metric sample names, SGLang's first
GAUGES_SUM = {
    "running_reqs": ("sglang:num_running_reqs", "vllm:num_requests_running"),
    "queued_reqs": ("sglang:num_queue_reqs", "vllm:num_requests_waiting"),
    "gen_throughput": ("sglang:gen_throughput",),
    "used_tokens": ("sglang:num_used_tokens",),
}
GAUGES_MEAN = {
    "token_usage": ("sglang:token_usage", "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    "cache_hit_rate": ("sglang:cache_hit_rate", "vllm:gpu_prefix_cache_hit_rate"),
}
COUNTERS = {
    "prompt_tokens_total": ("sglang:prompt_tokens_total", "vllm:prompt_tokens_total"),
    "generation_tokens_total": ("sglang:generation_tokens_total", "vllm:generation_tokens_total"),
    "requests_total": ("sglang:num_requests_total", "vllm:request_success_total"),
}
HISTOGRAMS = {
    "ttft": ("sglang:time_to_first_token_seconds", "vllm:time_to_first_token_seconds"),
    "e2e": ("sglang:e2e_request_latency_seconds", "vllm:e2e_request_latency_seconds"),
}


@dataclass
class Histogram:
    """A merged cumulative histogram: upper bounds (sorted, +Inf last) with cumulative counts."""

    bounds: list[float] = field(default_factory=list)
    counts: list[float] = field(default_factory=list)
    total: float = 0.0
    count: float = 0.0

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """Prometheus' histogram_quantile: linear interpolation inside the bucket holding rank q*count."""
        if not self.count or not self.bounds:
            return None
        rank = q * self.counts[-1]
        prev_bound, prev_count = 0.0, 0.0
        for bound, cum in zip(self.bounds, self.counts):
            if cum >= rank:
                if math.isinf(bound):
                    # beyond the last finite bucket: the best we can say is that bucket's bound
                    return prev_bound
                if cum == prev_count:
                    return bound
                return prev_bound + (bound - prev_bound) * (rank - prev_count) / (cum - prev_count)
            prev_bound, prev_count = bound, cum
        return prev_bound


@dataclass
class ServerMetrics:
    """One scrape, aggregated over ranks. None = the server does not export that metric."""

    scraped_at: float
    running_reqs: float | None = None
    queued_reqs: float | None = None
    gen_throughput: float | None = None
    used_tokens: float | None = None
    token_usage: float | None = None
    token_usage_max: float | None = None
    cache_hit_rate: float | None = None
    prompt_tokens_total: float | None = None
    generation_tokens_total: float | None = None
    requests_total: float | None = None
    ttft_mean_s: float | None = None
    ttft_p50_s: float | None = None
    ttft_p95_s: float | None = None
    e2e_mean_s: float | None = None
    e2e_p50_s: float | None = None
    e2e_p95_s: float | None = None
    series: int = 0  # how many rank series were seen (for "2 dp ranks")
    # counter rates: filled by MetricsRates from two scrapes
    prompt_tokens_per_s: float | None = None
    generation_tokens_per_s: float | None = None

    def figures(self, prefix: str = "") -> dict[str, Any]:
        """The non-empty fields, rounded, as state figures."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if value is None or key == "scraped_at":
                continue
            out[prefix + key] = round(value, 4) if isinstance(value, float) else value
        return out


def _bound(text: str) -> float:
    return math.inf if text in ("+Inf", "Inf", "inf") else float(text)


def parse_metrics(text: str, now: float | None = None) -> ServerMetrics:
    """Aggregate a Prometheus text exposition into :class:`ServerMetrics`."""
    values: dict[str, list[float]] = {}
    buckets: dict[str, dict[float, float]] = {}
    ranked = False
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, float(sample.value)
            if math.isnan(value):
                continue
            if name.endswith("_bucket") and "le" in labels:
                per = buckets.setdefault(name[: -len("_bucket")], {})
                bound = _bound(labels["le"])
                per[bound] = per.get(bound, 0.0) + value
                continue
            values.setdefault(name, []).append(value)
            ranked = ranked or "dp_rank" in labels or "tp_rank" in labels

    def first(names: tuple[str, ...]) -> list[float] | None:
        for n in names:
            if n in values:
                return values[n]
        return None

    # the widest metric tells how many rank series the server exports
    series = max((len(v) for v in values.values()), default=0) if ranked else (1 if values else 0)
    m = ServerMetrics(scraped_at=now if now is not None else time.time(), series=series)
    for key, names in {**GAUGES_SUM, **COUNTERS}.items():
        found = first(names)
        if found is not None:
            setattr(m, key, sum(found))
    for key, names in GAUGES_MEAN.items():
        found = first(names)
        if found:
            setattr(m, key, sum(found) / len(found))
            if key == "token_usage":
                m.token_usage_max = max(found)
    for key, names in HISTOGRAMS.items():
        for base in names:
            if base in buckets:
                per = buckets[base]
                bounds = sorted(per)
                hist = Histogram(bounds, [per[b] for b in bounds],
                                 sum(values.get(base + "_sum", [])), sum(values.get(base + "_count", [])))
                setattr(m, f"{key}_mean_s", hist.mean)
                setattr(m, f"{key}_p50_s", hist.quantile(0.5))
                setattr(m, f"{key}_p95_s", hist.quantile(0.95))
                break
    return m


class MetricsRates:
    """Turns successive scrapes into token rates (counters' increase per second)."""

    def __init__(self) -> None:
        self.last: ServerMetrics | None = None

    def update(self, m: ServerMetrics) -> ServerMetrics:
        prev, self.last = self.last, m
        if prev is None:
            return m
        dt = m.scraped_at - prev.scraped_at
        if dt <= 0:
            return m
        for total, rate in (("prompt_tokens_total", "prompt_tokens_per_s"),
                            ("generation_tokens_total", "generation_tokens_per_s")):
            a, b = getattr(prev, total), getattr(m, total)
            if a is not None and b is not None and b >= a:  # a restart resets counters: no rate then
                setattr(m, rate, (b - a) / dt)
        return m


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


async def scrape_metrics_async(url: str, *, client: httpx.AsyncClient | None = None, api_key: str | None = None,
                               timeout: float = 5.0) -> ServerMetrics:
    """Scrape ``<url>/metrics`` once. Raises ServiceError when the server cannot be reached."""
    import httpx

    target = url.rstrip("/") + "/metrics"
    try:
        if client is None:
            async with httpx.AsyncClient(timeout=timeout) as own:
                resp = await own.get(target, headers=_headers(api_key))
        else:
            resp = await client.get(target, headers=_headers(api_key), timeout=timeout)
    except httpx.HTTPError as exc:
        raise ServiceError(f"cannot scrape {target}: {type(exc).__name__}: {exc}: is the server up?") from None
    if resp.status_code != 200:
        raise ServiceError(
            f"{target} answered HTTP {resp.status_code}: no metrics there (SGLang needs --enable-metrics)"
        )
    return parse_metrics(resp.text)


def scrape_metrics(url: str, *, api_key: str | None = None, timeout: float = 5.0) -> ServerMetrics:
    """Scrape ``<url>/metrics`` once (blocking). Raises ServiceError when the server cannot be reached."""
    import httpx

    target = url.rstrip("/") + "/metrics"
    try:
        resp = httpx.get(target, headers=_headers(api_key), timeout=timeout)
    except httpx.HTTPError as exc:
        raise ServiceError(f"cannot scrape {target}: {type(exc).__name__}: {exc}: is the server up?") from None
    if resp.status_code != 200:
        raise ServiceError(
            f"{target} answered HTTP {resp.status_code}: no metrics there (SGLang needs --enable-metrics)"
        )
    return parse_metrics(resp.text)
