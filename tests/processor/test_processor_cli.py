"""``rollout process`` as a user runs it: a real child process against the stand-in server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from fakes.batch_files import check_exactly_once, read_lines, write_requests  # type: ignore[import-not-found]


def process(rollout_cmd, child_env, *args, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*rollout_cmd, "process", *map(str, args), "--plain"], env=child_env, capture_output=True,
                          text=True, timeout=timeout, **kw)


def start(rollout_cmd, child_env, *args) -> subprocess.Popen:
    return subprocess.Popen([*rollout_cmd, "process", *map(str, args), "--plain"], env=child_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        have = path.read_bytes().count(b"\n") if path.exists() else 0
        if have >= n:
            return have
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.02)
    raise AssertionError(f"{path} did not reach {n} lines")


BAD_INPUTS = {
    "invalid_json": b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {\n',
    "duplicate_ids": b"".join(orjson.dumps({"custom_id": "same", "method": "POST", "url": "/v1/chat/completions",
                                            "body": {"model": "m", "messages": [{"role": "user", "content": "x"}]}}) + b"\n"
                              for _ in range(2)),
    "missing_body": b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions"}\n',
    "empty_file": b"",
    "non_utf8": b'{"custom_id": "a\xff", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n',
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_one_line_exit_2_no_output(tmp_path, workspace, rollout_cmd, child_env, case):
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(BAD_INPUTS[case])
    out = tmp_path / "out.jsonl"
    proc = process(rollout_cmd, child_env, "--input", inp, "--output", out, "--url", "http://127.0.0.1:9")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rollout: error: ") and "in.jsonl" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not (tmp_path / "out.jsonl.errors.jsonl").exists()
    assert {p.name for p in tmp_path.iterdir()} <= {"in.jsonl", "ws", "xdg-config"}  # no lock or sidecar either
    assert not (workspace / "runs").exists() or not any((workspace / "runs").iterdir())


def test_duplicates_allowed_with_flag(tmp_path, workspace, rollout_cmd, child_env, fake_openai):
    server = fake_openai()
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(BAD_INPUTS["duplicate_ids"])
    proc = process(rollout_cmd, child_env, "--input", inp, "--output", tmp_path / "out.jsonl", "--url", server.url,
                   "--allow-duplicates")
    assert proc.returncode == 0, proc.stderr
    assert len(read_lines(tmp_path / "out.jsonl")) == 2


def test_unreachable_endpoint_exit_3_one_line(tmp_path, workspace, rollout_cmd, child_env):
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 3)
    proc = process(rollout_cmd, child_env, "--input_file", inp, "--output_file", tmp_path / "out.jsonl",
                   "--url", "http://127.0.0.1:9")
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "/v1/models" in lines[0] and "--no-preflight" in lines[0]
    assert not (tmp_path / "out.jsonl").exists()


def test_kill_9_at_several_points_then_rerun(tmp_path, workspace, rollout_cmd, child_env, fake_openai):
    server = fake_openai(delay=0.01)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 400, pad=300)
    args = ["--input", inp, "--output", out, "--url", server.url, "--concurrency", "16"]
    for point in (20, 120, 260):
        proc = start(rollout_cmd, child_env, *args)
        wait_lines(out, point, proc)
        proc.kill()
        proc.wait()
        # a torn tail (if any) must be repaired by the next run, never duplicated
    proc = process(rollout_cmd, child_env, *args)
    assert proc.returncode == 0, proc.stderr
    ok, failed = check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")
    assert len(ok) == 400 and not failed
    assert out.read_bytes().endswith(b"\n")
    # nothing sent twice that was already answered: each key was sent at most a few times (in flight at a kill)
    attempts = server.stats()["attempts"]
    assert sum(attempts.values()) <= 400 + 3 * 16 * 2 + 16


def test_torn_tail_repaired_on_rerun(tmp_path, workspace, rollout_cmd, child_env, fake_openai):
    server = fake_openai()
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 10)
    assert process(rollout_cmd, child_env, "--input", inp, "--output", out, "--url", server.url).returncode == 0
    data = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(data[:5]) + data[5][:40])  # a kill in the middle of line 6
    proc = process(rollout_cmd, child_env, "--input", inp, "--output", out, "--url", server.url)
    assert proc.returncode == 0, proc.stderr
    assert "torn" in proc.stderr
    ok, _ = check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")
    assert len(ok) == 10 and (tmp_path / "out.jsonl.torn").exists()


def test_sigterm_stops_cleanly_then_rerun_finishes(tmp_path, workspace, rollout_cmd, child_env, fake_openai):
    server = fake_openai(delay=0.05)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 400)
    args = ["--input", inp, "--output", out, "--url", server.url, "--concurrency", "8"]
    proc = start(rollout_cmd, child_env, *args)
    wait_lines(out, 30, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    n = len(read_lines(out))
    assert 30 <= n < 400
    runs = sorted((workspace / "runs").iterdir())
    state = json.loads((runs[-1] / "state.json").read_text())
    assert state["status"] == "cancelled" and state["counters"]["in_flight"] == 0
    proc = process(rollout_cmd, child_env, *args)
    assert proc.returncode == 0, proc.stderr
    ok, failed = check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")
    assert len(ok) == 400


def test_resume_resends_failures_and_skips_done(tmp_path, workspace, rollout_cmd, child_env, fake_openai):
    server = fake_openai(mode="400", fail_times=1, match=r"-[0-4]$")
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    errors = tmp_path / "out.jsonl.errors.jsonl"
    ids = write_requests(inp, 20)
    args = ["--input", inp, "--output", out, "--url", server.url]
    first = process(rollout_cmd, child_env, *args)
    assert first.returncode == 1, first.stderr
    ok, failed = check_exactly_once(ids, out, errors)
    assert sorted(failed) == [f"id-{i}" for i in range(5)]
    second = process(rollout_cmd, child_env, *args)
    assert second.returncode == 0, second.stderr
    ok, failed = check_exactly_once(ids, out, errors)
    assert len(ok) == 20 and not failed
    assert not errors.exists() and list(tmp_path.glob("out.jsonl.errors.jsonl.*"))  # earlier failures kept aside
    attempts = server.stats()["attempts"]
    assert all(attempts[f"id-{i}"] == (2 if i < 5 else 1) for i in range(20))


def test_restart_moves_outputs_aside(tmp_path, workspace, rollout_cmd, child_env, fake_openai):
    server = fake_openai()
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 5)
    args = ["--input", inp, "--output", out, "--url", server.url]
    assert process(rollout_cmd, child_env, *args).returncode == 0
    assert process(rollout_cmd, child_env, *args, "--restart").returncode == 0
    moved = [p for p in tmp_path.glob("out.jsonl.*") if p.name[len("out.jsonl."):][:1].isdigit()]
    assert len(moved) == 1 and len(read_lines(moved[0])) == 5
    assert len(read_lines(out)) == 5
    assert all(n == 2 for n in server.stats()["attempts"].values())


def test_changed_input_warns(tmp_path, workspace, rollout_cmd, child_env, fake_openai):
    server = fake_openai()
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 5)
    args = ["--input", inp, "--output", out, "--url", server.url]
    assert process(rollout_cmd, child_env, *args).returncode == 0
    ids = write_requests(inp, 8)
    proc = process(rollout_cmd, child_env, *args)
    assert proc.returncode == 0
    assert "changed since the last run" in proc.stderr
    ok, _ = check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")
    assert len(ok) == 8
    sidecar = json.loads((tmp_path / "out.jsonl.rollout.json").read_text())
    assert sidecar["input"]["size"] == inp.stat().st_size


def test_cache_reuses_answers_by_id_and_body(tmp_path, workspace, rollout_cmd, child_env, fake_openai):
    server = fake_openai()
    inp, cache = tmp_path / "in.jsonl", tmp_path / "cache"
    ids = write_requests(inp, 10)
    args = ["--input", inp, "--url", server.url, "--cache", cache]
    assert process(rollout_cmd, child_env, *args, "--output", tmp_path / "a.jsonl").returncode == 0
    proc = process(rollout_cmd, child_env, *args, "--output", tmp_path / "b.jsonl")
    assert proc.returncode == 0, proc.stderr
    assert "10 cached" in proc.stderr
    ok, _ = check_exactly_once(ids, tmp_path / "b.jsonl", tmp_path / "b.jsonl.errors.jsonl")
    assert len(ok) == 10 and all(n == 1 for n in server.stats()["attempts"].values())
    # same body, another custom_id (pass@k): never served from the cache
    lines = inp.read_bytes().splitlines()
    other = orjson.loads(lines[0])
    other["custom_id"] = "id-0__pass1"
    (tmp_path / "k.jsonl").write_bytes(lines[0] + b"\n" + orjson.dumps(other) + b"\n")
    proc = process(rollout_cmd, child_env, "--input", tmp_path / "k.jsonl", "--url", server.url, "--cache", cache,
                   "--output", tmp_path / "k_out.jsonl")
    assert proc.returncode == 0 and "1 ok, 0 failed, 1 cached" in proc.stderr, proc.stderr
    assert server.stats()["attempts"]["id-0"] == 2


def test_api_key_from_env_never_written(tmp_path, workspace, rollout_cmd, child_env, fake_openai):
    secret = "sk-test-abcdefghijklmnop"
    env = dict(child_env, MY_KEY=secret)
    server = fake_openai(extra_args=["--api-key-env", "SERVER_KEY"], env=dict(os.environ, SERVER_KEY=secret))
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 5)
    no_key = process(rollout_cmd, child_env, "--input", inp, "--output", out, "--url", server.url)
    assert no_key.returncode == 2 and "API key" in no_key.stderr
    proc = process(rollout_cmd, env, "--input", inp, "--output", out, "--url", server.url, "--api-key-env", "MY_KEY")
    assert proc.returncode == 0, proc.stderr
    for path in [*workspace.rglob("*"), *tmp_path.glob("out*")]:
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path


def test_full_url_and_model_override(tmp_path, workspace, rollout_cmd, child_env, fake_openai):
    server = fake_openai()
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 3)  # lines say /v1/chat/completions; a full --url wins
    proc = process(rollout_cmd, child_env, "--input", inp, "--output", out, "--url", server.url + "/v1/completions",
                   "--model", "other-model")
    assert proc.returncode == 0, proc.stderr
    for line in read_lines(out):
        body = line["response"]["body"]
        assert body["object"] == "text_completion" and body["model"] == "other-model"


def test_second_process_on_same_output_refused(tmp_path, workspace, rollout_cmd, child_env, fake_openai):
    # slow enough answers that the first run is still going when the second one has started up
    # (a loaded machine takes seconds to start a process)
    server = fake_openai(delay=0.2)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 200)
    args = ["--input", inp, "--output", out, "--url", server.url, "--concurrency", "4"]
    first = start(rollout_cmd, child_env, *args)
    wait_lines(out, 5, first)
    second = process(rollout_cmd, child_env, *args)
    assert second.returncode == 2 and "another rollout process" in second.stderr and str(first.pid) in second.stderr
    first.send_signal(signal.SIGTERM)
    first.wait(30)
    assert process(rollout_cmd, child_env, *args).returncode == 0
    check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")
    assert not (tmp_path / "out.jsonl.rollout.lock").exists()
