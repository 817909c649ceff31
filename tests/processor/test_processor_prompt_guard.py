"""``rollout process`` refuses a request too long for the model before sending it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson

from fakes.batch_files import read_lines  # type: ignore[import-not-found]


def _requests(path: Path) -> None:
    lines = [("small", "hello", 100), ("huge", "x" * 30_000, 100), ("budget", "y" * 3_000, 1900)]
    with open(path, "wb") as fh:
        for cid, text, max_tokens in lines:
            fh.write(orjson.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                                   "body": {"model": "fake-model", "max_tokens": max_tokens,
                                            "messages": [{"role": "user", "content": text}]}}) + b"\n")


def _process(rollout_cmd, child_env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([*rollout_cmd, "process", *map(str, args), "--plain"], env=child_env, capture_output=True,
                          text=True, timeout=120)


def test_too_long_prompts_are_refused_before_sending(tmp_path, workspace, rollout_cmd, child_env, fake_openai):
    server = fake_openai(extra_args=["--max-model-len", "2000"])
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _requests(inp)
    proc = _process(rollout_cmd, child_env, "--input", inp, "--output", out, "--url", server.url)
    assert proc.returncode == 1, proc.stderr
    assert [line["custom_id"] for line in read_lines(out)] == ["small"]
    errors = {e["custom_id"]: e for e in read_lines(tmp_path / "out.jsonl.errors.jsonl")}
    assert set(errors) == {"huge", "budget"}
    for e in errors.values():
        assert e["reason"] == "prompt_too_long" and e["error"]["code"] == "prompt_too_long" and e["attempts"] == 0
        assert "> 2000 context length (" + server.url + "/v1/models)" in e["error"]["message"]
    # 10000 estimated prompt tokens; 1000 + 1900 max_tokens: the budget counts too
    assert errors["huge"]["error"]["message"].startswith("10000 estimated prompt tokens + 100 max_tokens")
    assert server.stats()["requests"] == 1  # only the small one reached the server

    # --max-prompt-tokens 0 switches the guard off: everything is sent
    out2 = tmp_path / "out2.jsonl"
    proc = _process(rollout_cmd, child_env, "--input", inp, "--output", out2, "--url", server.url, "--max-prompt-tokens", "0")
    assert proc.returncode == 0, proc.stderr
    assert len(read_lines(out2)) == 3


def test_context_length_flag_when_the_endpoint_does_not_say(tmp_path, workspace, rollout_cmd, child_env, fake_openai):
    server = fake_openai()  # /v1/models without max_model_len
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _requests(inp)
    proc = _process(rollout_cmd, child_env, "--input", inp, "--output", out, "--url", server.url, "--context-length", "5000")
    assert proc.returncode == 1, proc.stderr
    errors = read_lines(tmp_path / "out.jsonl.errors.jsonl")
    assert [e["custom_id"] for e in errors] == ["huge"] and "(--context_length)" in errors[0]["error"]["message"]
