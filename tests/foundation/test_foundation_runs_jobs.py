"""Run directories and the job runner, with real job processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.errors import InputError, RolloutError, ServiceError
from engine.jobs import Alert, JobContext, JobOutcome, run_job
from engine.runs import RUN_ID_RE, RunDir, atomic_write_json, create_run, find_run, list_runs, redact_argv


def wait_for(predicate, timeout: float = 20.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


def start_demo(rollout_cmd: list[str], child_env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([*rollout_cmd, "demo", "--plain", *args], env=child_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def the_run(workspace: Path) -> RunDir:
    return wait_for(lambda: (list_runs(workspace) or [None])[0])


# -- runs ---------------------------------------------------------------------------------------
def test_create_run_writes_contract_files(workspace: Path) -> None:
    run = create_run(workspace, "process", ["rollout", "process", "--api-key", "sk-secret123456", "--x=1"],
                     inputs={"input": "in.jsonl"})
    assert RUN_ID_RE.match(run.run_id) and run.run_id.startswith("process-")
    info = run.read_run()
    assert info["kind"] == "process" and info["pid"] == os.getpid() and info["status"] == "starting"
    assert "sk-secret123456" not in json.dumps(info)
    assert info["argv"][3] == "<redacted>"
    assert info["inputs"] == {"input": "in.jsonl"}


def test_redaction_of_argv() -> None:
    assert redact_argv(["--token=abc", "--api-key-env", "KEY", "Bearer xyz", "hf_abcdefghijk"]) == [
        "--token=<redacted>", "--api-key-env", "KEY", "<redacted>", "<redacted>"]


def test_find_run_by_id_prefix_path_and_last(workspace: Path) -> None:
    a = create_run(workspace, "alpha")
    b = create_run(workspace, "beta")
    assert find_run(workspace, a.run_id).path == a.path
    assert find_run(workspace, "alp").path == a.path
    assert find_run(workspace, str(b.path)).path == b.path
    assert find_run(workspace, "last").run_id in (a.run_id, b.run_id)
    with pytest.raises(InputError, match="no run matches 'zzz'"):
        find_run(workspace, "zzz")
    create_run(workspace, "alpha")
    with pytest.raises(InputError, match="matches 2 runs"):
        find_run(workspace, "alpha-")


def test_state_writes_are_atomic_for_a_concurrent_reader(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    atomic_write_json(path, {"n": 0})
    stop = threading.Event()
    bad: list[str] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            raw = path.read_bytes()
            try:
                json.loads(raw)
                reads[0] += 1
            except ValueError:
                bad.append(raw[:80].decode(errors="replace"))

    t = threading.Thread(target=reader)
    t.start()
    big = "x" * 200_000  # large enough that a non-atomic write would be seen half-done
    for i in range(300):
        atomic_write_json(path, {"n": i, "pad": big})
    stop.set()
    t.join()
    assert bad == [] and reads[0] > 0
    assert json.loads(path.read_text())["n"] == 299
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp files left


# -- jobs in real processes ------------------------------------------------------------------------
def test_a_real_job_writes_its_run_directory(workspace: Path, rollout_cmd, child_env) -> None:
    proc = start_demo(rollout_cmd, child_env, "--items", "60", "--delay", "0.02", "--fail-every", "20")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err  # some items failed
    run = the_run(workspace)
    state = run.read_state()
    assert state["status"] == "done"
    assert state["counters"]["total"] == 60 and state["counters"]["done"] == 60
    assert state["counters"]["failed"] == 3 and state["counters"]["ok"] == 57
    assert state["tokens"]["prompt"] == 60 * 500
    assert run.read_run()["status"] == "done" and run.read_run()["exit_code"] == 1
    types = [e["type"] for e in run.read_events()]
    assert types[0] == "start" and types[-1] == "finish" and "phase" in types
    assert f"run {run.run_id}" in err


def test_sigkill_makes_a_run_lost(workspace: Path, rollout_cmd, child_env) -> None:
    proc = start_demo(rollout_cmd, child_env, "--items", "1000", "--delay", "0.2")
    run = the_run(workspace)
    wait_for(lambda: run.read_state().get("counters", {}).get("done", 0) > 0)
    assert run.effective_status() == "running"
    proc.kill()
    proc.wait(timeout=10)
    assert run.read_state()["status"] == "running"  # the job never said goodbye...
    assert run.effective_status() == "lost"  # ...so viewers show it lost
    assert run.summary().status == "lost"


def test_sigterm_stops_gracefully_with_exit_130(workspace: Path, rollout_cmd, child_env) -> None:
    proc = start_demo(rollout_cmd, child_env, "--items", "1000", "--delay", "0.1")
    run = the_run(workspace)
    wait_for(lambda: run.read_state().get("counters", {}).get("done", 0) >= 5)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    state = run.read_state()
    assert state["status"] == "cancelled"
    assert state["counters"]["in_flight"] == 0
    assert 5 <= state["counters"]["done"] < 1000
    events = run.read_events()
    assert any(e["type"] == "stopping" for e in events)
    assert events[-1]["type"] == "finish" and events[-1]["exit_code"] == 130


def test_second_signal_stops_at_once(workspace: Path, rollout_cmd, child_env) -> None:
    # each item takes ~60 s: a graceful stop would wait for them, a second signal must not
    proc = start_demo(rollout_cmd, child_env, "--items", "4", "--delay", "60")
    run = the_run(workspace)
    wait_for(lambda: run.read_state().get("counters", {}).get("in_flight", 0) == 4)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    wait_for(lambda: run.read_state().get("status") == "stopping")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.monotonic() - t0 < 20
    assert run.read_state()["status"] == "cancelled"


# -- the runner in-process ---------------------------------------------------------------------------
def test_state_writes_are_coalesced(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[float] = []
    original = RunDir.write_state

    def counting(self: RunDir, state: dict) -> None:
        writes.append(time.monotonic())
        original(self, state)

    monkeypatch.setattr(RunDir, "write_state", counting)

    async def busy(ctx: JobContext) -> None:
        ctx.set_total(100_000)
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end:
            for _ in range(100):
                ctx.advance(ok=1)
            await asyncio.sleep(0.001)

    result = run_job("busy", busy, workspace=workspace, argv=["test"], install_signals=False)
    assert result.exit_code == 0 and result.state["counters"]["ok"] > 1000
    # ~2 s of constant change: at most 2 writes/s plus the first and last
    assert len(writes) <= 2 * 2 + 3, len(writes)
    assert result.state["rate"]["items_per_s"] and result.state["rate"]["items_per_s"] > 0


def test_rate_and_eta_are_computed(workspace: Path) -> None:
    seen: list[dict] = []

    async def steady(ctx: JobContext) -> None:
        ctx.set_total(40)
        for _ in range(20):
            await asyncio.sleep(0.1)
            ctx.advance(ok=1)
        seen.append(dict(ctx.run.read_state()))

    run_job("steady", steady, workspace=workspace, argv=["t"], install_signals=False)
    state = seen[-1]
    assert 5 < state["rate"]["items_per_s"] < 15  # ~10 items/s
    assert 1 < state["eta_s"] < 5  # ~20 left at ~10/s


def test_rollout_error_in_a_job_keeps_its_exit_code(workspace: Path) -> None:
    async def unreachable(ctx: JobContext) -> None:
        raise ServiceError("endpoint http://127.0.0.1:1 unreachable: start the server")

    with pytest.raises(RolloutError) as exc:
        run_job("svc", unreachable, workspace=workspace, argv=["t"], install_signals=False)
    assert exc.value.exit_code == 3
    run = list_runs(workspace)[0]
    assert run.read_state()["status"] == "failed" and run.read_run()["exit_code"] == 3
    assert any(e["type"] == "error" and "unreachable" in e["message"] for e in run.read_events())


def test_unexpected_exception_is_recorded_not_dumped(workspace: Path) -> None:
    async def broken(ctx: JobContext) -> None:
        raise ZeroDivisionError("boom")

    with pytest.raises(RolloutError) as exc:
        run_job("broken", broken, workspace=workspace, argv=["t"], install_signals=False)
    run = list_runs(workspace)[0]
    assert exc.value.exit_code == 1 and "error.log" in str(exc.value) and "\n" not in str(exc.value)
    assert "ZeroDivisionError" in (run.path / "error.log").read_text()


def test_alerts_and_outcome_figures_reach_state(workspace: Path) -> None:
    async def alerting(ctx: JobContext) -> JobOutcome:
        ctx.raise_alert(Alert(name="disk_low", severity="critical", message="3% free"))
        ctx.raise_alert(Alert(name="disk_low", severity="critical", message="3% free"))  # idempotent
        ctx.raise_alert(Alert(name="slow", message="p95 high"))
        ctx.clear_alert("slow")
        return JobOutcome(exit_code=0, figures={"valid": 7})

    result = run_job("alerting", alerting, workspace=workspace, argv=["t"], install_signals=False)
    assert [a["name"] for a in result.state["alerts"]] == ["disk_low"]
    assert result.state["figures"]["valid"] == 7
    alert_events = [(e["name"], e["state"]) for e in result.run.read_events() if e["type"] == "alert"]
    assert alert_events == [("disk_low", "raised"), ("slow", "raised"), ("slow", "cleared")]


def test_rollout_stop_cancels_a_running_job(workspace: Path, rollout_cmd, child_env) -> None:
    proc = start_demo(rollout_cmd, child_env, "--items", "1000", "--delay", "0.1")
    run = the_run(workspace)
    wait_for(lambda: run.read_state().get("counters", {}).get("done", 0) >= 3)
    stop = subprocess.run([*rollout_cmd, "stop", run.run_id[:12], "--wait", "20"], env=child_env,
                          capture_output=True, text=True, timeout=60)
    assert stop.returncode == 0, stop.stderr
    assert f"sent SIGTERM to {run.run_id}" in stop.stderr and "cancelled" in stop.stderr
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    again = subprocess.run([*rollout_cmd, "stop", run.run_id], env=child_env, capture_output=True, text=True)
    assert again.returncode == 2 and "is not running (status cancelled)" in again.stderr


def test_hangup_stops_gracefully_like_sigterm(workspace: Path, rollout_cmd, child_env) -> None:
    # a closed terminal or dropped SSH link must not kill a job mid-write
    proc = start_demo(rollout_cmd, child_env, "--items", "1000", "--delay", "0.1")
    run = the_run(workspace)
    wait_for(lambda: run.read_state().get("counters", {}).get("done", 0) >= 3)
    proc.send_signal(signal.SIGHUP)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert run.read_state()["status"] == "cancelled"
    assert any(e["type"] == "stopping" and "SIGHUP" in e["reason"] for e in run.read_events())
