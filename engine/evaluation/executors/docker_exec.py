"""Docker executor: one container per evaluation batch, programs run inside it one exec each.

The container has no network (``network_mode="none"``), a memory limit, a pids limit, a CPU quota
and all capabilities dropped except the few the in-container runner needs to drop to nobody and
kill the program's group. Inside, docker_runner.py gives each program a fresh dir, its own
session, rlimits and a wall-clock limit, as the local sandbox does.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import os
import tarfile
import time
from pathlib import Path
from typing import Any

from engine.errors import InputError, ServiceError
from engine.evaluation.executors.base import (
    Executor,
    RunResult,
    RunSpec,
    Status,
    exit_verdict,
)

RUNNER = Path(__file__).with_name("docker_runner.py")
DEFAULT_IMAGE = os.environ.get("ROLLOUT_EVAL_IMAGE", "python:3.11-slim")
#: the container's pid 1: it reaps orphans (a fork bomb's leftovers would otherwise stay zombies
#: and count against the user's process limit for every later program)
REAPER = ("import os, time\n"
          "while True:\n"
          "    try:\n"
          "        os.wait()\n"
          "    except ChildProcessError:\n"
          "        time.sleep(0.5)\n")
#: the runner's own start-up and the exec round trip, on top of the program's time limit
EXEC_SLACK_S = 30.0


def _tar(files: dict[str, bytes], mode: int = 0o644) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class DockerExecutor(Executor):
    """Runs Python programs in one long-lived, network-less container per batch."""

    name = "docker"

    def __init__(self, image: str | None = None, memory: str = "4g", pids: int = 512, cpus: float = 2.0,
                 nproc: int = 64, nofile: int = 64, fsize_mb: int = 16) -> None:
        self.image = image or DEFAULT_IMAGE
        self.memory = memory
        self.pids = pids
        self.cpus = cpus
        self.nproc, self.nofile, self.fsize_mb = nproc, nofile, fsize_mb
        self.client: Any = None
        self.container: Any = None
        self._ids = itertools.count(1)

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "image": self.image, "network": "none (container)", "memory": self.memory,
                "pids_limit": self.pids, "cpus": self.cpus,
                "container": self.container.short_id if self.container is not None else None}

    async def start(self) -> None:
        """Connect to docker, check the image and start the batch's container (exit 3 when unreachable)."""
        await asyncio.to_thread(self._start_sync)

    def _start_sync(self) -> None:
        import docker
        from docker.errors import DockerException, ImageNotFound

        try:
            self.client = docker.from_env(timeout=30)
            self.client.ping()
        except DockerException as exc:
            host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
            raise ServiceError(f"docker is not reachable at {host} ({type(exc).__name__}): start dockerd or use --executor local") from None
        try:
            self.client.images.get(self.image)
        except ImageNotFound:
            raise InputError(f"docker image {self.image!r} is not available locally: build or load it, or pass --image NAME") from None
        try:
            self.container = self.client.containers.run(
                self.image, command=["python3", "-I", "-S", "-c", REAPER],
                detach=True, network_mode="none", mem_limit=self.memory, memswap_limit=self.memory, pids_limit=self.pids,
                nano_cpus=int(self.cpus * 1e9), cap_drop=["ALL"], cap_add=["SETUID", "SETGID", "CHOWN", "KILL", "FOWNER", "DAC_OVERRIDE"],
                security_opt=["no-new-privileges"], labels={"rollout.eval": "1"}, working_dir="/", auto_remove=False,
            )
            self.container.exec_run(["python3", "-I", "-S", "-c", "import os; os.makedirs('/sandbox/runs', exist_ok=True)"])
            self.container.put_archive("/sandbox", _tar({"runner.py": RUNNER.read_bytes()}))
        except DockerException as exc:
            self._remove()
            raise ServiceError(f"docker could not start a container from {self.image!r}: {exc}") from None

    async def close(self) -> None:
        await asyncio.to_thread(self._remove)

    def _remove(self) -> None:
        if self.container is not None:
            try:
                self.container.remove(force=True)
            except Exception:  # already gone: nothing to clean up
                pass
            self.container = None
        if self.client is not None:
            self.client.close()
            self.client = None

    async def run(self, spec: RunSpec) -> RunResult:
        if self.container is None:
            await self.start()
        if spec.language not in ("python", "python3"):
            return RunResult(Status.ERROR, detail=f"the docker executor runs Python only, not {spec.language!r}")
        return await asyncio.to_thread(self._run_sync, spec)

    def _run_sync(self, spec: RunSpec) -> RunResult:
        from docker.errors import DockerException

        rid = f"r{next(self._ids)}"
        fsize = max(spec.output_limit + 1, self.fsize_mb << 20)
        meta = {"cpu": max(1, int(spec.time_limit_s + 0.999)), "as": spec.memory_mb << 20, "fsize": fsize,
                "nofile": self.nofile, "nproc": self.nproc, "time_limit": spec.time_limit_s,
                "output_limit": spec.output_limit, "args": list(spec.args)}
        files = {f"{rid}/main.py": spec.source.encode(), f"{rid}/.stdin": spec.stdin.encode(),
                 f"{rid}/spec.json": json.dumps(meta).encode()}
        files.update({f"{rid}/{Path(n).name}": c.encode() for n, c in spec.files.items()})
        t0 = time.monotonic()
        try:
            self.container.put_archive("/sandbox/runs", _tar(files))
            code, (out, err) = self.container.exec_run(
                ["python3", "-I", "-S", "/sandbox/runner.py", f"/sandbox/runs/{rid}"], demux=True, user="0:0")
        except DockerException as exc:
            return RunResult(Status.ERROR, wall_s=time.monotonic() - t0, detail=f"docker: {exc}")
        try:
            res = json.loads(out or b"")
        except ValueError:
            return RunResult(Status.ERROR, wall_s=time.monotonic() - t0,
                             detail=f"runner failed (exit {code}): {(err or b'').decode('utf-8', 'replace')[-300:]}")
        return exit_verdict(spec, int(res["rc"]), bool(res["timed_out"]), res["stdout"], res["stderr"],
                            bool(res["out_over"]), float(res["wall"]))
