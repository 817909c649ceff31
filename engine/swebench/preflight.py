"""Before a harness run: is the harness installed, and can Docker be reached? (exit 3 otherwise)"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from engine.errors import ServiceError

HARNESS_MODULE = "swebench.harness.run_evaluation"


def check_harness(python: str = sys.executable) -> None:
    """The harness must import in ``python`` (the interpreter the child job runs)."""
    if python == sys.executable:
        found = importlib.util.find_spec("swebench") is not None
    else:  # another interpreter: ask it
        try:
            found = subprocess.run([python, "-c", "import swebench.harness"], capture_output=True,
                                   timeout=60).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            found = False
    if not found:
        raise ServiceError(f"the SWE-bench harness ({HARNESS_MODULE}) is not installed for {python}: "
                           "pip install 'rollout-console[swebench]' (package swebench)")


def check_docker(timeout_s: float = 10.0) -> str:
    """Ping the Docker engine the harness will use (DOCKER_HOST or the local socket); its version."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover - docker is a core dependency
        raise ServiceError("the docker Python package is missing: reinstall rollout-console") from None
    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
        version = str(client.version().get("Version", "?"))
        client.close()
        return version
    except DockerException as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ServiceError(f"Docker cannot be reached ({first}): start dockerd or set DOCKER_HOST, "
                           "and check 'docker info' works for this user") from None
