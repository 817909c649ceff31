"""The run history: an embedded SQLite index of finished runs, kept beside ``runs/``.

The run directories stay the truth; the index (``<workspace>/history.sqlite3``) only makes
``rollout history`` fast on a workspace of thousands of runs. A job adds its row when it
finishes (:func:`record_run`, called by the job runner); every reader first brings the index up
to date with the directories (:func:`sync_index`): rows of runs that are not indexed yet are
read from their run dirs, rows whose run dir is gone (``rollout gc``, ``rm -r``) are dropped, and
an index that is missing, of another schema or corrupt is rebuilt from scratch. Syncing costs one
directory listing and one query, so it runs on every read.

A run belongs in the history once it is over: its run.json says done, failed or cancelled, or
it is ``lost`` on this host (its process is gone; a run on another box may only look lost).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.history_index import INDEX_NAME, INDEX_VERSION, finished_run_ids  # noqa: F401  (re-exported)
from engine.liveness import hostname
from engine.runs import FINAL_STATUSES, RunDir, runs_root

#: seconds a writer waits for another process's lock before giving up (the next sync catches up)
LOCK_TIMEOUT_S = 5.0

_COLUMNS = ("run_id", "kind", "status", "started", "finished", "duration_s", "items", "ok", "failed",
            "tokens_prompt", "tokens_completion", "cost_usd", "exit_code", "title", "host")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, started REAL, finished REAL,
    duration_s REAL, items INTEGER, ok INTEGER, failed INTEGER, tokens_prompt INTEGER,
    tokens_completion INTEGER, cost_usd REAL, exit_code INTEGER, title TEXT, host TEXT
);
CREATE INDEX IF NOT EXISTS runs_finished ON runs (finished);
"""
_INSERT = f"INSERT OR REPLACE INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"


@dataclass(slots=True)
class HistoryRow:
    """One finished run as the history lists it."""

    run_id: str
    kind: str
    status: str
    started: float | None
    finished: float | None
    duration_s: float | None
    items: int
    ok: int
    failed: int
    tokens_prompt: int
    tokens_completion: int
    cost_usd: float | None
    exit_code: int | None
    title: str | None
    host: str | None

    def to_dict(self) -> dict[str, Any]:
        # not dataclasses.asdict: it deep-copies, and 10,000 rows must list in well under 200 ms
        return {c: getattr(self, c) for c in _COLUMNS}


@dataclass(frozen=True)
class HistoryTotals:
    """Sums over a list of history rows (cost is None when no run knew its cost)."""

    runs: int
    items: int
    failed: int
    tokens_prompt: int
    tokens_completion: int
    cost_usd: float | None
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def index_path(workspace: Path) -> Path:
    return Path(workspace) / INDEX_NAME


def row_from_run(run: RunDir, now: float | None = None) -> HistoryRow | None:
    """The history row of a run that is over, or None while it may still be going."""
    info, state = run.read_run(), run.read_state()
    if not info:
        return None
    status = info.get("status")
    if status not in FINAL_STATUSES:
        status = run.effective_status(now, state=state, run=info)
        local = not info.get("host") or info.get("host") == hostname()
        if status != "lost" or not local:
            return None
    counters = state.get("counters") or {}
    tokens = state.get("tokens") or {}
    started = _num(info.get("started"))
    # a lost run never wrote `finished`: its last heartbeat is when it was last seen alive
    finished = _num(info.get("finished")) or _num(state.get("heartbeat")) or started
    return HistoryRow(
        run_id=run.run_id,
        kind=str(info.get("kind") or run.kind),
        status=str(status),
        started=started,
        finished=finished,
        duration_s=round(finished - started, 3) if started is not None and finished is not None else None,
        items=int(counters.get("total") or counters.get("done") or 0),
        ok=int(counters.get("ok") or 0),
        failed=int(counters.get("failed") or 0),
        tokens_prompt=int(tokens.get("prompt") or 0),
        tokens_completion=int(tokens.get("completion") or 0),
        cost_usd=_num(state.get("cost_usd")),
        exit_code=info.get("exit_code") if isinstance(info.get("exit_code"), int) else None,
        title=info.get("title"),
        host=info.get("host"),
    )


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _row_values(row: HistoryRow) -> tuple[Any, ...]:
    return tuple(getattr(row, c) for c in _COLUMNS)


# -- the index file --------------------------------------------------------------------------


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=LOCK_TIMEOUT_S, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _version(conn: sqlite3.Connection) -> int | None:
    try:
        found = conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
    except sqlite3.DatabaseError:
        return None
    return int(found[0]) if found and str(found[0]).isdigit() else None


def _init(conn: sqlite3.Connection) -> None:
    conn.executescript(_SCHEMA)
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('version', ?)", (str(INDEX_VERSION),))


def _open_index(workspace: Path) -> sqlite3.Connection:
    """The workspace's index, created or rebuilt (emptied) when missing, foreign or corrupt.

    A workspace that cannot be written gets an in-memory index for this call.
    """
    path = index_path(workspace)
    try:
        try:
            conn = _connect(path)
            if _version(conn) == INDEX_VERSION:
                return conn
            conn.close()
        except sqlite3.DatabaseError:
            pass  # not a database at all
        # another schema, an empty file or garbage: the run dirs are the truth, start over
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        conn = _connect(path)
        _init(conn)
        return conn
    except (sqlite3.DatabaseError, OSError):
        conn = sqlite3.connect(":memory:", isolation_level=None)
        _init(conn)
        return conn


def record_run(run: RunDir) -> bool:
    """Add (or refresh) a finished run's row. Never raises: the index is a cache, and a run
    whose row could not be written is picked up by the next :func:`sync_index`."""
    try:
        row = row_from_run(run)
        if row is None:
            return False
        workspace = run.path.parent.parent
        if not index_path(workspace).exists():
            return False  # the next reader builds the whole index (this run included)
        conn = _open_index(workspace)
        try:
            conn.execute(_INSERT, _row_values(row))
        finally:
            conn.close()
        return True
    except Exception:  # noqa: BLE001 - a cache write must never fail a job
        return False


def sync_index(workspace: Path, now: float | None = None) -> sqlite3.Connection:
    """Bring the index up to date with ``runs/`` and return an open connection to it."""
    conn = _open_index(workspace)
    root = runs_root(workspace)
    on_disk = _run_dir_names(root)
    indexed = {r[0] for r in conn.execute("SELECT run_id FROM runs")}
    gone = indexed - on_disk
    new_rows = [row for name in on_disk - indexed if (row := row_from_run(RunDir(root / name), now)) is not None]
    if gone or new_rows:
        with contextlib.suppress(sqlite3.OperationalError):  # locked or read-only: serve what we have
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("DELETE FROM runs WHERE run_id = ?", ((g,) for g in gone))
            conn.executemany(_INSERT, (_row_values(r) for r in new_rows))
            conn.execute("COMMIT")
    return conn


def _run_dir_names(root: Path) -> set[str]:
    try:
        with os.scandir(root) as it:
            return {e.name for e in it if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)}
    except FileNotFoundError:
        return set()


@dataclass(frozen=True)
class HistoryFilter:
    """Which finished runs to list: finished in the last ``since_s`` seconds, of ``kind``, at most ``limit``."""

    since_s: float | None = None
    kind: str | None = None
    limit: int | None = None

    def where(self, now: float) -> tuple[str, list[Any]]:
        clauses, args = [], []
        if self.since_s is not None:
            clauses.append("finished >= ?")
            args.append(now - self.since_s)
        if self.kind:
            clauses.append("kind = ?")
            args.append(self.kind)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def tail(self) -> str:
        return " ORDER BY finished DESC, run_id DESC" + (f" LIMIT {int(self.limit)}" if self.limit else "")


#: a run as one JSON object (SQLite's json_object) and as one tab-separated line, built by SQLite
#: itself: 10,000 runs must list in well under 200 ms, and Python's per-row work is most of that
_JSON_ROW = "json_object('schema_version', ?, 'type', 'run', " + ", ".join(f"'{c}', {c}" for c in _COLUMNS) + ")"
TSV_COLUMNS = ("run_id", "kind", "status", "items", "failed", "tokens_prompt", "tokens_completion", "cost_usd",
               "duration_s", "finished")
_TSV_ROW = " || char(9) || ".join(
    "coalesce(datetime(finished, 'unixepoch', 'localtime'), '')" if c == "finished" else f"coalesce({c}, '')"
    for c in TSV_COLUMNS)


class HistoryIndex:
    """An open, up-to-date history index (see :func:`open_history`); close it when done."""

    def __init__(self, conn: sqlite3.Connection, now: float) -> None:
        self.conn = conn
        self.now = now

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "HistoryIndex":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self, flt: HistoryFilter = HistoryFilter()) -> list[HistoryRow]:
        """Matching runs, newest first."""
        where, args = flt.where(self.now)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM runs{where}{flt.tail()}"
        return [HistoryRow(*r) for r in self.conn.execute(sql, args)]

    def json_lines(self, flt: HistoryFilter = HistoryFilter(), schema_version: int = 1) -> list[str]:
        """Matching runs as JSON objects (``type`` run, ``schema_version``, every column), newest first."""
        where, args = flt.where(self.now)
        sql = f"SELECT {_JSON_ROW} FROM runs{where}{flt.tail()}"
        return [r[0] for r in self.conn.execute(sql, [schema_version, *args])]

    def tsv_lines(self, flt: HistoryFilter = HistoryFilter()) -> list[str]:
        """Matching runs as tab-separated :data:`TSV_COLUMNS` (finished as local time), newest first."""
        where, args = flt.where(self.now)
        return [r[0] for r in self.conn.execute(f"SELECT {_TSV_ROW} FROM runs{where}{flt.tail()}", args)]

    def totals(self, flt: HistoryFilter = HistoryFilter()) -> HistoryTotals:
        """Sums over the matching runs (the ``limit`` newest when a limit is set)."""
        where, args = flt.where(self.now)
        inner = f"SELECT * FROM runs{where}{flt.tail()}"
        found = self.conn.execute(
            "SELECT count(*), coalesce(sum(items), 0), coalesce(sum(failed), 0), coalesce(sum(tokens_prompt), 0), "
            "coalesce(sum(tokens_completion), 0), sum(cost_usd), coalesce(sum(duration_s), 0) "
            f"FROM ({inner})", args).fetchone()
        return HistoryTotals(runs=found[0], items=found[1], failed=found[2], tokens_prompt=found[3],
                             tokens_completion=found[4], cost_usd=round(found[5], 6) if found[5] is not None else None,
                             duration_s=round(found[6], 3))


def open_history(workspace: Path, now: float | None = None) -> HistoryIndex:
    """The workspace's history index, brought up to date with its run dirs (:func:`sync_index`)."""
    now = time.time() if now is None else now
    return HistoryIndex(sync_index(workspace, now), now)


def query_history(workspace: Path, *, since_s: float | None = None, kind: str | None = None,
                  limit: int | None = None, now: float | None = None) -> list[HistoryRow]:
    """Finished runs, newest first: those that finished in the last ``since_s`` seconds, of ``kind``."""
    with open_history(workspace, now) as index:
        return index.rows(HistoryFilter(since_s, kind, limit))
