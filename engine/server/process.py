"""Start a server in its own session, follow its log, and stop its whole process tree for sure.

The server's stdout/stderr go straight to ``server.log`` (opened O_APPEND) rather than through a
pipe: if the console is SIGKILLed the server must not die of a broken pipe halfway, and its
later lines must still land in the log that ``rollout serve stop`` and the user read.
We follow the file instead (:class:`LogFollower`) and rotate it by copy-and-truncate.

Stopping: SIGTERM to the process group (= session, since we start it with setsid) and to every
descendant ever seen (a scheduler may setsid itself out of the group), wait the grace, SIGKILL the
same set, then verify with psutil that nothing of it is alive. Each process is identified by
(pid, create_time) so a recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import psutil

from engine.errors import ServiceError
from engine.runs import atomic_write_json

SERVER_JSON = "server.json"
SERVER_LOG = "server.log"


@dataclass
class ProcRef:
    """A process as (pid, create_time): safe against pid reuse."""

    pid: int
    create_time: float

    def alive(self) -> bool:
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.01:
                return False
            return proc.status() != psutil.STATUS_ZOMBIE
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False


@dataclass
class ServerRecord:
    """What survives in ``server.json`` so another process can find and stop the server."""

    pid: int
    pgid: int
    sid: int
    create_time: float
    argv: list[str]
    url: str
    port: int
    log: str
    descendants: list[ProcRef] = field(default_factory=list)
    owner_pid: int = field(default_factory=os.getpid)
    stopped: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["descendants"] = [asdict(d) for d in self.descendants]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ServerRecord":
        data = dict(data)
        data["descendants"] = [ProcRef(**d) for d in data.get("descendants") or []]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, run_path: Path) -> None:
        atomic_write_json(Path(run_path) / SERVER_JSON, self.to_dict())

    @classmethod
    def load(cls, run_path: Path) -> "ServerRecord | None":
        try:
            return cls.from_dict(json.loads((Path(run_path) / SERVER_JSON).read_text()))
        except (FileNotFoundError, ValueError, TypeError, KeyError):
            return None


@dataclass
class StopReport:
    """How a stop went: whether SIGKILL was needed, and any process still alive afterwards."""

    signalled: list[int]
    killed: list[int]
    survivors: list[int]
    elapsed_s: float

    @property
    def clean(self) -> bool:
        return not self.survivors


def _safe_sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except (ProcessLookupError, PermissionError, OSError):
        return None


def _safe_pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError, OSError):
        return None


def group_members(record: ServerRecord) -> list[psutil.Process]:
    """Live (non-zombie) processes of the server: same session or group, or a descendant once seen."""
    tracked = {(d.pid, round(d.create_time, 2)) for d in record.descendants}
    tracked.add((record.pid, round(record.create_time, 2)))
    found: list[psutil.Process] = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "create_time", "status"]):
        pid = proc.info["pid"]
        if pid == me or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        in_tree = (pid, round(proc.info["create_time"] or 0.0, 2)) in tracked
        if in_tree or _safe_sid(pid) == record.sid or _safe_pgid(pid) == record.pgid:
            found.append(proc)
    return found


def _signal_all(record: ServerRecord, sig: int) -> list[int]:
    """Send ``sig`` to the group and to every tracked descendant still alive; the pids signalled."""
    sent: list[int] = []
    members = group_members(record)  # before the killpg, so the report names who got the signal
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(record.pgid, sig)
    for proc in members:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.send_signal(sig)
            sent.append(proc.pid)
    return sent


def stop_record(record: ServerRecord, grace_s: float = 30.0, *, reap: subprocess.Popen[bytes] | None = None,
                poll_s: float = 0.1) -> StopReport:
    """SIGTERM the server's group and descendants, wait ``grace_s``, SIGKILL what is left, verify.

    ``reap`` is our own Popen of the leader (so it does not linger as a zombie). Works from any
    process: ``rollout serve stop`` calls it with a record loaded from server.json.
    """
    started = time.monotonic()
    signalled = _signal_all(record, signal.SIGTERM)
    deadline = started + max(0.0, grace_s)
    killed: list[int] = []
    while True:
        if reap is not None:
            reap.poll()
        members = group_members(record)
        if not members:
            break
        if time.monotonic() >= deadline:
            killed = _signal_all(record, signal.SIGKILL)
            # SIGKILL cannot be ignored; give the kernel a moment to tear them down
            end = time.monotonic() + 5.0
            while time.monotonic() < end:
                if reap is not None:
                    reap.poll()
                if not group_members(record):
                    break
                time.sleep(poll_s)
            break
        time.sleep(poll_s)
    if reap is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            reap.wait(timeout=1.0)
    survivors = [p.pid for p in group_members(record)]
    return StopReport(signalled=sorted(set(signalled)), killed=sorted(set(killed)), survivors=survivors,
                      elapsed_s=round(time.monotonic() - started, 3))


def rotate_log(path: Path, max_bytes: int) -> bool:
    """Copy-and-truncate ``path`` to ``path.1`` when it is larger than ``max_bytes``.

    Copy-truncate (not rename) because the server keeps its O_APPEND descriptor: after the
    truncate its next write lands at the start of the same file.
    """
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    shutil.copyfile(path, path.with_name(path.name + ".1"))
    with open(path, "r+b") as fh:
        fh.truncate(0)
    return True


class LogFollower:
    """Reads the lines appended to a log file since the last call; keeps a tail for diagnosis."""

    def __init__(self, path: Path, tail_lines: int = 200, max_bytes: int = 50 * 1024 * 1024) -> None:
        self.path = Path(path)
        self.offset = 0
        self.partial = b""
        self.tail: deque[str] = deque(maxlen=tail_lines)
        self.max_bytes = max_bytes

    def read_new(self) -> list[str]:
        """New complete lines (a half-written last line waits for its end)."""
        if rotate_log(self.path, self.max_bytes):
            self.offset = 0
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self.offset:  # truncated under us (rotation by someone else)
            self.offset = 0
        if size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read(size - self.offset)
        self.offset += len(data)
        data = self.partial + data
        *complete, self.partial = data.split(b"\n")
        # progress bars rewrite one line with \r: keep the last state of each line
        lines = [raw.split(b"\r")[-1].decode("utf-8", "replace").rstrip() for raw in complete]
        self.tail.extend(lines)
        return lines

    def tail_lines(self) -> list[str]:
        lines = list(self.tail)
        if self.partial:
            lines.append(self.partial.decode("utf-8", "replace"))
        return lines


class ServerProcess:
    """A server we launched: Popen in a new session, log in ``log_path``, tree tracked for stop."""

    def __init__(self, argv: list[str], *, log_path: Path, env: dict[str, str] | None = None, url: str = "",
                 port: int = 0, cwd: Path | None = None, max_log_bytes: int = 50 * 1024 * 1024) -> None:
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.extra_env = dict(env or {})
        self.url = url
        self.port = port
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None
        self.record: ServerRecord | None = None
        self.follower = LogFollower(self.log_path, max_bytes=max_log_bytes)

    def start(self) -> ServerRecord:
        """Launch (no shell, own session). Raises ServiceError when the program cannot be started."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.extra_env, "PYTHONUNBUFFERED": "1"}
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=subprocess.STDOUT, env=env,
                cwd=self.cwd, start_new_session=True, close_fds=True,
            )
        except OSError as exc:
            raise ServiceError(f"cannot start {self.argv[0]}: {exc.strerror or exc}: check --python / the engine command") from None
        finally:
            os.close(log_fd)
        pid = self.popen.pid
        try:
            create_time = psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:
            create_time = 0.0
        # start_new_session: the leader's pid is its session id and process group id
        self.record = ServerRecord(pid=pid, pgid=pid, sid=pid, create_time=create_time, argv=self.argv,
                                   url=self.url, port=self.port, log=str(self.log_path))
        return self.record

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def returncode(self) -> int | None:
        """None while the leader runs, else its exit code."""
        return self.popen.poll() if self.popen else None

    def refresh_descendants(self) -> bool:
        """Remember every descendant of the leader seen now; True when the set grew."""
        if self.record is None or self.returncode() is not None:
            return False
        try:
            children = psutil.Process(self.record.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return False
        known = {(d.pid, round(d.create_time, 2)) for d in self.record.descendants}
        grew = False
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                ref = ProcRef(child.pid, child.create_time())
                if (ref.pid, round(ref.create_time, 2)) not in known:
                    self.record.descendants.append(ref)
                    grew = True
        return grew

    def stop(self, grace_s: float = 30.0) -> StopReport:
        """Stop the whole tree (see :func:`stop_record`)."""
        if self.record is None:
            return StopReport([], [], [], 0.0)
        self.refresh_descendants()
        report = stop_record(self.record, grace_s, reap=self.popen)
        self.record.stopped = True
        return report


def describe_survivors(pids: Iterable[int]) -> str:
    """``pid 123 (python), pid 456 (sglang::scheduler)`` for a one-line report."""
    parts = []
    for pid in pids:
        try:
            name = psutil.Process(pid).name()
        except psutil.NoSuchProcess:
            name = "gone"
        parts.append(f"pid {pid} ({name})")
    return ", ".join(parts)
