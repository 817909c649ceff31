"""Ray executor: every program runs as a Ray task on some node, with that node's local or docker executor.

The evaluation job is unchanged (same results files, resume, live progress): it calls
``run(spec)`` as with any executor, and this one submits the spec as a task of 1 CPU. Ray
schedules tasks over the cluster's nodes; a task whose worker process or node dies is
re-executed (``max_retries``), and so is one whose node sandbox gave no verdict
(``retry_exceptions``). The judging (compile check, output comparison) stays in the job's
process; only program executions travel.

Without an address a local Ray is started for the run (see :mod:`engine.raycluster`) and
stopped by :meth:`RayExecutor.close`.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from typing import Any

from engine.errors import ServiceError
from engine.evaluation.executors.base import Executor, RunResult, RunSpec, Status
from engine.evaluation.executors.ray_node import SandboxUnavailable, cleanup_node, probe_node, run_on_node
from engine.raycluster import RayCluster, connect

#: executors a node can run programs with (piston is a service already: nothing to distribute)
NODE_EXECUTORS = ("local", "docker")
#: attempts after the first when a worker process or node is lost, or the node sandbox failed
MAX_RETRIES = 3
#: tasks kept in flight per cluster CPU, so a CPU never idles between one task and the next
IN_FLIGHT_PER_CPU = 2
#: seconds the end-of-run cleanup on the nodes may take
CLEANUP_TIMEOUT_S = 60.0


def _one_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    # RayTaskError's text starts with the task's name and a traceback: keep the last line (the error)
    return f"{type(cause).__name__}: {(text[-1] if text else '')[:300]}"


class RayExecutor(Executor):
    """Runs programs as Ray tasks; each node uses its own ``node_executor`` (local or docker)."""

    name = "ray"

    def __init__(self, address: str | None = None, node_executor: str = "local",
                 node_options: dict[str, Any] | None = None, local_cpus: int | None = None,
                 max_in_flight: int | None = None, max_retries: int = MAX_RETRIES) -> None:
        if node_executor not in NODE_EXECUTORS:
            from engine.errors import InputError

            raise InputError(f"--node-executor {node_executor!r}: use local or docker")
        self.address = address
        self.node_executor = node_executor
        self.node_options = dict(node_options or {})
        self.local_cpus = local_cpus or os.cpu_count() or 1
        self.max_in_flight = max_in_flight
        self.max_retries = max_retries
        self.cluster: RayCluster | None = None
        self.nodes: dict[str, dict[str, Any]] = {}
        self.per_node: Counter[str] = Counter()
        self.stats = {"retries": 0}
        self._task: Any = None
        self._ray: Any = None
        self._closed = False
        #: names this run's node resources (containers) so the last task on each node finds them
        self.run_token = uuid.uuid4().hex[:16]
        self._node_ids: list[str] = []

    async def start(self) -> None:
        """Connect (or start a local Ray), then run the node executor's pre-flight on every node."""
        self.cluster = await asyncio.to_thread(connect, self.address, self.local_cpus)
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self._ray = ray
        self._task = ray.remote(run_on_node).options(
            num_cpus=1, max_retries=self.max_retries, retry_exceptions=[SandboxUnavailable], name="rollout-eval")
        probe = ray.remote(probe_node)
        workers = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= 1]
        self._node_ids = [n["NodeID"] for n in workers]
        # one pre-flight per node: every node must be able to run the programs, not just one
        refs = [probe.options(num_cpus=1, max_retries=self.max_retries, name="rollout-eval-probe",
                              scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(self.node_executor, self.node_options, self.run_token) for n in workers]
        try:
            found = await asyncio.gather(*(asyncio.wrap_future(r.future()) for r in refs))
        except Exception as exc:
            await self.close()
            raise ServiceError(f"the {self.node_executor} executor failed its pre-flight on a Ray node: "
                               f"{_one_line(exc)}") from None
        self.nodes = {d.get("node", "?"): d for d in found}

    def default_concurrency(self) -> int:
        """Programs in flight when --max-workers is not given: two per cluster CPU (Ray queues the rest)."""
        cpus = int(self.cluster.cpus) if self.cluster else self.local_cpus
        return self.max_in_flight or max(1, cpus) * IN_FLIGHT_PER_CPU

    async def run(self, spec: RunSpec) -> RunResult:
        if self._task is None:
            await self.start()
        ref = self._task.remote(self.node_executor, self.node_options, spec, self.run_token)
        try:
            result, node = await asyncio.wrap_future(ref.future())
        except asyncio.CancelledError:
            # the evaluation timed out or was stopped: the task (and its program) goes too
            self._ray.cancel(ref)
            raise
        except Exception as exc:  # retries exhausted: the node, worker or sandbox kept failing
            return RunResult(Status.ERROR, detail=f"ray task failed after {self.max_retries} retries: {_one_line(exc)}")
        self.per_node[node] += 1
        return result

    async def close(self) -> None:
        if self.cluster is not None and not self._closed:
            self._closed = True
            self._task = None
            await self._cleanup_nodes()
            await asyncio.to_thread(self.cluster.shutdown)

    async def _cleanup_nodes(self) -> None:
        """One last task per node removes what the run's workers left there (Ray SIGKILLs its workers)."""
        if self._ray is None or not self._node_ids:
            return
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        cleanup = self._ray.remote(cleanup_node)
        refs = [cleanup.options(num_cpus=0, max_retries=0, name="rollout-eval-cleanup",
                                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
                .remote(self.run_token) for node in self._node_ids]
        try:
            await asyncio.wait_for(asyncio.gather(*(asyncio.wrap_future(r.future()) for r in refs),
                                                  return_exceptions=True), CLEANUP_TIMEOUT_S)
        except asyncio.TimeoutError:  # a node gone with its containers: nothing more to do from here
            pass

    def live_figures(self) -> dict[str, Any]:
        """Programs run per node so far (for the run's state.json)."""
        return {"ray_programs_by_node": dict(sorted(self.per_node.items()))}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"executor": self.name, "node_executor": self.node_executor}
        if self.cluster is not None:
            out.update(self.cluster.describe())
        if self.nodes:
            first = next(iter(self.nodes.values()))
            # the sandbox of the nodes, in the keys a local run shows (network, user, mode)
            out.update({k: v for k, v in first.items() if k not in ("executor", "node")})
            out["nodes"] = self.nodes
        return out
