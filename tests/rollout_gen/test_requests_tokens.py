"""Request bodies (thinking forms, temperature policy, pass@k ids) and the token estimate."""

from __future__ import annotations

from engine.agentless.gen.requests import SamplingConfig, sample_lines, temperature_for
from engine.agentless.tokens import estimate_tokens, estimator_name, heuristic_tokens


def test_thinking_styles() -> None:
    sg = SamplingConfig(model="m", enable_thinking=True, thinking_budget=64, thinking_style="sglang")
    body = sample_lines(sg, "i", "p", "bugfixer")[0]["body"]
    assert body["chat_template_kwargs"] == {"enable_thinking": True, "thinking_budget": 64}
    assert "enable_thinking" not in body
    top = SamplingConfig(model="m", enable_thinking=True, thinking_style="toplevel")
    body = sample_lines(top, "i", "p", "bugfixer")[0]["body"]
    assert body["enable_thinking"] is True and "chat_template_kwargs" not in body and "thinking_budget" not in body


def test_temperature_policy_and_ids() -> None:
    cfg = SamplingConfig(model="m", temperature=0.7, passk=3)
    assert [temperature_for(cfg, n, "bugfixer") for n in range(3)] == [0.7, 0.7, 0.7]
    assert [temperature_for(cfg, n, "testwriter") for n in range(3)] == [0.0, 0.7, 0.7]
    forced = SamplingConfig(model="m", temperature=0.7, passk=3, temp_policy="greedy-first")
    assert temperature_for(forced, 0, "bugfixer") == 0.0
    one = SamplingConfig(model="m", temperature=0.7, passk=1)
    assert temperature_for(one, 0, "testwriter") == 0.7
    assert [x["custom_id"] for x in sample_lines(cfg, "a__b-1", "p", "bugfixer")] == [
        "a__b-1__pass0", "a__b-1__pass1", "a__b-1__pass2"]
    assert [x["custom_id"] for x in sample_lines(one, "a__b-1", "p", "bugfixer")] == ["a__b-1"]


def test_token_estimate_is_offline_and_conservative() -> None:
    text = "def f(x):\n    return x + 1\n" * 100
    assert estimator_name() in ("tiktoken:cl100k_base", "bytes/3")
    assert heuristic_tokens(text) == -(-len(text.encode()) // 3)
    assert estimate_tokens(text) > 0


def test_thinking_off_and_budget_alone() -> None:
    off = SamplingConfig(model="m", enable_thinking=False, thinking_budget=100)
    body = sample_lines(off, "i", "p", "bugfixer")[0]["body"]
    assert body["chat_template_kwargs"] == {"enable_thinking": False} and body["enable_thinking"] is False
    assert "thinking_budget" not in body
    budget = SamplingConfig(model="m", thinking_budget=100)
    assert sample_lines(budget, "i", "p", "bugfixer")[0]["body"]["chat_template_kwargs"] == {
        "enable_thinking": True, "thinking_budget": 100}
    none = sample_lines(SamplingConfig(model="m"), "i", "p", "bugfixer")[0]["body"]
    assert "chat_template_kwargs" not in none and "enable_thinking" not in none
