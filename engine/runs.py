"""The run directory contract (DESIGN.md): create, write and find runs.

A run lives in ``<workspace>/runs/<run-id>/`` with

* ``run.json``     written at start and again at finish (kind, argv redacted, pid, host, ...);
* ``state.json``   replaced atomically (temp file + rename) by the job runner;
* ``events.jsonl`` append-only events, one JSON object per line, flushed per line.

Readers (``rollout runs``, ``rollout watch``, the console) only ever read these files.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import secrets
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from engine import __version__
from engine.errors import InputError
# the liveness rule and the workspace's location have their own cheap modules; their names stay here too
from engine.liveness import ACTIVE_STATUSES, FINAL_STATUSES, STALE_HEARTBEAT_S, effective_status, pid_alive  # noqa: F401
from engine.locations import default_workspace, resolve_workspace  # noqa: F401

RUNS_DIRNAME = "runs"
RUN_ID_RE = re.compile(r"^(?P<kind>[a-z0-9][a-z0-9_.-]*?)-(?P<ts>\d{8}-\d{6})-(?P<hex>[0-9a-f]{4})$")


_SECRET_FLAG_RE = re.compile(r"(api[-_]?key|token|secret|password)", re.IGNORECASE)
_SECRET_VALUE_RE = re.compile(r"\b(sk-[A-Za-z0-9_-]{8,}|hf_[A-Za-z0-9]{8,}|Bearer\s+\S+)")


def redact_text(text: str) -> str:
    """Hide things that look like API keys or bearer tokens."""
    return _SECRET_VALUE_RE.sub("<redacted>", text)


def redact_argv(argv: list[str]) -> list[str]:
    """Redact values of secret-looking flags (``--api-key X``, ``--token=X``) and key-like strings."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("<redacted>")
            hide_next = False
            continue
        if arg.startswith("-") and _SECRET_FLAG_RE.search(arg) and not arg.endswith(("-env", "_env", "-file", "_file")):
            if "=" in arg:
                out.append(arg.split("=", 1)[0] + "=<redacted>")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(redact_text(arg))
    return out


def new_run_id(kind: str, now: float | None = None) -> str:
    """``<kind>-<YYYYmmdd-HHMMSS>-<4 hex>``."""
    stamp = _dt.datetime.fromtimestamp(now if now is not None else time.time()).strftime("%Y%m%d-%H%M%S")
    safe_kind = re.sub(r"[^a-z0-9_.-]+", "-", kind.lower()).strip("-") or "job"
    return f"{safe_kind}-{stamp}-{secrets.token_hex(2)}"


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON to ``path`` so a concurrent reader sees either the old or the new file, never half."""
    payload = json.dumps(data, indent=1, default=str, ensure_ascii=False).encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read())
    except (FileNotFoundError, ValueError, OSError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class RunDir:
    """One run directory. Cheap to construct; every read goes to disk."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def kind(self) -> str:
        m = RUN_ID_RE.match(self.run_id)
        return m.group("kind") if m else (self.read_run().get("kind") or "?")

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def state_json(self) -> Path:
        return self.path / "state.json"

    @property
    def events_jsonl(self) -> Path:
        return self.path / "events.jsonl"

    # -- writing -----------------------------------------------------------------------------
    def write_run(self, info: dict[str, Any]) -> None:
        atomic_write_json(self.run_json, info)

    def update_run(self, **changes: Any) -> dict[str, Any]:
        info = self.read_run()
        info.update(changes)
        self.write_run(info)
        return info

    def write_state(self, state: dict[str, Any]) -> None:
        atomic_write_json(self.state_json, state)

    def append_event(self, event: dict[str, Any]) -> None:
        """Append one event line (``ts`` added when missing) and flush it."""
        record = {"ts": time.time(), **event}
        line = json.dumps(record, default=str, ensure_ascii=False)
        with open(self.events_jsonl, "a", encoding="utf-8") as fh:
            fh.write(redact_text(line) + "\n")

    # -- reading -----------------------------------------------------------------------------
    def read_run(self) -> dict[str, Any]:
        return _read_json(self.run_json) or {}

    def read_state(self) -> dict[str, Any]:
        return _read_json(self.state_json) or {}

    def read_events(self, last: int | None = None) -> list[dict[str, Any]]:
        """Events in order; a torn last line (job killed mid-write) is skipped."""
        if not self.events_jsonl.exists():
            return []
        events: list[dict[str, Any]] = []
        with open(self.events_jsonl, "rb") as fh:
            if last is not None:
                lines = _tail_lines(fh, last)
            else:
                lines = fh.read().splitlines()
        for raw in lines:
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if isinstance(obj, dict):
                events.append(obj)
        return events[-last:] if last is not None else events

    def effective_status(self, now: float | None = None, *, state: dict[str, Any] | None = None,
                         run: dict[str, Any] | None = None) -> str:
        """The status a viewer should show: ``lost`` for a job that died without a word
        (:func:`engine.liveness.effective_status`). ``state`` and ``run`` are the already-read
        state.json and run.json, when the caller has them (saves two reads)."""
        return effective_status(self.read_run() if run is None else run, self.read_state() if state is None else state, now)

    def summary(self) -> "RunSummary":
        state = self.read_state()
        run = self.read_run()
        return RunSummary(
            run_id=self.run_id,
            kind=run.get("kind") or self.kind,
            status=self.effective_status(state=state, run=run),
            started=run.get("started"),
            finished=run.get("finished"),
            pid=run.get("pid"),
            path=str(self.path),
            phase=state.get("phase"),
            counters=dict(state.get("counters") or {}),
            rate=dict(state.get("rate") or {}),
            eta_s=state.get("eta_s"),
            cost_usd=state.get("cost_usd"),
            alerts=list(state.get("alerts") or []),
            title=run.get("title"),
            exit_code=run.get("exit_code"),
            heartbeat=state.get("heartbeat") if isinstance(state.get("heartbeat"), (int, float)) else None,
            tokens=dict(state.get("tokens") or {}),
            waiting_on=state.get("waiting_on") or run.get("waiting_on"),
        )


@dataclass
class RunSummary:
    """What a list of runs shows of one run (JSON-friendly)."""

    run_id: str
    kind: str
    status: str
    started: float | None
    finished: float | None
    pid: int | None
    path: str
    phase: str | None = None
    counters: dict[str, Any] = field(default_factory=dict)
    rate: dict[str, Any] = field(default_factory=dict)
    eta_s: float | None = None
    cost_usd: float | None = None
    alerts: list[Any] = field(default_factory=list)
    title: str | None = None
    exit_code: int | None = None
    #: when the job last rewrote its state (viewers tell a silent job: ``stale``)
    heartbeat: float | None = None
    tokens: dict[str, Any] = field(default_factory=dict)
    #: the remote service holding the run's work (a hosted batch): no local heartbeat expected
    waiting_on: str | None = None

    @property
    def progress(self) -> float | None:
        total = self.counters.get("total") or 0
        return (self.counters.get("done", 0) / total) if total else None


def _tail_lines(fh: Any, count: int, block: int = 65536) -> list[bytes]:
    """The last ``count`` lines of a binary file, reading backwards in blocks."""
    fh.seek(0, os.SEEK_END)
    end = fh.tell()
    data = b""
    pos = end
    while pos > 0 and data.count(b"\n") <= count:
        step = min(block, pos)
        pos -= step
        fh.seek(pos)
        data = fh.read(step) + data
    lines = data.splitlines()
    return lines[-count:] if count else []


def tail_text(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of a text file (a server log...), [] when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return [line.decode("utf-8", errors="replace") for line in _tail_lines(fh, count)]
    except OSError:
        return []


def runs_root(workspace: Path) -> Path:
    return Path(workspace) / RUNS_DIRNAME


def create_run(
    workspace: Path,
    kind: str,
    argv: list[str] | None = None,
    *,
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    title: str | None = None,
    extra: dict[str, Any] | None = None,
) -> RunDir:
    """Create ``<workspace>/runs/<run-id>/`` and write its run.json (argv redacted)."""
    root = runs_root(workspace)
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(20):
        run_id = new_run_id(kind)
        path = root / run_id
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 20 collisions of 16 bits in one second
        raise InputError(f"could not create a run directory under {root}: too many runs this second")
    run = RunDir(path)
    info: dict[str, Any] = {
        "run_id": run_id,
        "kind": kind,
        "title": title,
        "argv": redact_argv(list(argv or [])),
        "cwd": os.getcwd(),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "version": __version__,
        "started": time.time(),
        "finished": None,
        "status": "starting",
        "inputs": inputs or {},
        # absolute, so a viewer started elsewhere finds them (see run_output_paths)
        "outputs": {k: os.path.abspath(os.path.expanduser(v)) if isinstance(v, str) and v else v
                    for k, v in (outputs or {}).items()},
    }
    if extra:
        info.update(extra)
    run.write_run(info)
    return run


def run_output_paths(info: dict[str, Any]) -> dict[str, str]:
    """A run's output paths (run.json ``outputs``), label -> absolute path.

    Relative paths (run.json of older versions) are resolved against the job's own working
    directory (``cwd`` in run.json), never the viewer's.
    """
    outputs = info.get("outputs")
    cwd = info.get("cwd")
    out: dict[str, str] = {}
    for label, value in outputs.items() if isinstance(outputs, dict) else ():
        if not isinstance(value, str) or not value:
            continue
        path = Path(value).expanduser()
        if not path.is_absolute() and isinstance(cwd, str) and cwd:
            path = Path(cwd) / path
        out[str(label)] = os.path.normpath(str(path))
    return out


def list_runs(workspace: Path) -> list[RunDir]:
    """Every run of the workspace, newest first (by run-id timestamp, then name)."""
    return list(iter_run_dirs(workspace))


def iter_run_dirs(workspace: Path) -> Iterator[RunDir]:
    """:func:`list_runs` lazily: names are sorted first and each folder's run.json is checked as
    it comes, so ``rollout runs -n 30`` on 10,000 runs opens about 30 of them."""
    root = runs_root(workspace)
    try:
        with os.scandir(root) as it:
            names = [e.name for e in it if e.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return

    def key(name: str) -> tuple[str, str]:
        m = RUN_ID_RE.match(name)
        return (m.group("ts") if m else "", name)

    for name in sorted(names, key=key, reverse=True):
        path = root / name
        if os.path.exists(os.path.join(path, "run.json")):
            yield RunDir(path)


def find_run(workspace: Path, ref: str) -> RunDir:
    """A run by exact id, unique prefix, a path to its folder, or ``last``/``latest``."""
    if ref in ("last", "latest", "-"):
        runs = list_runs(workspace)
        if not runs:
            raise InputError(f"no runs in {runs_root(workspace)}: start a job first or pass --workspace")
        return runs[0]
    as_path = Path(ref).expanduser()
    if (as_path / "run.json").is_file():
        return RunDir(as_path.resolve())
    exact = runs_root(workspace) / ref
    if (exact / "run.json").is_file():
        return RunDir(exact)
    matches = [r for r in list_runs(workspace) if r.run_id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InputError(f"no run matches '{ref}' in {runs_root(workspace)}: see 'rollout runs' for the ids")
    names = ", ".join(r.run_id for r in matches[:5])
    raise InputError(f"'{ref}' matches {len(matches)} runs ({names}...): give more of the id")


def iter_runs(workspace: Path) -> Iterator[RunSummary]:
    for run in iter_run_dirs(workspace):
        yield run.summary()


def signal_run(run: RunDir, now: bool = False) -> int:
    """Ask a live job to stop: SIGTERM (graceful), or two of them (``now``). Returns the pid.

    Raises InputError when the run is not running here (finished, lost, or on another host).
    """
    import signal as _signal

    info = run.read_run()
    status = run.effective_status()
    pid, host, started = info.get("pid"), info.get("host"), info.get("started")
    if host and host != socket.gethostname():
        raise InputError(f"run {run.run_id} runs on {host}: stop it there (rollout stop {run.run_id})")
    if status not in ACTIVE_STATUSES or not pid_alive(pid, host, started):
        waiting_on = run.read_state().get("waiting_on") or info.get("waiting_on")
        if status == "waiting" and waiting_on:
            raise InputError(f"run {run.run_id} is waiting on {waiting_on} with no local process: "
                             f"'rollout batch cancel {run.run_id}' cancels the remote work")
        raise InputError(f"run {run.run_id} is not running (status {status}): nothing to stop")
    try:
        os.kill(int(pid), _signal.SIGTERM)
        if now:
            time.sleep(0.2)  # let the first signal land before the second means "now"
            # a run that already finished its graceful stop needs no second signal
            if pid_alive(pid, host, started) and run.effective_status() in ACTIVE_STATUSES:
                os.kill(int(pid), _signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise InputError(f"not allowed to signal pid {pid} of run {run.run_id}: stop it as the user who started it") from None
    return int(pid)
