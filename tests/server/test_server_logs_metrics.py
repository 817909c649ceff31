"""Phases and diagnoses from SGLang's log lines; metric aggregation over dp ranks."""

from __future__ import annotations

import httpx
import pytest

from engine.errors import ServiceError
from engine.server import MetricsRates, diagnose, parse_metrics, phase_of, scrape_metrics
from engine.server.metrics import scrape_metrics_async


@pytest.mark.parametrize("line, phase", [
    ("[2026-03-04 16:40:01 TP0] Load weight begin. avail mem=78.50 GB", "loading weights"),
    ("[2026-08-17 16:52:10] Load weight end. elapsed=100.59 s, type=X, avail mem=97.27 GB", "weights loaded"),
    ("[2026-03-04 16:45:00 TP0] KV Cache is allocated. #tokens: 413520, K size: 25.24 GB", "allocating KV cache"),
    ("[2026-03-04 16:46:41 TP4] Capture cuda graph begin. This can take up to several minutes. avail mem=15.30 GB",
     "capturing CUDA graphs"),
    ("[2026-03-04 16:47:00 TP0] Capture cuda graph end. Time elapsed: 12.30 s", "CUDA graphs captured"),
    ("[2026-03-04 16:47:05] The server is fired up and ready to roll!", "ready"),
    ("INFO:     127.0.0.1:5000 - \"GET /health HTTP/1.1\" 200 OK", None),
])
def test_phase_of_real_sglang_lines(line: str, phase: str | None) -> None:
    assert phase_of(line) == phase


@pytest.mark.parametrize("tail, cause", [
    (["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."], "cuda_oom"),
    (["ERROR:    [Errno 98] error while attempting to bind on address ('127.0.0.1', 30000): address already in use"],
     "port_in_use"),
    (["torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, unhandled system error"], "nccl"),
    (["OSError: /m is not a local folder and is not a valid model identifier listed on 'https://huggingface.co/models'"],
     "model_not_found"),
    (["/usr/bin/python3: Error while finding module specification for 'sglang.launch_server' "
      "(ModuleNotFoundError: No module named 'sglang')"], "not_installed"),
    (["ImportError: libcudart.so.12: cannot open shared object file"], "import_error"),
    (["[2026-01-01] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=1)"], "watchdog"),
    (["Scheduler watchdog timeout (self.watchdog_timeout=300, self.soft=False)"], "watchdog"),
    (["something odd happened"], None),
])
def test_diagnose(tail: list[str], cause: str | None) -> None:
    diag = diagnose(tail)
    assert (diag.cause if diag else None) == cause
    if diag:
        assert "\n" not in diag.message


def test_oom_diagnosis_names_the_fix() -> None:
    diag = diagnose(["torch.OutOfMemoryError: CUDA out of memory."])
    assert diag is not None and "--mem-fraction-static" in diag.message and "cuda-graph" in diag.message


TEXT = """\
# HELP sglang:num_running_reqs running
# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{dp_rank="0",tp_rank="0"} 2
sglang:num_running_reqs{dp_rank="1",tp_rank="0"} 6
# TYPE sglang:token_usage gauge
sglang:token_usage{dp_rank="0",tp_rank="0"} 0.2
sglang:token_usage{dp_rank="1",tp_rank="0"} 0.6
# TYPE sglang:generation_tokens_total counter
sglang:generation_tokens_total{dp_rank="0",tp_rank="0"} 100
sglang:generation_tokens_total{dp_rank="1",tp_rank="0"} 300
# TYPE sglang:time_to_first_token_seconds histogram
sglang:time_to_first_token_seconds_bucket{dp_rank="0",le="1.0"} 5
sglang:time_to_first_token_seconds_bucket{dp_rank="0",le="2.0"} 10
sglang:time_to_first_token_seconds_bucket{dp_rank="0",le="+Inf"} 10
sglang:time_to_first_token_seconds_sum{dp_rank="0"} 12
sglang:time_to_first_token_seconds_count{dp_rank="0"} 10
"""


def test_parse_metrics_static_text() -> None:
    m = parse_metrics(TEXT, now=100.0)
    assert m.running_reqs == 8
    assert m.token_usage == pytest.approx(0.4) and m.token_usage_max == pytest.approx(0.6)
    assert m.generation_tokens_total == 400
    assert m.ttft_mean_s == pytest.approx(1.2)
    assert m.ttft_p50_s == pytest.approx(1.0)  # rank 5 is the top of the first bucket
    assert m.ttft_p95_s == pytest.approx(1.9)  # 1 + (9.5 - 5) / 5
    assert m.queued_reqs is None and m.series == 2
    later = parse_metrics(TEXT.replace("} 300", "} 500"), now=102.0)
    rates = MetricsRates()
    rates.update(m)
    assert rates.update(later).generation_tokens_per_s == pytest.approx(100.0)


def test_scrape_stand_in_sums_and_averages_over_dp_ranks(fake_server) -> None:
    _, url = fake_server()
    m = scrape_metrics(url)
    # the stand-in's two dp ranks: see RANKS in tests/fakes/sglang_server.py
    assert m.series == 2
    assert m.running_reqs == 3 + 5
    assert m.queued_reqs == 1 + 2
    assert m.gen_throughput == pytest.approx(100.5 + 200.25)
    assert m.token_usage == pytest.approx(0.5) and m.token_usage_max == pytest.approx(0.75)
    assert m.cache_hit_rate == pytest.approx(0.5)
    assert m.prompt_tokens_total == 4000 and m.generation_tokens_total == 1000
    # merged TTFT histogram: cumulative 2,10,17,20,20 at 0.1,0.25,0.5,1,+Inf; sum 6.0 over 20
    assert m.ttft_mean_s == pytest.approx(0.3)
    assert m.ttft_p50_s == pytest.approx(0.25)
    assert m.ttft_p95_s == pytest.approx(0.5 + 0.5 * 2 / 3)
    # e2e: cumulative 0,1,6,14,20; sum 15 over 20
    assert m.e2e_mean_s == pytest.approx(0.75)
    assert m.e2e_p50_s == pytest.approx(0.5 + 0.5 * 4 / 8)


async def test_rates_follow_served_tokens(fake_server) -> None:
    _, url = fake_server()
    rates = MetricsRates()
    first = rates.update(await scrape_metrics_async(url))
    async with httpx.AsyncClient() as client:
        for _ in range(3):
            r = await client.post(url + "/v1/chat/completions",
                                  json={"model": "m", "messages": [{"role": "user", "content": "one two three four"}]})
            assert r.status_code == 200
    second = await scrape_metrics_async(url)
    second.scraped_at = first.scraped_at + 1.0
    rates.update(second)
    assert second.prompt_tokens_total == 4000 + 12
    assert second.generation_tokens_per_s == pytest.approx(15.0)


def test_scrape_unreachable_is_a_service_error() -> None:
    from engine.server import free_port

    with pytest.raises(ServiceError, match="cannot scrape"):
        scrape_metrics(f"http://127.0.0.1:{free_port()}", timeout=1)


def test_log_follower_reads_lines_and_rotates(tmp_path) -> None:
    from engine.server.process import LogFollower

    log = tmp_path / "server.log"
    fd = open(log, "ab", buffering=0)  # like the server: an O_APPEND descriptor that stays open
    follower = LogFollower(log, max_bytes=200)
    fd.write(b"[t] Load weight begin.\n[t] half a li")
    assert follower.read_new() == ["[t] Load weight begin."]
    fd.write(b"ne\nprogress 10%\rprogress 100%\n")
    assert follower.read_new() == ["[t] half a line", "progress 100%"]
    fd.write(b"x" * 300 + b"\n")
    follower.read_new()
    follower.read_new()  # over max_bytes: copied to server.log.1 and truncated
    assert (tmp_path / "server.log.1").stat().st_size > 300
    assert log.stat().st_size == 0
    fd.write(b"[t] The server is fired up and ready to roll!\n")
    assert follower.read_new() == ["[t] The server is fired up and ready to roll!"]
    assert log.read_bytes().startswith(b"[t] The server")  # the open descriptor writes at the new start
    fd.close()
