"""Units of the processor's server integration: named endpoints, local-server and GPU checks,
instance counting for cost per instance, and the server-metrics figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import InputError
from engine.monitor.gpu import RecordedSource
from engine.processor.endpoints import gpus_present, is_local_url, resolve_endpoint
from engine.processor.job import InstanceCounter
from engine.processor.options import DEFAULT_URL
from engine.processor.servermetrics import server_figures
from engine.server import MetricsRates, parse_metrics


@pytest.fixture
def config(tmp_path: Path, workspace: Path):
    path = tmp_path / "rollout.toml"
    path.write_text('default_endpoint = "local"\n'
                    '[endpoints.local]\nurl = "http://127.0.0.1:30000"\n'
                    '[endpoints.hosted]\nurl = "https://api.example.com/v1"\napi_key_env = "EXAMPLE_KEY"\n'
                    'api_key_file = "~/keys/example"\nmodel = "big-model"\nmax_concurrency = 8\n')
    return load_config(path)


def test_url_wins_then_endpoint_then_default(config):
    assert resolve_endpoint(config, url="http://h:1", name="hosted").url == "http://h:1"
    hosted = resolve_endpoint(config, url=None, name="hosted")
    assert (hosted.url, hosted.api_key_env, hosted.model, hosted.max_concurrency) == (
        "https://api.example.com/v1", "EXAMPLE_KEY", "big-model", 8)
    assert hosted.api_key_file == Path("~/keys/example").expanduser()
    assert resolve_endpoint(config, url=None, name=None).name == "local"
    assert resolve_endpoint(None, url=None, name=None).url == DEFAULT_URL


def test_unknown_endpoint_names_file_and_known_names(config):
    with pytest.raises(InputError) as err:
        resolve_endpoint(config, url=None, name="missing")
    msg = str(err.value)
    assert "'missing'" in msg and "rollout.toml" in msg and "hosted, local" in msg and "\n" not in msg


@pytest.mark.parametrize("url,local", [
    ("http://127.0.0.1:30000", True), ("http://localhost:8000/v1", True), ("http://[::1]:30000", True),
    ("http://127.0.1.1:1", True), ("https://api.openai.com/v1", False), ("http://10.0.0.5:30000", False),
])
def test_is_local_url(url, local):
    assert is_local_url(url) is local


def test_gpus_present_from_a_gpu_source():
    gpu = {"name": "H100", "utilization": {"gpu": 50, "memory": 10}, "memory": {"used": 1, "total": 2}}
    assert gpus_present(RecordedSource([[gpu]])) is True
    assert gpus_present(RecordedSource([None])) is False
    assert gpus_present() in (True, False)  # this box: NVML absent → False, never an exception


def test_instance_counter_counts_distinct_swebench_instances():
    c = InstanceCounter()
    for cid in ("django__django-11099__pass1", "django__django-11099__pass2", "astropy__astropy-12907|3",
                "sympy__sympy-20590"):
        c.add(cid)
    assert c.count == 3
    c.add("request-7")  # not an instance id: the figure would be meaningless, so it is dropped
    assert c.count is None
    assert InstanceCounter().count is None


def test_server_figures_from_two_ranks_and_rates():
    text = "\n".join([
        "# TYPE sglang:num_running_reqs gauge",
        'sglang:num_running_reqs{dp_rank="0"} 2', 'sglang:num_running_reqs{dp_rank="1"} 4',
        "# TYPE sglang:token_usage gauge",
        'sglang:token_usage{dp_rank="0"} 0.2', 'sglang:token_usage{dp_rank="1"} 0.6',
        "# TYPE sglang:generation_tokens_total counter",
        'sglang:generation_tokens_total{dp_rank="0"} 100', 'sglang:generation_tokens_total{dp_rank="1"} 100',
    ]) + "\n"
    rates = MetricsRates()
    rates.update(parse_metrics(text, now=10.0))
    figs = server_figures(rates.update(parse_metrics(text.replace("} 100", "} 150"), now=12.0)), "http://x")
    assert figs["running"] == 6 and figs["token_usage"] == pytest.approx(0.4) and figs["token_usage_max"] == 0.6
    assert figs["generation_tokens_per_s"] == pytest.approx(50.0) and figs["series"] == 2 and figs["ok"] is True
    assert figs["running_reqs"] == 6
    assert "queued" not in figs and "queued_reqs" not in figs  # not exported: left out, not shown as 0
