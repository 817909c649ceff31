"""``rollout batch …`` and ``process --via batch`` as a user runs them: real child processes
against the stand-in Files + Batches API (tests/fakes/batch_server.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from fakes.batch_files import check_exactly_once, read_lines, write_requests  # type: ignore[import-not-found]

FAST = {"validate_s": 0.05, "finalize_s": 0.05}
POLL = ["--poll-interval", "0.05", "--poll-max", "0.2"]


def rollout(rollout_cmd, child_env, *args, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*rollout_cmd, *map(str, args)], env=child_env, capture_output=True, text=True,
                          timeout=timeout, **kw)


def submit(rollout_cmd, child_env, *args) -> str:
    proc = rollout(rollout_cmd, child_env, "batch", "submit", *args, "--plain")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def record(workspace: Path, run_id: str) -> dict[str, Any]:
    return json.loads((workspace / "runs" / run_id / "batch.json").read_text())


def state(workspace: Path, run_id: str) -> dict[str, Any]:
    return json.loads((workspace / "runs" / run_id / "state.json").read_text())


def runs_json(rollout_cmd, child_env) -> dict[str, dict[str, Any]]:
    proc = rollout(rollout_cmd, child_env, "runs", "--json")
    assert proc.returncode == 0, proc.stderr
    return {r["run_id"]: r for r in json.loads(proc.stdout)}


def test_submit_detach_then_fetch_exactly_once_with_cost(tmp_path, workspace, rollout_cmd, child_env, fake_batch_api):
    api = fake_batch_api(max_lines=40, fail_match=r"-1[0-4]$", **FAST)
    (tmp_path / "rollout.toml").write_text('[prices."fake-model"]\ninput_per_1m = 2.0\noutput_per_1m = 8.0\n')
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 100)
    run_id = submit(rollout_cmd, child_env, "--input", inp, "--output", out, "--url", api.url, "--split-lines", "40")
    rec = record(workspace, run_id)
    assert [(p["first_line"], p["last_line"], p["requests"]) for p in rec["parts"]] == [(1, 40, 40), (41, 80, 40),
                                                                                        (81, 100, 20)]
    assert all(p["batch_id"] and p["file_id"] for p in rec["parts"])
    assert rec["price"]["input_per_1m"] == 1.0 and rec["estimate"]["cost_usd"] > 0  # half the online price
    assert [u["lines"] for u in api.stats()["uploads"]] == [40, 40, 20]
    # the submitting process is gone: the run is waiting on the API, not lost
    listed = runs_json(rollout_cmd, child_env)[run_id]
    assert listed["status"] == "waiting" and not out.exists()
    assert not (workspace / "runs" / run_id / "parts").exists()  # part files removed once uploaded

    status = rollout(rollout_cmd, child_env, "batch", "status", run_id, "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert [p["total"] for p in report["parts"]] == [40, 40, 20]

    fetch = rollout(rollout_cmd, child_env, "batch", "fetch", run_id, "--wait", *POLL, "--plain")
    assert fetch.returncode == 1, fetch.stderr  # 5 requests were answered with HTTP 400
    ok, failed = check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")
    assert len(ok) == 95 and sorted(failed) == [f"id-{i}" for i in range(10, 15)]
    assert all(line["response"]["status_code"] == 400 for line in failed.values())
    st = state(workspace, run_id)
    assert st["status"] == "done" and st["counters"]["ok"] == 95 and st["counters"]["failed"] == 5
    tokens = st["tokens"]
    assert tokens["prompt"] > 0 and st["cost_usd"] == pytest.approx(
        (tokens["prompt"] * 1.0 + tokens["completion"] * 4.0) / 1e6, abs=1e-6)
    assert record(workspace, run_id)["cost_usd"] == st["cost_usd"]

    again = rollout(rollout_cmd, child_env, "batch", "fetch", run_id, "--plain")
    assert again.returncode == 1 and "0 answers and 0 failures appended" in again.stderr, again.stderr
    check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")


def test_expired_part_resubmits_only_unanswered_ids(tmp_path, workspace, rollout_cmd, child_env, fake_batch_api):
    api = fake_batch_api(max_lines=50, expire_after=20, expire_count=1, **FAST)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 90)
    run_id = submit(rollout_cmd, child_env, "--input", inp, "--output", out, "--url", api.url, "--split-lines", "50")
    fetch = rollout(rollout_cmd, child_env, "batch", "fetch", run_id, "--wait", *POLL, "--plain")
    assert fetch.returncode == 1, fetch.stderr
    assert "30 unanswered" in fetch.stderr and "resubmit" in fetch.stderr
    answered = {line["custom_id"] for line in read_lines(out)}
    assert len(answered) == 60 and not (tmp_path / "out.jsonl.errors.jsonl").exists()  # expired ≠ failed
    rec = record(workspace, run_id)
    assert [p["status"] for p in rec["parts"]] == ["expired", "completed"] and rec["parts"][0]["unanswered"] == 30

    resubmit = rollout(rollout_cmd, child_env, "batch", "resubmit", run_id, "--plain")
    assert resubmit.returncode == 0, resubmit.stderr
    uploads = api.stats()["uploads"]
    assert len(uploads) == 3
    assert sorted(uploads[2]["custom_ids"]) == sorted(set(ids[:50]) - answered)  # only the unanswered
    rec = record(workspace, run_id)
    assert rec["parts"][0]["superseded_by"] == 3 and rec["parts"][2]["source"] == 1
    assert runs_json(rollout_cmd, child_env)[run_id]["status"] == "waiting"

    fetch = rollout(rollout_cmd, child_env, "batch", "fetch", run_id, "--wait", *POLL, "--plain")
    assert fetch.returncode == 0, fetch.stderr
    ok, failed = check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")
    assert len(ok) == 90 and not failed


def test_kill_9_while_waiting_then_fetch_from_another_process(tmp_path, workspace, rollout_cmd, child_env,
                                                              fake_batch_api):
    api = fake_batch_api(max_lines=100, rate=100, fail_match=r"7$", **FAST)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 250)
    proc = subprocess.Popen([*rollout_cmd, "process", "--via", "batch", "--input", str(inp), "--output", str(out),
                             "--url", api.url, "--split-lines", "100", "--poll-interval", "0.05", "--plain"],
                            env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    run_dir = None
    while time.monotonic() < deadline:  # wait until every part is created and remote work is under way
        dirs = list((workspace / "runs").glob("batch-*")) if (workspace / "runs").exists() else []
        if dirs and (dirs[0] / "batch.json").exists():
            rec = json.loads((dirs[0] / "batch.json").read_text())
            if rec["parts"] and all(p["batch_id"] for p in rec["parts"]):
                run_dir = dirs[0]
                break
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    assert run_dir is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_id = run_dir.name
    assert runs_json(rollout_cmd, child_env)[run_id]["status"] == "waiting"  # the API still holds the work
    fetch = rollout(rollout_cmd, child_env, "batch", "fetch", run_id, "--wait", *POLL, "--plain")
    assert fetch.returncode == 1, fetch.stderr
    ok, failed = check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")
    assert len(ok) == 225 and len(failed) == 25
    assert len(api.stats()["batches"]) == 3  # nothing was submitted twice


def test_fetch_after_a_torn_interrupted_fetch_writes_nothing_twice(tmp_path, workspace, rollout_cmd, child_env,
                                                                    fake_batch_api):
    api = fake_batch_api(max_lines=30, **FAST)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 60)
    run_id = submit(rollout_cmd, child_env, "--input", inp, "--output", out, "--url", api.url, "--split-lines", "30")
    assert rollout(rollout_cmd, child_env, "batch", "fetch", run_id, "--wait", *POLL).returncode == 0
    # as if the fetch was killed in the middle of part 2: half of its lines written, the last one torn
    data = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(data[:45]) + data[45][:30])
    rec_path = workspace / "runs" / run_id / "batch.json"
    rec = json.loads(rec_path.read_text())
    rec["parts"][1]["fetched"] = False
    rec_path.write_text(json.dumps(rec))
    again = rollout(rollout_cmd, child_env, "batch", "fetch", run_id, "--plain")
    assert again.returncode == 0, again.stderr
    assert "torn" in again.stderr and "15 answers" in again.stderr
    ok, _ = check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")
    assert len(ok) == 60
    assert state(workspace, run_id)["counters"]["ok"] == 60


def test_cancel_then_fetch_and_resubmit(tmp_path, workspace, rollout_cmd, child_env, fake_batch_api):
    api = fake_batch_api(max_lines=100, rate=3, **FAST)  # slow: the cancel must land while it runs
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 100)
    run_id = submit(rollout_cmd, child_env, "--input", inp, "--output", out, "--url", api.url)
    cancel = rollout(rollout_cmd, child_env, "batch", "cancel", run_id)
    assert cancel.returncode == 0, cancel.stderr
    fetch = rollout(rollout_cmd, child_env, "batch", "fetch", run_id, "--wait", *POLL, "--plain")
    assert fetch.returncode == 130, fetch.stderr
    st = state(workspace, run_id)
    assert st["status"] == "cancelled" and 0 < st["counters"]["ok"] < 100
    answered = {line["custom_id"] for line in read_lines(out)}
    api.control(rate=100000)
    assert rollout(rollout_cmd, child_env, "batch", "resubmit", run_id).returncode == 0
    assert sorted(api.stats()["uploads"][-1]["custom_ids"]) == sorted(set(ids) - answered)
    assert rollout(rollout_cmd, child_env, "batch", "fetch", run_id, "--wait", *POLL).returncode == 0
    ok, _ = check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")
    assert len(ok) == 100


def test_limits_are_enforced_and_reported(tmp_path, workspace, rollout_cmd, child_env, fake_batch_api):
    api = fake_batch_api(max_lines=5, max_bytes=5000, **FAST)
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 60, pad=300)
    # a part over the API's size limit: the upload is refused, one line, exit 2
    too_big = rollout(rollout_cmd, child_env, "batch", "submit", "--input", inp, "--url", api.url, "--split-lines", "20",
                      "--plain")
    assert too_big.returncode == 2, too_big.stderr
    assert too_big.stderr.strip().splitlines()[-1].startswith("rollout: error: uploading")
    assert "too large" in too_big.stderr
    # a part over the API's line limit fails validation: fetch says so and exits 1
    run_id = submit(rollout_cmd, child_env, "--input", inp, "--output", tmp_path / "o.jsonl", "--url", api.url,
                    "--split-lines", "30", "--split-bytes", "4kB")
    rec = record(workspace, run_id)
    assert all(p["bytes"] <= 4000 for p in rec["parts"])
    fetch = rollout(rollout_cmd, child_env, "batch", "fetch", run_id, "--wait", *POLL, "--plain")
    assert fetch.returncode == 1 and "too_many_requests" in fetch.stderr, fetch.stderr


def test_unreachable_api_is_exit_3_one_line_no_run(tmp_path, workspace, rollout_cmd, child_env):
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 3)
    proc = rollout(rollout_cmd, child_env, "batch", "submit", "--input", inp, "--url", "http://127.0.0.1:9")
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rollout: error: cannot reach http://127.0.0.1:9"), proc.stderr
    assert not (workspace / "runs").exists() or not any((workspace / "runs").iterdir())


def test_key_from_environment_never_written(tmp_path, workspace, rollout_cmd, child_env, fake_batch_api):
    secret = "sk-test-batch-0123456789abcdef"
    env = {**child_env, "BATCH_KEY": secret}
    api = fake_batch_api(api_key_env="BATCH_KEY", env=env, **FAST)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 10)
    no_key = rollout(rollout_cmd, child_env, "batch", "submit", "--input", inp, "--url", api.url)
    assert no_key.returncode == 2 and "refused the API key" in no_key.stderr
    run_id = submit(rollout_cmd, env, "--input", inp, "--output", out, "--url", api.url, "--api-key-env", "BATCH_KEY")
    fetch = rollout(rollout_cmd, env, "batch", "fetch", run_id, "--wait", *POLL)  # the key source comes from the run
    assert fetch.returncode == 0, fetch.stderr
    check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")
    for path in (workspace / "runs" / run_id).rglob("*"):
        assert secret not in path.read_text(errors="replace"), path


def test_terminal_hangup_leaves_the_batches_running_then_fetch(tmp_path, workspace, rollout_cmd, child_env,
                                                              fake_batch_api):
    api = fake_batch_api(max_lines=50, rate=10, **FAST)  # slow: the hang-up must land while it runs
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 120)
    proc = subprocess.Popen([*rollout_cmd, "process", "--via", "batch", "--input", str(inp), "--output", str(out),
                             "--url", api.url, "--split-lines", "50", "--poll-interval", "0.05", "--plain"],
                            env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(api.stats()["batches"]) < 3:
        assert proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGHUP)  # the terminal closed
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "the batches go on" in err, err
    run_id = next((workspace / "runs").glob("batch-*")).name
    st = state(workspace, run_id)
    assert st["status"] == "waiting" and st["waiting_on"] == api.url
    assert runs_json(rollout_cmd, child_env)[run_id]["status"] == "waiting"
    stop = rollout(rollout_cmd, child_env, "stop", run_id)
    assert stop.returncode == 2 and "rollout batch cancel" in stop.stderr
    fetch = rollout(rollout_cmd, child_env, "batch", "fetch", run_id, "--wait", *POLL, "--plain")
    assert fetch.returncode == 0, fetch.stderr
    ok, _ = check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")
    assert len(ok) == 120 and len(api.stats()["batches"]) == 3


def test_a_part_refused_mid_submit_keeps_the_others_and_resubmit_sends_it(tmp_path, workspace, rollout_cmd,
                                                                           child_env, fake_batch_api):
    api = fake_batch_api(max_lines=100, max_bytes=20_000, **FAST)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 20) + write_requests(tmp_path / "big.jsonl", 20, prefix="big", pad=2000)
    with open(inp, "ab") as fh:
        fh.write((tmp_path / "big.jsonl").read_bytes())
    proc = rollout(rollout_cmd, child_env, "batch", "submit", "--input", inp, "--output", out, "--url", api.url,
                   "--split-lines", "20", "--plain")
    assert proc.returncode == 2 and "too large" in proc.stderr and "resubmit" in proc.stderr, proc.stderr
    run_id = proc.stdout.strip().splitlines()[-1]
    rec = record(workspace, run_id)
    assert rec["parts"][0]["batch_id"] and rec["parts"][1]["status"] == "pending"
    assert runs_json(rollout_cmd, child_env)[run_id]["status"] == "waiting"  # part 1 runs on
    api.control(max_bytes=10**9)
    assert rollout(rollout_cmd, child_env, "batch", "resubmit", run_id).returncode == 0
    assert rollout(rollout_cmd, child_env, "batch", "fetch", run_id, "--wait", *POLL).returncode == 0
    ok, _ = check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")
    assert len(ok) == 40 and [u["lines"] for u in api.stats()["uploads"]] == [20, 20]
