"""A run whose work lives on a remote service is ``waiting``, never ``lost`` (engine/runs.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from engine.runs import create_run


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_remote_waiting_run_is_not_lost(tmp_path: Path) -> None:
    run = create_run(tmp_path, "batch")
    run.update_run(pid=_dead_pid(), status="waiting")
    run.write_state({"status": "waiting", "heartbeat": time.time() - 3600, "waiting_on": "https://api.example"})
    assert run.effective_status() == "waiting"
    # a follower that died mid-way: still waiting on the API
    run.write_state({"status": "running", "heartbeat": time.time() - 3600, "waiting_on": "https://api.example"})
    assert run.effective_status() == "waiting"
    # the same without a remote side is lost
    run.write_state({"status": "running", "heartbeat": time.time() - 3600})
    run.update_run(waiting_on=None)
    assert run.effective_status() == "lost"
    # recorded in run.json before the state caught up (kill -9 right after a batch was created)
    run.update_run(waiting_on="https://api.example")
    assert run.effective_status() == "waiting"


def test_no_stale_heartbeat_alert_for_a_remote_waiting_run() -> None:
    from engine.alerts import stale_alert

    old = time.time() - 3600
    assert stale_alert({"status": "waiting", "heartbeat": old, "waiting_on": "https://api.example"}) is None
    assert stale_alert({"status": "waiting", "heartbeat": old}) is not None  # an endpoint-down wait still beats
