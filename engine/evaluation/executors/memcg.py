"""Per-run memory cgroups for the local sandbox (cgroup v2 with delegation, or v1's memory controller).

The executor owns one parent cgroup (``rollout-sandbox-<pid>-<hex>`` under its own cgroup) and holds
every run in a child with a hard memory limit and no swap (one child per run in spawn mode; in
fork-server mode one per concurrent run, reused by its runs one at a time), so a program that forks to get around the
per-process address-space limit is still held to the test's memory limit in resident pages
(tmpfs pages it writes count too). The run's first sandboxed process joins the child by writing
``0`` to its ``cgroup.procs``; its descendants inherit it.

Where neither kind is usable (no memory controller, not root and not delegated, a read-only
cgroupfs) :func:`probe` says why and the sandbox runs without one (rlimits still apply).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class MemoryCgroups:
    """A parent cgroup the executor created, and the per-run children below it."""

    version: int  # 1 or 2
    root: Path
    _stale: list[Path] = field(default_factory=list)

    def label(self) -> str:
        return f"cgroup v{self.version} memory, one run at a time per cgroup ({self.root})"

    def create(self, name: str, limit_bytes: int) -> Path:
        """A child cgroup limited to ``limit_bytes`` of memory, without swap."""
        self.sweep()
        path = self.root / name
        path.mkdir()
        try:
            if self.version == 2:
                _write(path / "memory.max", limit_bytes)
                with contextlib.suppress(OSError):  # no swap accounting on this kernel
                    _write(path / "memory.swap.max", 0)
            else:
                _write(path / "memory.limit_in_bytes", limit_bytes)
                # memsw is memory + swap: the same figure means no swap (absent without swap accounting)
                with contextlib.suppress(OSError):
                    _write(path / "memory.memsw.limit_in_bytes", limit_bytes)
        except OSError:
            self.remove(path)
            raise
        return path

    def remove(self, path: Path) -> None:
        """Kill what is left in ``path`` and delete it (later, if its processes are still exiting)."""
        if not _rmdir(path):
            _kill_all(path, self.version)
            if not _rmdir(path):
                self._stale.append(path)

    def sweep(self) -> None:
        """Retry removing children whose processes were still exiting."""
        self._stale = [p for p in self._stale if not _rmdir(p)]

    def close(self) -> None:
        """Remove every child and the parent (waiting up to ~2 s for killed processes to exit)."""
        deadline = time.monotonic() + 2.0
        while True:
            children = [p for p in self.root.iterdir() if p.is_dir()] if self.root.is_dir() else []
            for child in children:
                _kill_all(child, self.version)
                _rmdir(child)
            if _rmdir(self.root) or not self.root.exists() or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self._stale.clear()


def probe(tag: str = "") -> tuple[MemoryCgroups | None, str]:
    """Create the executor's parent memory cgroup, or say in a few words why there is none."""
    name = f"rollout-sandbox-{os.getpid()}-{tag or secrets.token_hex(3)}"
    reasons = []
    for version, base in _candidates():
        try:
            root = base / name
            root.mkdir()
        except OSError as exc:
            reasons.append(f"v{version} {base}: {exc.strerror or exc}")
            continue
        cg = MemoryCgroups(version, root)
        try:
            if version == 2:
                _write(root / "cgroup.subtree_control", "+memory")
            test = cg.create("probe", 64 << 20)
            cg.remove(test)
        except OSError as exc:
            reasons.append(f"v{version} {root}: {exc.strerror or exc}")
            cg.close()
            continue
        return cg, cg.label()
    why = "; ".join(reasons) if reasons else "no memory controller mounted"
    return None, f"no memory cgroup ({why}): memory limited per process (address space) only"


def _candidates() -> list[tuple[int, Path]]:
    """Our own cgroup in each hierarchy that has the memory controller, v2 first."""
    mounts: dict[str, Path] = {}
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            fstype, _, super_opts = (right.split() + ["", "", ""])[:3]
            point = Path(left.split()[4])
            if fstype == "cgroup2":
                mounts.setdefault("v2", point)
            elif fstype == "cgroup" and "memory" in super_opts.split(","):
                mounts.setdefault("v1", point)
        own = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    out: list[tuple[int, Path]] = []
    for line in own:
        hid, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        rel = path.lstrip("/")
        if hid == "0" and controllers == "" and "v2" in mounts:
            base = mounts["v2"] / rel
            try:
                if "memory" in (base / "cgroup.controllers").read_text().split():
                    out.insert(0, (2, base))
            except OSError:
                pass
        elif "memory" in controllers.split(",") and "v1" in mounts:
            out.append((1, mounts["v1"] / rel))
    return out


def _write(path: Path, value: object) -> None:
    with open(path, "w") as fh:
        fh.write(str(value))


def _rmdir(path: Path) -> bool:
    try:
        os.rmdir(path)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _kill_all(path: Path, version: int) -> None:
    if version == 2:
        with contextlib.suppress(OSError):
            _write(path / "cgroup.kill", 1)
            return
    with contextlib.suppress(OSError):
        for pid in (path / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                os.kill(int(pid), 9)
