"""Executors run one program with stdin and limits and say how it ended (one interface)."""

from __future__ import annotations

from engine.evaluation.executors.base import Executor, RunResult, RunSpec, Status

__all__ = ["Executor", "RunResult", "RunSpec", "Status", "make_executor"]


def make_executor(name: str, **options: object) -> Executor:
    """Build the executor called ``name`` (local, piston, docker or ray) with its options."""
    from engine.errors import InputError

    if name == "local":
        from engine.evaluation.executors.local import LocalExecutor

        return LocalExecutor(**options)  # type: ignore[arg-type]
    if name == "piston":
        from engine.evaluation.executors.piston import PistonExecutor

        return PistonExecutor(**options)  # type: ignore[arg-type]
    if name == "docker":
        from engine.evaluation.executors.docker_exec import DockerExecutor

        return DockerExecutor(**options)  # type: ignore[arg-type]
    if name == "ray":
        from engine.evaluation.executors.ray_exec import RayExecutor

        return RayExecutor(**options)  # type: ignore[arg-type]
    raise InputError(f"unknown executor {name!r}: use local, piston, docker or ray")
