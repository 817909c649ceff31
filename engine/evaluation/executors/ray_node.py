"""The node side of the Ray executor: run one program with the node's own local or docker executor.

Ray ships :func:`run_on_node` and :func:`probe_node` to its worker processes by reference (this
module must be importable on every node: the same rollout-console install). Nothing here imports
ray at module level, so the module stays importable where Ray is absent.

Each Ray worker process keeps one warm executor (the local sandbox's fork server, or the docker
executor's container) for all the tasks it runs, instead of starting one per program: that cache
is the one piece of process-level state, and it lives only inside Ray worker processes.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from concurrent.futures import Future
from typing import Any

from engine.evaluation.executors.base import Executor, RunResult, RunSpec, Status

#: an executor's run is given this long beyond the program's own time limit before the task gives up
RUN_SLACK_S = 60.0


class SandboxUnavailable(Exception):
    """The node's executor gave no verdict (ERROR): Ray retries the task, maybe on another node."""


class _NodeSandbox:
    """One executor and the event loop thread it runs on, inside one Ray worker process."""

    def __init__(self, name: str, options: dict[str, Any]) -> None:
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


_SANDBOXES: dict[tuple[str, str], _NodeSandbox] = {}


def _sandbox(name: str, options: dict[str, Any]) -> _NodeSandbox:
    key = (name, repr(sorted(options.items())))
    box = _SANDBOXES.get(key)
    if box is None:
        box = _SANDBOXES[key] = _NodeSandbox(name, options)
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


def run_on_node(name: str, options: dict[str, Any], spec: RunSpec) -> tuple[RunResult, str]:
    """Run ``spec`` with this node's ``name`` executor; the result and the node's address.

    An ERROR result (no verdict: the sandbox itself failed) is raised as SandboxUnavailable so
    Ray's ``retry_exceptions`` gives it another attempt.
    """
    box = _sandbox(name, options)
    result: RunResult = box.call(box.executor.run(spec), spec.time_limit_s + RUN_SLACK_S)
    if result.status is Status.ERROR:
        raise SandboxUnavailable(result.detail or "the node's executor gave no verdict")
    return result, _node_ip()


def probe_node(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Start this node's executor (its pre-flight) and say what it isolates."""
    box = _sandbox(name, options)
    return dict(box.executor.describe(), node=_node_ip())
