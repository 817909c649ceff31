"""The executor interface: a program, its stdin and limits in; an execution outcome out."""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from typing import Any


class Status(str, enum.Enum):
    """Verdict of one test (and of one execution, where AC means "ran and exited 0")."""

    AC = "AC"  # accepted
    WA = "WA"  # wrong answer
    TLE = "TLE"  # time limit (wall clock or CPU)
    MLE = "MLE"  # memory limit
    RE = "RE"  # runtime error (non-zero exit, signal)
    CE = "CE"  # compile error (for Python: a SyntaxError)
    OLE = "OLE"  # output limit
    SKIP = "SKIP"  # not run (an earlier test failed, or the evaluation ran out of time)
    ERROR = "ERROR"  # infrastructure failure: the verdict is unknown, not the solution's fault


#: statuses that say something about the solution (ERROR and SKIP do not)
SOLUTION_STATUSES = (Status.AC, Status.WA, Status.TLE, Status.MLE, Status.RE, Status.CE, Status.OLE)


@dataclass
class RunSpec:
    """One program execution. Times in seconds, memory in MB, output cap in bytes per stream."""

    source: str
    stdin: str = ""
    args: list[str] = field(default_factory=list)
    #: extra files written beside the program (name -> text), e.g. a checker's inputs
    files: dict[str, str] = field(default_factory=dict)
    language: str = "python"
    time_limit_s: float = 3.0
    memory_mb: int = 1024
    output_limit: int = 1 << 20


@dataclass
class RunResult:
    """How one execution ended. ``status`` is AC for a clean exit 0; the suite judges output."""

    status: Status
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    signal: int | None = None
    wall_s: float = 0.0
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "exit_code": self.exit_code, "signal": self.signal,
                "wall_s": round(self.wall_s, 4), "detail": self.detail}


def classify_python_failure(exit_code: int | None, sig: int | None, stderr: str) -> tuple[Status, str]:
    """Map a failed Python run to RE/MLE/TLE from its exit code, signal and the traceback tail."""
    import signal as _signal

    tail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if sig is not None:
        if sig == _signal.SIGXCPU:
            return Status.TLE, "CPU time limit"
        if sig == _signal.SIGXFSZ:
            return Status.OLE, "file size limit"
        if sig == _signal.SIGKILL:
            # the kernel's OOM killer or the CPU hard limit; neither is a plain crash
            return Status.MLE, "killed (SIGKILL)"
        return Status.RE, f"signal {sig}"
    if "MemoryError" in tail or tail.startswith("MemoryError"):
        return Status.MLE, tail[:200]
    if "RecursionError" in tail:
        return Status.RE, tail[:200]
    return Status.RE, tail[:200] or f"exit code {exit_code}"


def exit_verdict(spec: RunSpec, rc: int, timed_out: bool, stdout: str, stderr: str, out_over: bool,
                 wall: float) -> RunResult:
    """The RunResult of a sandboxed process from its exit (``rc`` < 0: killed by signal -rc)."""
    import signal as _signal

    sig = -rc if rc < 0 else None
    if timed_out:
        return RunResult(Status.TLE, stdout, stderr, None, sig, wall, f"wall clock over {spec.time_limit_s:g}s")
    if out_over or sig == _signal.SIGXFSZ:
        return RunResult(Status.OLE, stdout, stderr, rc, sig, wall, f"output over {spec.output_limit} bytes")
    if rc == 0:
        return RunResult(Status.AC, stdout, stderr, 0, None, wall)
    status, detail = classify_python_failure(rc if sig is None else None, sig, stderr)
    if sig == _signal.SIGKILL and wall >= spec.time_limit_s * 0.9:
        status, detail = Status.TLE, "CPU time limit (SIGKILL)"
    return RunResult(status, stdout, stderr, rc, sig, wall, detail)


class Executor(abc.ABC):
    """Runs programs. ``start`` checks the service (ServiceError, exit 3, when unreachable)."""

    name = "executor"

    async def start(self) -> None:
        """Pre-flight: make sure programs can run. Raise ServiceError when they cannot."""

    async def close(self) -> None:
        """Release resources (clients, containers)."""

    @abc.abstractmethod
    async def run(self, spec: RunSpec) -> RunResult:
        """Run ``spec`` and say how it ended. Never raises for a program's own failure."""

    def describe(self) -> dict[str, Any]:
        """What this executor isolates, for run.json / the plan."""
        return {"executor": self.name}

    def pipeline(self, programs_at_a_time: int) -> int:
        """How many runs beyond ``programs_at_a_time`` to hand over at once (0: none). An executor
        that queues them itself, still running at most ``programs_at_a_time`` together, starts the
        next one the moment one ends instead of waiting for the caller."""
        return 0
