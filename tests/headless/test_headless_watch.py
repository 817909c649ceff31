"""``rollout watch`` follows real jobs to their end and exits with their exit code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from headless_helpers import child_env, invoke, make_run

from engine.runs import list_runs


def start_demo(workspace: Path, *flags: str) -> tuple[subprocess.Popen, str]:
    """A real `rollout demo` job in a child process, and its run id once its run dir exists."""
    before = {r.run_id for r in list_runs(workspace)}
    proc = subprocess.Popen([sys.executable, "-m", "console.launcher", "demo", "--plain", *flags], env=child_env(workspace),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        new = [r for r in list_runs(workspace) if r.run_id not in before and r.read_state()]
        if new:
            return proc, new[0].run_id
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the demo job wrote no run directory")


def watch(workspace: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console.launcher", "watch", *args], env=child_env(workspace),
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("flags, code", [(("--items", "40", "--delay", "0.02"), 0),
                                         (("--items", "40", "--delay", "0.02", "--fail-every", "4"), 1)])
def test_watch_jsonl_follows_a_run_to_its_exit_code(workspace: Path, flags: tuple[str, ...], code: int) -> None:
    proc, run_id = start_demo(workspace, *flags)
    result = watch(workspace, run_id, "--jsonl", "--interval", "0.2")
    assert proc.wait(timeout=60) == code
    assert result.returncode == code, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(r["schema_version"] == 1 and r["run_id"] == run_id for r in records)
    ticks = [r for r in records if r["type"] == "tick"]
    assert ticks and ticks[-1]["status"] == "done" and ticks[-1]["counters"]["done"] == 40
    assert records[-1] == {**records[-1], "type": "end", "status": "done", "exit_code": code}
    assert any(r["type"] == "event" and r["event"]["type"] == "finish" for r in records)


def test_watch_exits_130_for_a_cancelled_run(workspace: Path) -> None:
    proc, run_id = start_demo(workspace, "--items", "2000", "--delay", "0.05")
    watcher = subprocess.Popen([sys.executable, "-m", "console.launcher", "--color", "always", "watch", run_id,
                                "--interval", "0.2"], env=child_env(workspace), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 130, err
    lines = out.splitlines()
    assert lines[-1] == f"{run_id} ended: cancelled (exit 130)"
    assert all(line.startswith(run_id + " [") for line in lines[:-1])
    assert "\x1b" not in out  # piped: plain lines, even with --color always


def test_watch_exit_code_of_failed_and_lost_runs(workspace: Path) -> None:
    failed = make_run(workspace, "process", "failed", done=1, total=4, exit_code=3)
    lost = make_run(workspace, "eval", "lost", done=1, total=4)
    result = invoke("watch", failed.run_id, "--plain")
    assert result.exit_code == 3 and result.stdout.splitlines()[-1] == f"{failed.run_id} ended: failed (exit 3)"
    assert invoke("watch", lost.run_id, "--jsonl").exit_code == 1
    cancelled = make_run(workspace, "process", "cancelled")  # run.json without an exit code: the status decides
    assert invoke("watch", cancelled.run_id, "--once").exit_code == 130


def test_watch_all_waits_for_every_active_run(workspace: Path) -> None:
    # two runs whose job processes this test controls (real processes, so they are alive), ended
    # by hand the way the job runner ends runs: deterministic on a busy box
    jobs = [subprocess.Popen(["sleep", "120"]) for _ in range(2)]
    try:
        good, bad = (make_run(workspace, "process", "running", done=1, total=4, pid=j.pid) for j in jobs)
        watcher = subprocess.Popen([sys.executable, "-m", "console.launcher", "watch", "--all", "--jsonl",
                                    "--interval", "0.2"], env=child_env(workspace), stdout=subprocess.PIPE, text=True)
        assert watcher.stdout is not None
        seen: set[str] = set()
        while seen != {good.run_id, bad.run_id}:  # both followed
            seen.add(json.loads(watcher.stdout.readline())["run_id"])
        for run, status, code in ((good, "done", 0), (bad, "failed", 1)):
            run.write_state({**run.read_state(), "status": status})
            run.update_run(status=status, finished=time.time(), exit_code=code)
        out, _ = watcher.communicate(timeout=60)
    finally:
        for j in jobs:
            j.kill()
            j.wait()
    ends = {r["run_id"]: r["exit_code"] for r in map(json.loads, out.splitlines()) if r["type"] == "end"}
    assert ends == {good.run_id: 0, bad.run_id: 1} and watcher.returncode == 1


def test_watch_all_with_nothing_running(workspace: Path) -> None:
    make_run(workspace, "process", "done")
    result = invoke("watch", "--all")
    assert result.exit_code == 0 and result.stdout == "" and "no active runs" in result.stderr
    assert invoke("watch", "x", "--all").exit_code == 2
