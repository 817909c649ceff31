"""The harness as a child process in its own process group: start, stop (whole group), read its log tail."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from engine.swebench.preflight import HARNESS_MODULE


def harness_command(*, dataset: str, split: str, predictions: Path, run_id: str, max_workers: int, timeout: int,
                    report_dir: Path, instance_ids: list[str], extra: list[str], python: str = sys.executable) -> list[str]:
    """``python -m swebench.harness.run_evaluation …`` for one run."""
    cmd = [python, "-m", HARNESS_MODULE, "--dataset_name", dataset, "--split", split,
           "--predictions_path", str(predictions), "--max_workers", str(max_workers), "--run_id", run_id,
           "--timeout", str(timeout), "--report_dir", str(report_dir)]
    if instance_ids:
        cmd += ["--instance_ids", *instance_ids]
    return cmd + list(extra)


@dataclass
class HarnessProcess:
    """A running harness; stdout and stderr go to ``log``."""

    proc: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, cmd: list[str], *, cwd: Path, log: Path, env: dict[str, str] | None = None) -> "HarnessProcess":
        run_env = dict(os.environ if env is None else env)
        run_env.setdefault("PYTHONUNBUFFERED", "1")  # its prints reach the log as they happen
        fh = open(log, "ab")
        try:
            # own session: a stop reaches its worker threads' docker calls and any child it spawns,
            # and a terminal hang-up of ours does not kill it mid-write
            proc = subprocess.Popen(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=run_env, start_new_session=True)
        finally:
            fh.close()
        return cls(proc, log)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM the group, wait ``grace_s``, then SIGKILL it; the exit code."""
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)
            deadline = time.monotonic() + wait
            while self.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
        return self.proc.poll()

    def log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return -1

    def tail(self, max_bytes: int = 8192) -> str:
        try:
            with open(self.log, "rb") as fh:
                size = fh.seek(0, 2)
                fh.seek(max(size - max_bytes, 0))
                data = fh.read()
        except OSError:
            return ""
        # tqdm redraws with \r: keep the last state of each line
        return "\n".join(ln.rsplit("\r", 1)[-1] for ln in data.decode("utf-8", "replace").splitlines())


def remove_run_containers(run_id: str) -> int:
    """Remove containers a stopped harness left (named ``sweb.eval.<instance>.<run_id>``); how many."""
    try:
        import docker

        client = docker.from_env(timeout=30)
        n = 0
        for c in client.containers.list(all=True, filters={"name": f".{run_id}"}):
            if c.name.endswith(f".{run_id}") or f".{run_id}." in c.name:
                with contextlib.suppress(Exception):
                    c.remove(force=True)
                    n += 1
        client.close()
        return n
    except Exception:  # best effort: the stop itself already happened
        return 0
