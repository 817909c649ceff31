"""Start a ``rollout …`` job command detached from the caller, and find the run it creates.

The console launches jobs this way (DESIGN.md principle 2): the same CLI command a user would
type, in its own process session (so it outlives the console, an SSH drop or a killed tmux
pane), stdin from /dev/null, stdout and stderr into a launch log in the workspace. The job's
run directory is then found by the pid its run.json records.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.runs import RUN_ID_RE, RunDir, list_runs

LAUNCHES_DIRNAME = "launches"
#: at most this many bytes of a launch log are read for its error line
ERROR_TAIL_BYTES = 16384


def rollout_program() -> list[str]:
    """How to run this installation's ``rollout`` (the script beside this Python, else ``-m``)."""
    script = Path(sys.executable).with_name("rollout")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "console.cli"]


@dataclass
class Launched:
    """A job command started detached: its process, launch log and the run it made (once seen)."""

    argv: list[str]
    pid: int
    log: Path
    started: float
    cwd: str
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    run_id: str | None = None

    def exit_code(self) -> int | None:
        """The exit code once the process ended, else None (reaps it: no zombie is left)."""
        return self.proc.poll() if self.proc is not None else None


def spawn_job(argv: list[str], workspace: Path, *, cwd: str | os.PathLike[str] | None = None,
              env: dict[str, str] | None = None, program: list[str] | None = None) -> Launched:
    """Start ``rollout <argv[1:]>`` in a new session with output into ``<workspace>/launches/``.

    ``argv`` is a ``["rollout", ...]`` command as :meth:`JobOptions.argv` gives it. The child's
    ROLLOUT_HOME is the workspace, so its run directory lands where the console looks.
    """
    words = list(argv[1:] if argv and argv[0] == "rollout" else argv)
    logs = Path(workspace) / LAUNCHES_DIRNAME
    logs.mkdir(parents=True, exist_ok=True)
    name = (words[0] if words else "job").replace("/", "_")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log = logs / f"{stamp}-{name}-{os.getpid()}-{time.monotonic_ns() % 100000:05d}.log"
    child_env = dict(os.environ if env is None else env)
    child_env["ROLLOUT_HOME"] = str(workspace)
    child_env.setdefault("NO_COLOR", "1")
    started = time.time()
    with open(log, "ab") as out, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen([*(program or rollout_program()), *words], stdin=devnull, stdout=out, stderr=out,
                                cwd=str(cwd or os.getcwd()), env=child_env, start_new_session=True, close_fds=True)
    return Launched(argv=["rollout", *words], pid=proc.pid, log=log, started=started, cwd=str(cwd or os.getcwd()),
                    proc=proc)


def find_run_of(workspace: Path, pid: int, since: float) -> RunDir | None:
    """The run directory whose run.json records ``pid``, created at or after ``since`` (seconds)."""
    floor = time.strftime("%Y%m%d-%H%M%S", time.localtime(since - 1))
    for run in list_runs(workspace):
        m = RUN_ID_RE.match(run.run_id)
        if m and m.group("ts") < floor:
            break  # newest first: the rest are older than the launch
        try:
            info = run.read_run()
        except Exception:  # a run.json being written right now
            continue
        if info.get("pid") == pid:
            return run
    return None


def launch_error(log: Path) -> str:
    """The one-line error of a command that ended before making a run (from its launch log)."""
    try:
        with open(log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - ERROR_TAIL_BYTES))
            tail = fh.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return f"the command ended before it made a run (no log at {log})"
    lines = [ln.strip() for ln in tail if ln.strip()]
    for line in reversed(lines):
        if line.startswith("rollout: error:"):
            return line.removeprefix("rollout: error:").strip()
    for line in reversed(lines):
        if line.startswith(("Error", "error", "│ ")) and len(line.strip("│ ")) > 0:
            return line.strip("│ ").strip()
    return lines[-1] if lines else "the command ended before it made a run (empty log)"


def launch_summary(launched: Launched) -> dict[str, Any]:
    return {"argv": launched.argv, "pid": launched.pid, "log": str(launched.log), "started": launched.started,
            "cwd": launched.cwd, "run_id": launched.run_id}
