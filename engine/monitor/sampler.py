"""One sampler per box and workspace: samples the box about once a second into shared files; viewers just read.

Files in ``<workspace>/monitor/<host>/``:

- ``latest.json``   the newest sample, replaced atomically (a reader never sees half a file)
- ``samples.jsonl`` every sample, one JSON line each; rotated to ``samples.1.jsonl`` past a size cap
- ``sampler.lock``  held (flock) by the live sampler for its whole life: the kernel releases it
  when the process dies, so a crashed sampler never blocks the next one
- ``sampler.json``  who holds the lock (pid, host, interval, started)
- ``demand``        touched by every caller of :func:`ensure_sampler`; the sampler exits once
  nobody has touched it for ``idle_exit_s`` seconds
- ``paths.json``    extra folders whose disk to watch (output folders of jobs), with a last-asked time

Start it with :func:`ensure_sampler` (a detached ``python -m engine.monitor`` process),
read it with :func:`read_latest`. A sample is a dict: ``time``, ``host``, ``system``
(:class:`SystemReading`), ``gpu`` (:class:`GpuState`) and ``metrics`` (flat figures for alerts:
``cpu.total_pct``, ``mem.used_pct``, ``swap.used_pct``, ``load.1m``, ``disk.workspace_free_pct``,
``disk.min_free_pct``, ``gpu.max_util``, ``gpu.max_mem_pct``...).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from engine.monitor.gpu import GpuSource, NvmlSource, gpu_metrics
from engine.monitor.system import SystemProbe, SystemReading
from engine.runs import atomic_write_json, pid_alive

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

MONITOR_DIRNAME = "monitor"
SAMPLE_VERSION = 1
#: samples.jsonl is rotated past this size (one old file is kept)
ROTATE_BYTES = 8 * 1024 * 1024
#: a watched path nobody asked for in this long is dropped (seconds)
PATH_TTL_S = 3600.0
DEFAULT_IDLE_EXIT_S = 120.0


def monitor_dir(workspace: Path, host: str | None = None) -> Path:
    """``<workspace>/monitor/<host>/``: per host, so boxes sharing a workspace (NFS home) each
    keep their own sampler and viewers see their own box."""
    return Path(workspace) / MONITOR_DIRNAME / (host or socket.gethostname())


def take_sample(probe: SystemProbe, gpu_source: GpuSource, paths: Mapping[str, str | os.PathLike[str]],
                interval_s: float | None = None) -> dict[str, Any]:
    """One sample of the box: system reading, GPU state and the flat metrics alerts use."""
    system = probe.read(paths)
    gpu = gpu_source.read()
    return {
        "version": SAMPLE_VERSION,
        "time": system.time,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "interval_s": interval_s,
        "system": system.to_dict(),
        "gpu": gpu.to_dict(),
        "metrics": sample_metrics(system, gpu_metrics(gpu)),
    }


def sample_now(workspace: Path, paths: Mapping[str, str | os.PathLike[str]] | None = None,
               gpu_source: GpuSource | None = None, prime_s: float = 0.3) -> dict[str, Any]:
    """One sample taken here and now (for one-shot viewers when no fresh shared sample exists)."""
    probe = SystemProbe()
    time.sleep(prime_s)  # CPU percentages need an interval between two readings
    source = gpu_source or NvmlSource()
    try:
        sample = take_sample(probe, source, {"workspace": str(workspace), **(paths or {})})
    finally:
        if gpu_source is None:
            source.close()
    sample["age_s"] = 0.0
    sample["pid"] = None
    return sample


def sample_metrics(system: SystemReading, gpu: dict[str, Any]) -> dict[str, Any]:
    """The figures alert rules refer to as ``<group>.<name>``."""
    disk: dict[str, Any] = {}
    frees = []
    for d in system.disks:
        disk[f"{d.label}_free_pct"] = d.free_pct
        frees.append(d.free_pct)
    disk["min_free_pct"] = min(frees) if frees else None
    return {
        "cpu": {"total_pct": system.cpu_total_pct, "count": system.cpu_count},
        "mem": {"used_pct": system.mem_used_pct},
        "swap": {"used_pct": system.swap_used_pct},
        "load": {"1m": system.load_1m, "per_core_1m": round(system.load_1m / system.cpu_count, 2)
                 if system.load_1m is not None and system.cpu_count else None},
        "net": {"sent_bps": system.net_sent_bps, "recv_bps": system.net_recv_bps},
        "disk": disk,
        "gpu": gpu,
    }


# -- reading ---------------------------------------------------------------------------------


def read_latest(workspace: Path, max_age_s: float | None = None, host: str | None = None) -> dict[str, Any] | None:
    """The newest sample with its ``age_s``, or None when there is none (or it is older than ``max_age_s``).

    ``host`` reads another box's sample in a shared workspace (default: this box).
    """
    path = monitor_dir(workspace, host) / "latest.json"
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "time" not in data:
        return None
    data["age_s"] = round(max(time.time() - float(data["time"]), 0.0), 3)
    if max_age_s is not None and data["age_s"] > max_age_s:
        return None
    return data


def sampler_info(workspace: Path) -> dict[str, Any] | None:
    """The live sampler's lease (pid, host, interval), or None when no sampler holds the lock."""
    if not _lock_held(monitor_dir(workspace)):
        return None
    try:
        data = json.loads((monitor_dir(workspace) / "sampler.json").read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _lock_held(mdir: Path) -> bool:
    if fcntl is None:
        return False
    lock_path = mdir / "sampler.lock"
    if not lock_path.exists():
        return False
    with open(lock_path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


# -- starting and stopping -------------------------------------------------------------------


def _touch(path: Path) -> None:
    path.touch()
    os.utime(path, None)


def watch_paths(workspace: Path, paths: Mapping[str, str | os.PathLike[str]]) -> None:
    """Ask the sampler to also show the disks of ``paths`` (label → folder)."""
    mdir = monitor_dir(workspace)
    mdir.mkdir(parents=True, exist_ok=True)
    current = _read_paths(mdir, ttl=None)
    now = time.time()
    for label, p in paths.items():
        current[str(Path(p).expanduser().absolute())] = {"label": label, "t": now}
    atomic_write_json(mdir / "paths.json", current)


def _read_paths(mdir: Path, ttl: float | None = PATH_TTL_S) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((mdir / "paths.json").read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    now = time.time()
    return {
        p: v for p, v in data.items()
        if isinstance(v, dict) and (ttl is None or now - float(v.get("t") or 0) <= ttl)
    }


def ensure_sampler(
    workspace: Path,
    *,
    paths: Mapping[str, str | os.PathLike[str]] | None = None,
    interval_s: float = 1.0,
    idle_exit_s: float = DEFAULT_IDLE_EXIT_S,
) -> int | None:
    """Make sure a sampler runs for ``workspace``; return its pid (None when it could not start).

    Cheap enough to call on every refresh: it touches the demand file (keeping the sampler alive),
    and starts a detached sampler process only when no live one holds the lock.
    """
    mdir = monitor_dir(workspace)
    mdir.mkdir(parents=True, exist_ok=True)
    _touch(mdir / "demand")
    if paths:
        watch_paths(workspace, paths)
    info = sampler_info(workspace)
    if info is not None:
        return info.get("pid")
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log = open(mdir / "sampler.log", "ab")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.monitor", "--workspace", str(workspace),
             "--interval", str(interval_s), "--idle-exit", str(idle_exit_s)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            start_new_session=True,  # survives the job or console that started it, and their Ctrl-C
            env=env, close_fds=True,
        )
    except OSError:
        return None
    finally:
        log.close()
    # Reap it when it exits so it never lingers as a zombie of a long-lived caller.
    threading.Thread(target=proc.wait, name="sampler-reaper", daemon=True).start()
    return proc.pid


def stop_sampler(workspace: Path, timeout_s: float = 5.0) -> bool:
    """Stop the workspace's sampler (SIGTERM, then SIGKILL); True when none is left running."""
    info = sampler_info(workspace)
    if info is None:
        return True
    pid = info.get("pid")
    if not pid or info.get("host") not in (None, socket.gethostname()):
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(pid), sig)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _lock_held(monitor_dir(workspace)) and not pid_alive(int(pid)):
                return True
            time.sleep(0.05)
    return not _lock_held(monitor_dir(workspace))


# -- the sampler itself ----------------------------------------------------------------------


class Sampler:
    """Writes samples of the box into ``<workspace>/monitor`` until stopped or idle.

    Usable in a thread (call :meth:`run` with a ``stop`` event) or as the detached process of
    :func:`ensure_sampler`. Only the holder of ``sampler.lock`` writes.
    """

    def __init__(self, workspace: Path, *, interval_s: float = 1.0, idle_exit_s: float | None = DEFAULT_IDLE_EXIT_S,
                 gpu_source: GpuSource | None = None, rotate_bytes: int = ROTATE_BYTES) -> None:
        self.workspace = Path(workspace)
        self.mdir = monitor_dir(self.workspace)
        self.interval_s = max(float(interval_s), 0.05)
        self.idle_exit_s = idle_exit_s
        self.rotate_bytes = rotate_bytes
        self._gpu_source = gpu_source
        self._lock_fh: Any = None

    def acquire(self) -> bool:
        """Take the lock; False when another sampler holds it."""
        self.mdir.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            return True
        fh = open(self.mdir / "sampler.lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._lock_fh = fh
        atomic_write_json(self.mdir / "sampler.json", {
            "pid": os.getpid(), "host": socket.gethostname(), "interval_s": self.interval_s,
            "started": time.time(), "idle_exit_s": self.idle_exit_s,
        })
        return True

    def release(self) -> None:
        if self._lock_fh is not None:
            with contextlib.suppress(OSError):
                (self.mdir / "sampler.json").unlink()
            self._lock_fh.close()  # closing drops the flock
            self._lock_fh = None

    def paths(self) -> dict[str, str]:
        out = {"workspace": str(self.workspace)}
        for p, v in _read_paths(self.mdir).items():
            label = str(v.get("label") or Path(p).name)
            if label in out and out[label] != p:
                label = f"{label}:{Path(p).name}"
            out[label] = p
        return out

    def idle(self) -> bool:
        if self.idle_exit_s is None:
            return False
        try:
            last = (self.mdir / "demand").stat().st_mtime
        except OSError:
            return True
        return time.time() - last > self.idle_exit_s

    def write(self, sample: dict[str, Any]) -> None:
        atomic_write_json(self.mdir / "latest.json", sample)
        log = self.mdir / "samples.jsonl"
        with contextlib.suppress(OSError):
            if log.stat().st_size > self.rotate_bytes:
                os.replace(log, self.mdir / "samples.1.jsonl")
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(sample, default=str, separators=(",", ":")) + "\n")

    def run(self, stop: threading.Event | None = None, max_samples: int | None = None,
            on_sample: Callable[[dict[str, Any]], None] | None = None) -> int:
        """Sample until ``stop`` is set, the demand goes idle or ``max_samples`` are written.

        Returns the number of samples written (0 when another sampler holds the lock).
        """
        stop = stop or threading.Event()
        if not self.acquire():
            return 0
        source = self._gpu_source or NvmlSource()
        probe = SystemProbe()
        written = 0
        try:
            stop.wait(min(self.interval_s, 0.5))  # let the CPU counters prime
            while not stop.is_set():
                t0 = time.monotonic()
                sample = take_sample(probe, source, self.paths(), self.interval_s)
                try:
                    self.write(sample)
                except OSError:
                    if not self.mdir.is_dir():
                        break  # the workspace was removed: nobody can read us any more
                    # a full disk: keep sampling (viewers need to see it) and retry next time
                written += 1
                if on_sample is not None:
                    on_sample(sample)
                if (max_samples is not None and written >= max_samples) or self.idle():
                    break
                stop.wait(max(self.interval_s - (time.monotonic() - t0), 0.01))
        finally:
            if self._gpu_source is None:
                source.close()
            self.release()
        return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.monitor",
                                     description="Sample the box into <workspace>/monitor until idle.")
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--idle-exit", type=float, default=DEFAULT_IDLE_EXIT_S)
    parser.add_argument("--max-samples", type=int, default=None)
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    sampler = Sampler(Path(args.workspace), interval_s=args.interval, idle_exit_s=args.idle_exit)
    sampler.run(stop, max_samples=args.max_samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
