"""Helpers shared by the headless-command tests: run directories in every state, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from console.cli import app
from engine.runs import RunDir, create_run

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

#: a pid that no process has: well above the kernel's pid_max default
DEAD_PID = 4_194_000


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def make_run(
    workspace: Path,
    kind: str,
    status: str,
    *,
    done: int = 0,
    total: int = 0,
    failed: int = 0,
    cost: float | None = None,
    eta: float | None = None,
    tokens: tuple[int, int] = (0, 0),
    alerts: list[dict[str, Any]] | None = None,
    started: float | None = None,
    finished: float | None = None,
    exit_code: int | None = None,
    pid: int | None = None,
) -> RunDir:
    """A run directory as a job in ``status`` leaves it. Active runs get this test's pid (alive);
    ``lost`` runs an active status with a pid that does not exist."""
    run = create_run(workspace, kind, ["rollout", kind])
    now = time.time()
    started = now if started is None else started  # after this process began: its pid is the job's
    live = status not in ("done", "failed", "cancelled")
    run_pid = pid if pid is not None else (DEAD_PID if status == "lost" else os.getpid())
    written_status = "running" if status == "lost" else status
    run.update_run(status=written_status, started=started, pid=run_pid,
                   finished=None if live else (finished if finished is not None else now - 30),
                   **({"exit_code": exit_code} if exit_code is not None else {}))
    run.write_state({
        "status": written_status, "pid": run_pid, "heartbeat": (finished or now) if not live else now,
        "counters": {"total": total, "done": done, "ok": done - failed, "failed": failed},
        "tokens": {"prompt": tokens[0], "completion": tokens[1]}, "cost_usd": cost, "eta_s": eta,
        "rate": {"items_per_s": 1.5}, "alerts": alerts or [],
    })
    return run


def child_env(workspace: Path, unset: tuple[str, ...] = ()) -> dict[str, str]:
    env = dict(os.environ)
    env["ROLLOUT_HOME"] = str(workspace)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NO_COLOR", None)
    for name in unset:
        env.pop(name, None)
    return env


def launcher(workspace: Path, *args: str, extra: list[str] | None = None, unset: tuple[str, ...] = (),
             **kw: Any) -> subprocess.CompletedProcess:
    """The installed entry point (console/launcher.py) in a child process."""
    return subprocess.run([sys.executable, *(extra or []), "-m", "console.launcher", *args],
                          env=child_env(workspace, unset), capture_output=True, text=True, timeout=120, **kw)
