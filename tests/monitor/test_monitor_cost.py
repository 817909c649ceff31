"""Cost: token and GPU-hour arithmetic, projections, list prices, unknown models."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import Price
from engine.cost import CostMeter, default_price, find_price, gpu_cost_usd, resolve_price, token_cost_usd


def test_token_arithmetic_with_cached_input() -> None:
    price = Price(input_per_1m=2.0, cached_input_per_1m=0.5, output_per_1m=8.0)
    # 1M prompt of which 400k cached, 250k completion: 0.6*2 + 0.4*0.5 + 0.25*8
    assert token_cost_usd(price, 1_000_000, 250_000, 400_000) == pytest.approx(1.2 + 0.2 + 2.0)
    no_cached_rate = Price(input_per_1m=2.0, output_per_1m=8.0)
    assert token_cost_usd(no_cached_rate, 1_000_000, 0, 400_000) == pytest.approx(2.0)


def test_meter_cost_so_far_per_1k_per_instance_and_projection() -> None:
    meter = CostMeter(Price(input_per_1m=1.0, output_per_1m=4.0))
    for _ in range(50):
        meter.add_usage(prompt=2000, completion=500)
    # 100k prompt → $0.10, 25k completion → $0.10
    assert meter.cost_usd() == pytest.approx(0.2)
    assert meter.projected_usd(done=50, total=200) == pytest.approx(0.8)
    s = meter.summary(done=50, total=200, instances=10)
    assert s["cost_usd"] == pytest.approx(0.2)
    assert s["cost_projected_usd"] == pytest.approx(0.8)
    assert s["cost_per_1k_requests_usd"] == pytest.approx(4.0)
    assert s["cost_per_instance_usd"] == pytest.approx(0.02)
    assert meter.projected_usd(done=0, total=200) is None


def test_gpu_hour_arithmetic_and_projection() -> None:
    price = Price(gpu_hour_usd=2.5, gpus=8)
    assert gpu_cost_usd(price, 1800) == pytest.approx(10.0)
    meter = CostMeter(price, started=100.0)
    assert meter.is_gpu_priced
    assert meter.cost_usd(now=100.0 + 3600) == pytest.approx(20.0)
    assert meter.gpu_hours(now=100.0 + 3600) == pytest.approx(8.0)
    assert meter.projected_usd(done=25, total=100, now=100.0 + 3600) == pytest.approx(80.0)
    meter.add_usage(prompt=10**9, completion=10**9)  # tokens do not matter for a GPU-priced server
    assert meter.cost_usd(now=100.0 + 3600) == pytest.approx(20.0)


def test_unknown_model_is_unknown_not_free() -> None:
    meter = CostMeter.for_model("Qwen/Qwen3-32B", {})
    meter.add_usage(prompt=1000, completion=1000)
    assert meter.cost_usd() is None
    assert meter.projected_usd(10, 100) is None
    assert meter.warning and "Qwen/Qwen3-32B" in meter.warning and "[prices." in meter.warning
    s = meter.summary(10, 100)
    assert s["cost_usd"] is None and s["price_known"] is False and "cost_per_1k_requests_usd" not in s
    found = resolve_price("definitely-not-a-model-xyz", {})
    assert found.price is None and found.source == "unknown" and found.warning


def test_list_prices_from_genai_prices_offline() -> None:
    price = default_price("gpt-4o-mini")
    assert price is not None
    assert price.input_per_1m == pytest.approx(0.15) and price.output_per_1m == pytest.approx(0.6)
    assert price.cached_input_per_1m == pytest.approx(0.075)
    assert default_price("openai/gpt-4o-mini") == price
    assert default_price("Qwen/Qwen3-32B") is None  # an org that is no API provider: self-hosted
    meter = CostMeter.for_model("gpt-4o-mini")
    assert meter.source == "genai-prices" and meter.warning is None
    meter.add_usage(prompt=1_000_000, completion=1_000_000)
    assert meter.cost_usd() == pytest.approx(0.75)


def test_config_prices_override_list_prices() -> None:
    mine = Price(input_per_1m=0.01, output_per_1m=0.02)
    found = resolve_price("gpt-4o-mini", {"gpt-4o-mini": mine})
    assert found.price == mine and found.source == "config"
    assert find_price("org/my-model", {"my-model": mine}) == mine
    assert resolve_price("gpt-4o-mini", {}, use_defaults=False).price is None


def test_list_price_lookups_are_memoized_for_the_day(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    from engine.price_memo import memo_path

    assert default_price("gpt-4o-mini") is not None and default_price("no-such-model-xyz") is None
    kept = json.loads(memo_path().read_text())
    assert len(kept) == 2 and None in kept.values()
    code = ("import sys; from engine.cost import default_price; p = default_price('gpt-4o-mini'); "
            "n = default_price('no-such-model-xyz'); print(p.input_per_1m, n, 'genai_prices' in sys.modules)")
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(repo)},
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["0.15", "None", "False"], out.stderr  # answered without loading the data
    memo_path().write_text("{torn")
    assert default_price("gpt-4o-mini").input_per_1m == pytest.approx(0.15)  # a torn memo: looked up again
