"""Connect to a Ray cluster, or start a local one for one run and stop it after.

Addresses (``--ray-address``):

* absent: ``RAY_ADDRESS`` when it is set (Ray's own convention), else a local Ray started for
  this run only: ``num_cpus`` bounded, every port on 127.0.0.1, no dashboard, stopped at the end;
* ``auto``: the cluster started on this machine with ``ray start --head``;
* ``HOST:PORT`` (a head's GCS address) or ``ray://HOST:PORT`` (Ray Client, port 10001 by default).

A run never joins a cluster it was not pointed at: with no address and no ``RAY_ADDRESS`` it
starts its own even when another Ray runs on the box.
Ray is an optional extra: nothing here imports it until :func:`connect` is called.
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ServiceError

RAY_MISSING = "Ray is not installed: pip install 'rollout-console[ray]' (the ray extra) on this machine and on every node"
#: Ray reads these at import time; set before the first ``import ray`` of the job process.
#: Usage statistics would phone home; the loopback knob makes a local Ray bind 127.0.0.1 only
#: (on Linux Ray otherwise resolves 127.0.0.1 to the machine's outward address).
QUIET_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_BACKEND_LOG_LEVEL": "error"}
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def ray_installed() -> bool:
    """Is the ``ray`` package importable here (without importing it)?"""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # a broken or shadowed install counts as missing
        return False


def require_ray() -> None:
    """ServiceError (exit 3) with the one-line install hint when Ray is missing."""
    if not ray_installed():
        raise ServiceError(RAY_MISSING)


@dataclass
class RayCluster:
    """The cluster a run uses: where it is, what it has, and whether this run started it."""

    address: str
    started_here: bool
    nodes: int
    cpus: float
    connect_s: float
    client_mode: bool = False
    node_ips: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        where = "local Ray started for this run (127.0.0.1)" if self.started_here else self.address
        return {"ray": where, "ray_address": self.address, "ray_nodes": self.nodes, "ray_cpus": self.cpus,
                "ray_connect_s": round(self.connect_s, 2)}

    def shutdown(self, grace_s: float = 5.0) -> list[int]:
        """Disconnect; a cluster started for this run is stopped with it, to the last process.

        Ray stops the GCS and raylet it started; its agents notice only after a while, so any
        process of the cluster still alive after ``grace_s`` (our own descendants, known by pid
        and start time from before the stop) is killed. Returns the pids that had to be killed.
        """
        import ray

        tree = _descendants() if self.started_here else []
        if ray.is_initialized():
            ray.shutdown()
        return _reap(tree, grace_s)


def _descendants() -> list[Any]:
    import psutil

    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def _reap(procs: list[Any], grace_s: float) -> list[int]:
    """Wait for ``procs`` to end; SIGKILL those left after ``grace_s`` (psutil guards against pid reuse)."""
    import psutil

    def alive() -> list[Any]:
        out = []
        for proc in procs:
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    out.append(proc)
            except psutil.Error:
                pass
        return out

    deadline = time.monotonic() + grace_s
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    killed = []
    for proc in alive():
        try:
            proc.kill()
            killed.append(proc.pid)
        except psutil.Error:
            pass
    return killed


#: Ray Client connections tried before giving up, and the pause between them (seconds)
CLIENT_ATTEMPTS = 3
CLIENT_RETRY_PAUSE_S = 2.0


def _init_with_retries(ray: Any, address: str, common: dict[str, Any]) -> None:
    """``ray.init(address)``; a Ray Client address is tried again when its server answered but
    aborted the connection: the proxy starts a server process per client, which can fail to come
    up in time on a busy head ("Initialization failure from server"). A cluster that does not
    answer at all is not waited for again."""
    attempts = CLIENT_ATTEMPTS if address.startswith("ray://") else 1
    for attempt in range(1, attempts + 1):
        try:
            ray.init(address=address, **common)
            return
        except ConnectionAbortedError:
            if attempt == attempts:
                raise
            try:
                ray.shutdown()  # a half-made client connection would refuse the next init
            except Exception:
                pass
            time.sleep(CLIENT_RETRY_PAUSE_S)


def connect(address: str | None, num_cpus: int) -> RayCluster:
    """Connect to the cluster at ``address`` (see the module doc) or start a local one.

    ``num_cpus`` bounds a local cluster only. Raises ServiceError (exit 3) when Ray is missing or
    the cluster cannot be reached. Blocking (seconds): call it from a thread in async code.
    """
    require_ray()
    address = address or os.environ.get("RAY_ADDRESS") or None
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if address is None:
        os.environ.update(LOOPBACK_ENV)
    import ray

    t0 = time.monotonic()
    common: dict[str, Any] = {"log_to_driver": False, "logging_level": "ERROR", "ignore_reinit_error": False}
    try:
        if address is None:
            ray.init(address="local", num_cpus=max(1, num_cpus), include_dashboard=False, **common)
        else:
            _init_with_retries(ray, address, common)
    except (ConnectionError, TimeoutError, ValueError, RuntimeError) as exc:
        where = address or "a local Ray"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        hint = ("start one with 'ray start --head' on the head node, or omit --ray-address for a local Ray; "
                "a cluster with token authentication also needs RAY_AUTH_MODE=token and its token "
                "(RAY_AUTH_TOKEN, or ~/.ray/auth_token from 'ray get-auth-token')"
                if address else "check that /tmp is writable and ports on 127.0.0.1 are free")
        raise ServiceError(f"Ray cluster at {where} could not be reached ({first}): {hint}") from None
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus = float(ray.cluster_resources().get("CPU", 0.0))
        gcs = ray.get_runtime_context().gcs_address if address is None or not address.startswith("ray://") else address
    except Exception as exc:  # a cluster that answers init but not its first query is unusable
        ray.shutdown()
        raise ServiceError(f"Ray cluster at {address or 'local'} answered but could not be queried: {exc}") from None
    if cpus < 1:
        ray.shutdown()
        raise ServiceError(f"Ray cluster at {address or 'local'} has no CPUs to run programs on: add worker nodes")
    return RayCluster(address=str(gcs), started_here=address is None, nodes=len(nodes), cpus=cpus,
                      connect_s=time.monotonic() - t0, client_mode=bool(address and address.startswith("ray://")),
                      node_ips=sorted({str(n.get("NodeManagerAddress")) for n in nodes}))
