"""The processor's small parts: retry policy, rate limiter, resume scan, cache keys, endpoint URLs."""

from __future__ import annotations

import random
import time

import orjson
import pytest

from engine.batchio import id_key
from engine.errors import InputError
from engine.processor import retry
from engine.processor.cache import ResponseCache, cache_key
from engine.processor.job import Endpoint
from engine.processor.ratelimit import RateLimiter, TokenBucket, parse_reset
from engine.processor.resume import scan_done
from engine.processor.stats import LiveStats


def test_classify_status():
    assert retry.classify_status(429, "slow down").retryable
    assert retry.classify_status(503, "").reason == retry.SERVER_ERROR
    assert retry.classify_status(408, "").retryable and retry.classify_status(409, "").retryable
    ctx = retry.classify_status(400, '{"error": "This model\'s maximum context length is 4096 tokens"}')
    assert ctx.reason == retry.CONTEXT_LENGTH and not ctx.retryable
    assert retry.classify_status(400, "bad").reason == retry.INVALID_REQUEST
    assert not retry.classify_status(404, "").retryable and not retry.classify_status(401, "").retryable


def test_retry_after_and_backoff():
    assert retry.parse_retry_after("2") == 2.0 and retry.parse_retry_after("0.5") == 0.5
    assert retry.parse_retry_after(None) is None and retry.parse_retry_after("soon") is None
    assert retry.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    rng = random.Random(1)
    delays = [retry.backoff_delay(a, 1.0, 60.0, rng=rng) for a in range(1, 12)]
    assert all(0 <= d <= min(60.0, 2 ** (a - 1)) for a, d in zip(range(1, 12), delays))
    assert all(retry.backoff_delay(1, 1.0, 60.0, retry_after=5.0, rng=rng) >= 5.0 for _ in range(20))


def test_token_bucket_and_headers():
    now = [0.0]
    bucket = TokenBucket(60, clock=lambda: now[0])  # 1/s, 10 s burst
    assert bucket.wait_time(1) == 0
    for _ in range(10):
        bucket.take(1)
    assert bucket.wait_time(1) == pytest.approx(1.0)
    now[0] = 2.0
    assert bucket.wait_time(1) == 0
    bucket.tighten(0, 5.0)
    assert bucket.wait_time(1) == pytest.approx(5.0)
    assert parse_reset("6m0s") == 360 and parse_reset("20ms") == pytest.approx(0.02) and parse_reset("1.5") == 1.5


async def test_rate_limiter_spaces_requests():
    limiter = RateLimiter(rpm=600)  # 10/s, burst of 100
    t0 = time.monotonic()
    for _ in range(105):
        await limiter.acquire(1)
    assert 0.3 <= time.monotonic() - t0 < 3.0
    limiter.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "200ms"})
    t1 = time.monotonic()
    await limiter.acquire(1)
    assert time.monotonic() - t1 >= 0.15


def _line(cid: str, status: int | None = 200, error=None, **kw) -> bytes:
    resp = None if status is None else {"status_code": status, "request_id": "r", "body": {"choices": []}}
    return orjson.dumps({"id": "batch_req_1", "custom_id": cid, "response": resp, "error": error, **kw})


def test_resume_scan_fast_and_slow_paths(tmp_path):
    path = tmp_path / "out.jsonl"
    lines = [
        _line("plain"),
        _line('quote"d'),                                   # escaped: slow path
        _line("ünïcode"),
        _line("failed", 500),
        _line("errored", None, error={"code": "x", "message": "y"}),
        b'{ "custom_id": "spaced", "response": {"status_code": 200, "body": {}}, "error": null }',  # foreign layout
        _line("trick", 500, extra='","response":{"status_code":200,'),
        b'{"id":"batch_req_2","custom_id":"torn","response":{"status_code":200,"bo',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    done = scan_done(path)
    assert done == {id_key(c) for c in ("plain", 'quote"d', "ünïcode", "spaced")}
    assert scan_done(tmp_path / "missing.jsonl") == set()


def test_cache_keyed_by_id_and_body(tmp_path):
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert cache_key("a", body) != cache_key("b", body)  # pass@k samples stay distinct
    assert cache_key("a", body) == cache_key("a", dict(reversed(list(body.items()))))
    cache = ResponseCache(tmp_path / "c")
    key = cache_key("a", body)
    assert cache.get(key) is None
    cache.put(key, {"status_code": 200, "request_id": "r", "body": {"ok": 1}})
    assert cache.get(key)["body"] == {"ok": 1}


def test_endpoint_urls():
    e = Endpoint.parse("http://h:30000/")
    assert e.target("/v1/chat/completions") == "http://h:30000/v1/chat/completions" and e.models_url == "http://h:30000/v1/models"
    e = Endpoint.parse("http://h:30000/v1")
    assert e.target("/v1/completions") == "http://h:30000/v1/completions"
    e = Endpoint.parse("https://api.example.com/openai/v1/chat/completions")
    assert e.target("/v1/completions") == "https://api.example.com/openai/v1/chat/completions"
    assert e.models_url == "https://api.example.com/openai/v1/models"
    with pytest.raises(InputError):
        Endpoint.parse("localhost:30000")


def test_live_stats_windows():
    now = [0.0]
    stats = LiveStats(clock=lambda: now[0])
    for i in range(300):
        stats.record(0.1 if i % 2 else 0.3, failed=i >= 250)
    figs = stats.figures()
    assert figs["error_rate_recent"] == pytest.approx(50 / 200)
    assert figs["latency_p50_s"] in (0.1, 0.2, 0.3) and figs["latency_p95_s"] == pytest.approx(0.3)
    now[0] = 2.0
    stats.record(0.1, failed=False)
    assert stats.figures()["req_per_s"] == pytest.approx(0.5)
