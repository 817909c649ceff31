"""Is a run still going? The rule behind ``lost``, on the plain dicts of run.json and state.json.

Standard library only (os, time), no pathlib, dataclasses or typing at run time: the tmux status
line (``rollout status --tmux``, every few seconds) decides every active run's status with it.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

#: statuses a live job can be in; any of these with a stale heartbeat and no pid is ``lost``.
ACTIVE_STATUSES = frozenset({"starting", "running", "paused", "stopping", "waiting", "serving"})
FINAL_STATUSES = frozenset({"done", "failed", "cancelled"})
#: a heartbeat older than this (seconds), with the pid gone, means the job died without a word.
STALE_HEARTBEAT_S = 15.0


def hostname() -> str:
    """This box's name, as run.json records it (``socket.gethostname()``, which is uname's nodename)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket  # pragma: no cover - not POSIX

    return socket.gethostname()


def effective_status(info: dict[str, Any], state: dict[str, Any], now: float | None = None) -> str:
    """The status a viewer should show: ``lost`` for a job that died without a word.

    On this host a gone pid is proof enough; a run on another host is lost when its heartbeat is
    stale (its pid cannot be checked from here).
    """
    status = state.get("status") or info.get("status") or "starting"
    if status in ACTIVE_STATUSES and (state.get("waiting_on") or info.get("waiting_on")):
        if status != "waiting" and not pid_alive(info.get("pid") or state.get("pid"), info.get("host"), info.get("started")):
            return "waiting"  # its follower died; the remote side still holds the work
    elif status in ACTIVE_STATUSES:
        host = info.get("host")
        if host and host != hostname():
            heartbeat = float(state.get("heartbeat") or info.get("started") or 0)
            if (now if now is not None else time.time()) - heartbeat > STALE_HEARTBEAT_S:
                return "lost"
        elif not pid_alive(info.get("pid") or state.get("pid"), host, info.get("started")):
            return "lost"
    return status


def pid_alive(pid: int | None, host: str | None = None, started: float | None = None) -> bool:
    """Is ``pid`` a live (non-zombie) process on this host that began before ``started``?

    Another host's pid cannot be checked: it counts as alive (the heartbeat decides there).
    A process created well after the run started is a reused pid, not the job.
    """
    if host and host != hostname():
        return True
    if not pid:
        return False
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    found = _proc_stat(pid)
    if found is None:  # no /proc here: ask psutil (slower to import, so only then)
        import psutil

        try:
            proc = psutil.Process(pid)
            found = (proc.status() == psutil.STATUS_ZOMBIE, proc.create_time())
        except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
            return False
    if found is False:
        return False
    zombie, created = found
    if zombie:
        return False
    return not (started and created > started + 2.0)


def _proc_stat(pid: int) -> tuple[bool, float] | bool | None:
    """(zombie?, creation time) of ``pid`` from Linux's /proc; False when it does not exist; None
    without /proc. Read directly because psutil takes longer to import than the status line may
    run; it is the computation psutil does on Linux."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except (FileNotFoundError, ProcessLookupError):
        return False if os.path.isdir("/proc/self") else None
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()  # the command name may hold spaces and parentheses
    boot = _boot_time()
    if len(fields) < 20 or boot is None:
        return None
    return fields[0] == b"Z", boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _boot_time() -> float | None:
    try:
        with open("/proc/stat", "rb") as fh:
            for line in fh:
                if line.startswith(b"btime"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None
