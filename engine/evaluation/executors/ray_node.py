"""The node side of the Ray executor: run one program with the node's own local or docker executor.

Ray ships :func:`run_on_node` and :func:`probe_node` to its worker processes by reference (this
module must be importable on every node: the same rollout-console install). Nothing here imports
ray at module level, so the module stays importable where Ray is absent.

Each Ray worker process keeps one warm executor (the local sandbox's fork server, or the docker
executor's container) for all the tasks it runs, instead of starting one per program: that cache
is the one piece of process-level state, and it lives only inside Ray worker processes.

Ray ends worker processes with SIGKILL, so nothing of a worker's own runs at the end: a docker
executor's container would outlive it. Each container is therefore recorded in a per-run folder
on its node, and the driver's last task on every node (:func:`cleanup_node`) removes them.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from engine.evaluation.executors.base import Executor, RunResult, RunSpec, Status

#: an executor's run is given this long beyond the program's own time limit before the task gives up
RUN_SLACK_S = 60.0


class SandboxUnavailable(Exception):
    """The node's executor gave no verdict (ERROR): Ray retries the task, maybe on another node."""


class _NodeSandbox:
    """One executor and the event loop thread it runs on, inside one Ray worker process."""

    def __init__(self, name: str, options: dict[str, Any], run_token: str = "") -> None:
        from engine.evaluation.executors import make_executor

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="rollout-sandbox-loop", daemon=True)
        self.thread.start()
        self.executor: Executor = make_executor(name, **options)
        try:
            self.call(self.executor.start(), 300.0)
        except BaseException:
            self.loop.call_soon_threadsafe(self.loop.stop)
            raise
        container = self.executor.describe().get("container")
        if container and run_token:
            folder = _registry(run_token)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / str(container)).write_text(str(os.getpid()))

    def call(self, coro: Any, timeout: float) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except BaseException:
            # ray.cancel interrupts the task: the program (its whole group) must go with it
            fut.cancel()
            raise

    def close(self) -> None:
        try:
            self.call(self.executor.close(), 30.0)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)


_SANDBOXES: dict[tuple[str, str, str], _NodeSandbox] = {}


def _registry(run_token: str) -> Path:
    """This node's record of the containers one run started."""
    return Path(tempfile.gettempdir()) / f"rollout-ray-{run_token}"


def _sandbox(name: str, options: dict[str, Any], run_token: str) -> _NodeSandbox:
    key = (name, repr(sorted(options.items())), run_token)
    box = _SANDBOXES.get(key)
    if box is None:
        box = _SANDBOXES[key] = _NodeSandbox(name, options, run_token)
    return box


@atexit.register
def _close_all() -> None:  # a worker that exits normally removes its container / fork server
    for box in list(_SANDBOXES.values()):
        try:
            box.close()
        except Exception:  # best effort at interpreter exit
            pass
    _SANDBOXES.clear()


def _node_ip() -> str:
    try:
        import ray

        return str(ray.util.get_node_ip_address())
    except Exception:  # outside Ray (unit use): the node has no name
        return "?"


def run_on_node(name: str, options: dict[str, Any], spec: RunSpec, run_token: str = "") -> tuple[RunResult, str]:
    """Run ``spec`` with this node's ``name`` executor; the result and the node's address.

    An ERROR result (no verdict: the sandbox itself failed) is raised as SandboxUnavailable so
    Ray's ``retry_exceptions`` gives it another attempt.
    """
    box = _sandbox(name, options, run_token)
    result: RunResult = box.call(box.executor.run(spec), spec.time_limit_s + RUN_SLACK_S)
    if result.status is Status.ERROR:
        raise SandboxUnavailable(result.detail or "the node's executor gave no verdict")
    return result, _node_ip()


def probe_node(name: str, options: dict[str, Any], run_token: str = "") -> dict[str, Any]:
    """Start this node's executor (its pre-flight) and say what it isolates."""
    box = _sandbox(name, options, run_token)
    return dict(box.executor.describe(), node=_node_ip())


def cleanup_node(run_token: str) -> list[str]:
    """Remove every container the run started on this node (recorded by the workers); their ids."""
    for key in [k for k in _SANDBOXES if k[2] == run_token]:
        try:
            _SANDBOXES.pop(key).close()
        except Exception:  # its container is removed below anyway
            pass
    folder = _registry(run_token)
    if not folder.is_dir():
        return []
    removed = []
    try:
        import docker

        client = docker.from_env(timeout=30)
        for entry in folder.iterdir():
            try:
                client.containers.get(entry.name).remove(force=True)
                removed.append(entry.name)
            except Exception:  # already gone
                pass
        client.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return removed
