"""The processor against the stand-in server in each failure mode: every custom_id ends exactly
once in output or errors, with the right reason. Jobs run in-process through engine.jobs.run_job."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson
import pytest

from fakes.batch_files import check_exactly_once, write_requests  # type: ignore[import-not-found]
from engine.config import Config, Price
from engine.errors import RolloutError
from engine.jobs import run_job
from engine.processor import ProcessOptions, make_process_job
from engine.processor.job import prepare_run


def run(tmp_path: Path, server_url: str, n: int = 30, config=None, **opts):
    tmp_path.mkdir(parents=True, exist_ok=True)
    inp = tmp_path / "in.jsonl"
    ids = write_requests(inp, n)
    out = tmp_path / "out.jsonl"
    opts.setdefault("concurrency", 8)
    options = ProcessOptions(input=inp, output=out, url=server_url, backoff_base=0.05, backoff_max=0.3, **opts)
    plan = prepare_run(options)
    result = run_job("process", make_process_job(options, plan), workspace=tmp_path / "ws", argv=["test"],
                     config=config, install_signals=False, state_interval=0.1)
    return ids, out, options.errors_path, result


def test_delay_all_ok(tmp_path, fake_openai):
    server = fake_openai(mode="ok", delay=0.05)
    config = Config(prices={"fake-model": Price(input_per_1m=1.0, output_per_1m=10.0)})
    ids, out, errors, result = run(tmp_path, server.url, n=40, config=config)
    ok, failed = check_exactly_once(ids, out, errors)
    assert len(ok) == 40 and not failed and not errors.exists()
    tokens = result.state["tokens"]
    assert result.state["cost_usd"] == pytest.approx((tokens["prompt"] * 1.0 + tokens["completion"] * 10.0) / 1e6)
    assert result.state["cost_projected_usd"] == pytest.approx(result.state["cost_usd"])
    assert result.exit_code == 0
    st = result.state
    assert st["counters"]["ok"] == 40 and st["tokens"]["completion"] == 40 * 7
    figs = st["figures"]
    assert figs["latency_p50_s"] >= 0.04 and figs["latency_p95_s"] >= figs["latency_p50_s"]
    assert figs["error_rate_recent"] == 0.0 and figs["endpoint"] == server.url
    line = next(iter(ok.values()))
    assert line["id"].startswith("batch_req_") and line["response"]["body"]["choices"][0]["message"]["content"].startswith("echo: ")


@pytest.mark.parametrize("mode,reason", [
    ("429", "rate_limited"),
    ("500", "server_error"),
    ("reset", "server_disconnected"),
    ("malformed", "invalid_response"),
])
def test_transient_failures_retried_then_permanent_subset(tmp_path, fake_openai, mode, reason):
    # ids ending in 3 fail 100 times (more than the retries); the rest fail once, then succeed
    server = fake_openai(mode=mode, fail_times=100, match=r"-\d*3$", retry_after="0.1")
    ids, out, errors, result = run(tmp_path, server.url, n=30, max_retries=2)
    ok, failed = check_exactly_once(ids, out, errors)
    assert sorted(failed) == sorted(i for i in ids if i.endswith("3"))
    for line in failed.values():
        assert line["error"]["code"] == reason and line["reason"] == reason and line["attempts"] == 3
    assert result.exit_code == 1
    assert result.state["counters"]["retried"] == 2 * len(failed)
    assert result.state["figures"]["error_rate_recent"] > 0


@pytest.mark.parametrize("mode", ["429", "500", "reset", "malformed"])
def test_transient_failures_recover(tmp_path, fake_openai, mode):
    server = fake_openai(mode=mode, fail_times=1, retry_after="0.2")
    t0 = time.monotonic()
    ids, out, errors, result = run(tmp_path, server.url, n=20, max_retries=3)
    ok, failed = check_exactly_once(ids, out, errors)
    assert len(ok) == 20 and not failed and result.exit_code == 0
    assert result.state["counters"]["retried"] == 20
    if mode == "429":  # Retry-After is honoured
        assert time.monotonic() - t0 >= 0.2
    assert all(n == 2 for n in server.stats()["attempts"].values())


def test_context_length_is_permanent(tmp_path, fake_openai):
    server = fake_openai(mode="400", fail_times=100, match=r"-1\d$")
    ids, out, errors, result = run(tmp_path, server.url, n=20, max_retries=3)
    ok, failed = check_exactly_once(ids, out, errors)
    assert sorted(failed) == [f"id-{i}" for i in range(10, 20)]
    for line in failed.values():
        assert line["reason"] == "context_length_exceeded" and line["attempts"] == 1
        assert line["response"]["status_code"] == 400
    assert result.state["counters"]["retried"] == 0


def test_stall_times_out(tmp_path, fake_openai):
    server = fake_openai(mode="stall", fail_times=100, match=r"-[12]$")
    ids, out, errors, result = run(tmp_path, server.url, n=12, max_retries=1, timeout=1.0)
    ok, failed = check_exactly_once(ids, out, errors)
    assert sorted(failed) == ["id-1", "id-2"]
    assert all(line["reason"] == "timeout" and line["response"] is None for line in failed.values())


def test_server_exits_and_comes_back(tmp_path, fake_openai):
    server = fake_openai(mode="ok", delay=0.02, exit_after=25)

    def bring_back() -> None:
        while server.proc is not None and server.proc.poll() is None:
            time.sleep(0.05)
        time.sleep(1.0)
        server.restart(exit_after=0)

    helper = threading.Thread(target=bring_back, daemon=True)
    helper.start()
    ids, out, errors, result = run(tmp_path, server.url, n=80, max_retries=2, probe_interval=0.2)
    helper.join(10)
    ok, failed = check_exactly_once(ids, out, errors)
    assert len(ok) == 80 and not failed
    events = [orjson.loads(l) for l in (result.run.path / "events.jsonl").read_bytes().splitlines()]
    kinds = [e["type"] for e in events]
    assert "endpoint_down" in kinds and "endpoint_up" in kinds
    raised = [e for e in events if e["type"] == "alert" and e.get("name") == "endpoint_down"]
    assert [e["state"] for e in raised] == ["raised", "cleared"] and raised[0]["severity"] == "critical"
    assert any(e["type"] == "status" and e["status"] == "waiting" for e in events)
    assert result.state["alerts"] == []


def test_endpoint_gone_for_good_stops_with_exit_3_and_resumes(tmp_path, fake_openai):
    server = fake_openai(mode="ok", delay=0.02, exit_after=15)
    with pytest.raises(RolloutError) as info:
        run(tmp_path, server.url, n=40, max_retries=2, probe_interval=0.1, max_wait_endpoint=0.8)
    assert info.value.exit_code == 3 and "rerun" in str(info.value)
    out, errors = tmp_path / "out.jsonl", tmp_path / "out.jsonl.errors.jsonl"
    assert not errors.exists()  # nothing was given up: all re-sent next time
    before = len(out.read_bytes().splitlines())
    assert 0 < before < 40
    server.restart(exit_after=0)
    ids, out, errors, result = run(tmp_path, server.url, n=40)
    ok, failed = check_exactly_once(ids, out, errors)
    assert len(ok) == 40 and result.state["counters"]["skipped"] == before


def test_client_side_rpm_limit(tmp_path, fake_openai):
    server = fake_openai()
    t0 = time.monotonic()
    ids, out, errors, result = run(tmp_path, server.url, n=40, rpm=600)  # 10/s after a burst of 10 s' worth
    assert time.monotonic() - t0 < 10
    ok, _ = check_exactly_once(ids, out, errors)
    assert len(ok) == 40
    t0 = time.monotonic()
    ids, out, errors, result = run(tmp_path / "b", server.url, n=50, rpm=240)  # 4/s, burst of 40
    assert time.monotonic() - t0 >= 2  # the 10 after the burst need ~2.5 s
    ok, _ = check_exactly_once(ids, out, errors)
    assert len(ok) == 50


def test_ratelimit_headers_tighten_the_client(tmp_path, fake_openai):
    # the server says 3 requests remain in total, each reset 1 s away: after them the client waits
    server = fake_openai(extra_args=["--ratelimit-requests", "3"])
    t0 = time.monotonic()
    ids, out, errors, result = run(tmp_path, server.url, n=6, rpm=100000, concurrency=1)
    assert time.monotonic() - t0 >= 2.0
    ok, _ = check_exactly_once(ids, out, errors)
    assert len(ok) == 6


def test_each_line_url_is_honoured(tmp_path, fake_openai):
    server = fake_openai()
    inp = tmp_path / "in.jsonl"
    lines = [{"custom_id": "chat", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "m", "messages": [{"role": "user", "content": "chat"}]}},
             {"custom_id": "text", "method": "POST", "url": "/v1/completions", "body": {"model": "m", "prompt": "text"}}]
    inp.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    options = ProcessOptions(input=inp, output=tmp_path / "out.jsonl", url=server.url + "/v1")
    result = run_job("process", make_process_job(options), workspace=tmp_path / "ws", argv=["t"], install_signals=False)
    assert result.exit_code == 0
    ok, _ = check_exactly_once(["chat", "text"], options.output, options.errors_path)
    assert ok["chat"]["response"]["body"]["object"] == "chat.completion"
    assert ok["text"]["response"]["body"]["object"] == "text_completion"


@pytest.mark.parametrize("transport", ["pyreqwest", "aiohttp", "httpx-aiohttp", "httpx"])
@pytest.mark.parametrize("mode,reason", [("reset", "server_disconnected"), ("stall", "timeout")])
def test_every_transport_names_a_failure_alike(tmp_path, fake_openai, transport, mode, reason):
    # each client library words its failures differently: the errors file must not
    server = fake_openai(mode=mode, fail_times=100, match=r"-[12]$")
    ids, out, errors, result = run(tmp_path, server.url, n=8, max_retries=1, timeout=1.0, transport=transport)
    ok, failed = check_exactly_once(ids, out, errors)
    assert sorted(failed) == ["id-1", "id-2"] and len(ok) == 6
    assert {line["reason"] for line in failed.values()} == {reason}
    assert result.state["figures"]["transport"] == transport


def test_auto_is_pyreqwest_when_installed(tmp_path, fake_openai):
    server = fake_openai()
    _ids, _out, _errors, result = run(tmp_path, server.url, n=3)
    assert result.state["figures"]["transport"] == "pyreqwest"
