"""Host figures through psutil: CPU (per core and total), memory, swap, disks, network, load, top processes.

:class:`SystemProbe` keeps what rates need between two readings (CPU times, network counters,
per-process CPU times), so the first reading primes it and later ones give real percentages.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import psutil


@dataclass
class DiskInfo:
    """Usage of the file system holding ``path`` (the nearest existing ancestor when it does not exist yet)."""

    label: str
    path: str
    total_gib: float
    used_gib: float
    free_gib: float
    free_pct: float
    #: the mount point of that file system (viewers show one row per file system)
    mount: str | None = None


@dataclass
class ProcInfo:
    pid: int
    name: str
    cpu_pct: float
    rss_mib: float
    user: str | None = None
    command: str | None = None


@dataclass
class SystemReading:
    """One reading of the host."""

    time: float
    cpu_total_pct: float
    cpu_per_core_pct: list[float]
    cpu_count: int
    load_1m: float | None
    load_5m: float | None
    load_15m: float | None
    mem_total_gib: float
    mem_used_gib: float
    mem_available_gib: float
    mem_used_pct: float
    swap_total_gib: float
    swap_used_gib: float
    swap_used_pct: float
    net_sent_bps: float | None
    net_recv_bps: float | None
    disks: list[DiskInfo] = field(default_factory=list)
    top_processes: list[ProcInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


GIB = 1024.0**3
#: a top process's command line is cut to this many characters
COMMAND_CHARS = 120


def _existing_ancestor(path: Path) -> Path:
    p = path.expanduser().absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def mount_point(path: Path) -> str:
    """The mount point of the file system holding ``path`` (an existing path)."""
    p = path.absolute()
    while not os.path.ismount(p) and p != p.parent:
        p = p.parent
    return str(p)


def disk_info(label: str, path: str | os.PathLike[str]) -> DiskInfo | None:
    """Disk usage of the file system that holds (or will hold) ``path``; None when unreadable."""
    target = _existing_ancestor(Path(path))
    try:
        du = psutil.disk_usage(str(target))
    except OSError:
        return None
    free_pct = 100.0 * du.free / du.total if du.total else 0.0
    return DiskInfo(label=label, path=str(Path(path).expanduser()), total_gib=round(du.total / GIB, 2),
                    used_gib=round(du.used / GIB, 2), free_gib=round(du.free / GIB, 2), free_pct=round(free_pct, 2),
                    mount=mount_point(target))


class SystemProbe:
    """Reads the host; keep one per viewer/sampler so rates are computed between its own readings."""

    def __init__(self, top_n: int = 8) -> None:
        self.top_n = top_n
        self._last_net: tuple[float, int, int] | None = None
        # Prime the CPU counters: psutil's first non-blocking cpu_percent() is meaningless.
        psutil.cpu_percent(interval=None, percpu=True)
        self._primed_at = time.monotonic()
        self._procs: dict[int, psutil.Process] = {}
        self._read_net(time.monotonic())  # so the first reading has network rates too
        self._top_processes()  # primes the per-process CPU counters the same way

    def read(self, paths: Mapping[str, str | os.PathLike[str]] | None = None) -> SystemReading:
        """A reading; ``paths`` maps labels (``workspace``, ``output``...) to folders whose disk is shown."""
        now_mono = time.monotonic()
        per_core = [round(v, 1) for v in psutil.cpu_percent(interval=None, percpu=True)]
        total = round(sum(per_core) / len(per_core), 1) if per_core else 0.0
        try:
            load = os.getloadavg()
        except (OSError, AttributeError):
            load = None
        vm = psutil.virtual_memory()
        sw = psutil.swap_memory()
        sent_bps, recv_bps = self._read_net(now_mono)
        disks = [d for d in (disk_info(label, p) for label, p in (paths or {}).items()) if d is not None]
        return SystemReading(
            time=time.time(),
            cpu_total_pct=total,
            cpu_per_core_pct=per_core,
            cpu_count=len(per_core),
            load_1m=round(load[0], 2) if load else None,
            load_5m=round(load[1], 2) if load else None,
            load_15m=round(load[2], 2) if load else None,
            mem_total_gib=round(vm.total / GIB, 2),
            mem_used_gib=round((vm.total - vm.available) / GIB, 2),
            mem_available_gib=round(vm.available / GIB, 2),
            mem_used_pct=round(vm.percent, 1),
            swap_total_gib=round(sw.total / GIB, 2),
            swap_used_gib=round(sw.used / GIB, 2),
            swap_used_pct=round(sw.percent, 1),
            net_sent_bps=sent_bps,
            net_recv_bps=recv_bps,
            disks=disks,
            top_processes=self._top_processes(),
        )

    def _read_net(self, now_mono: float) -> tuple[float | None, float | None]:
        """Bytes/s sent and received since the previous call (None on the first)."""
        try:
            net = psutil.net_io_counters()
        except Exception:
            return None, None
        if net is None:
            return None, None
        sent_bps = recv_bps = None
        if self._last_net is not None:
            t0, s0, r0 = self._last_net
            dt = now_mono - t0
            if dt > 0:
                sent_bps = round(max(net.bytes_sent - s0, 0) / dt, 1)
                recv_bps = round(max(net.bytes_recv - r0, 0) / dt, 1)
        self._last_net = (now_mono, net.bytes_sent, net.bytes_recv)
        return sent_bps, recv_bps

    def _top_processes(self) -> list[ProcInfo]:
        """The busiest processes by CPU since the last reading (then by memory)."""
        seen: dict[int, psutil.Process] = {}
        rows: list[ProcInfo] = []
        for pid in psutil.pids():
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = psutil.Process(pid)
                # cpu_percent() measures since this Process object's previous call: keep the objects.
                cpu = proc.cpu_percent(interval=None)
                with proc.oneshot():
                    rss = proc.memory_info().rss
                    name = proc.name()
                    try:
                        user = proc.username()
                    except (psutil.AccessDenied, KeyError):
                        user = None
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            seen[pid] = proc
            rows.append(ProcInfo(pid=pid, name=name, cpu_pct=round(cpu, 1), rss_mib=round(rss / 1024**2, 1), user=user))
        self._procs = seen
        rows.sort(key=lambda r: (r.cpu_pct, r.rss_mib), reverse=True)
        top = rows[: self.top_n]
        for row in top:  # the command line only for the few shown: "python" alone says little
            try:
                row.command = " ".join(seen[row.pid].cmdline())[:COMMAND_CHARS] or None
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                pass
        return top
