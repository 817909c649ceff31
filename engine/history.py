"""The run history: finished runs with their figures, from the SQLite index beside ``runs/``.

The run directories stay the truth; the index (``<workspace>/history.sqlite3``,
:mod:`engine.history_index`) only makes ``rollout history`` fast on a workspace of thousands of
runs. A job adds its row when it finishes (:func:`record_run`, called by the job runner); every
reader first brings the index up to date with the directories (:func:`sync_index`), so a run
whose row could not be written, a deleted index or a removed run dir are all caught up there.

A run belongs in the history once it is over: its run.json says done, failed or cancelled, or
it is ``lost`` on this host (its process is gone; a run on another box may only look lost).
This module gives Python callers typed rows; the index module has the plain reads that the CLI's
fast path uses.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine import history_index as _ix
from engine.history_index import COLUMNS as _COLUMNS
from engine.history_index import INDEX_NAME, INDEX_VERSION, LOCK_TIMEOUT_S, TSV_COLUMNS, finished_run_ids  # noqa: F401
from engine.runs import RunDir


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
    values = _ix.read_row(str(run.path), run.run_id, now)
    return HistoryRow(*values) if values is not None else None


def record_run(run: RunDir) -> bool:
    """Add (or refresh) a finished run's row. Never raises: the index is a cache, and a run
    whose row could not be written is picked up by the next :func:`sync_index`."""
    try:
        row = _ix.read_row(str(run.path), run.run_id)
        if row is None:
            return False
        workspace = run.path.parent.parent
        if not index_path(workspace).exists():
            return False  # the next reader builds the whole index (this run included)
        conn = _ix.connect(workspace)
        try:
            _ix.insert_rows(conn, [row])
        finally:
            conn.close()
        return True
    except Exception:  # noqa: BLE001 - a cache write must never fail a job
        return False


def sync_index(workspace: Path, now: float | None = None) -> sqlite3.Connection:
    """Bring the index up to date with ``runs/`` (:func:`engine.history_index.sync`) and return
    an open connection to it."""
    conn = _ix.connect(workspace)
    _ix.sync(conn, workspace, now)
    return conn


@dataclass(frozen=True)
class HistoryFilter:
    """Which finished runs to list: finished in the last ``since_s`` seconds, of ``kind``, at most ``limit``."""

    since_s: float | None = None
    kind: str | None = None
    limit: int | None = None


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

    def _args(self, flt: HistoryFilter) -> dict[str, Any]:
        return {"since_s": flt.since_s, "kind": flt.kind, "limit": flt.limit, "now": self.now}

    def rows(self, flt: HistoryFilter = HistoryFilter()) -> list[HistoryRow]:
        """Matching runs, newest first."""
        return [HistoryRow(*r) for r in _ix.rows(self.conn, **self._args(flt))]

    def json_lines(self, flt: HistoryFilter = HistoryFilter(), schema_version: int = 1) -> list[str]:
        """Matching runs as JSON objects (``type`` run, ``schema_version``, every column), newest first."""
        return _ix.json_lines(self.conn, **self._args(flt), schema_version=schema_version)

    def tsv_lines(self, flt: HistoryFilter = HistoryFilter()) -> list[str]:
        """Matching runs as tab-separated :data:`TSV_COLUMNS` (finished as local time), newest first."""
        return _ix.tsv_lines(self.conn, **self._args(flt))

    def totals(self, flt: HistoryFilter = HistoryFilter()) -> HistoryTotals:
        """Sums over the matching runs (the ``limit`` newest when a limit is set)."""
        return HistoryTotals(**_ix.totals(self.conn, **self._args(flt)))


def open_history(workspace: Path, now: float | None = None) -> HistoryIndex:
    """The workspace's history index, brought up to date with its run dirs (:func:`sync_index`)."""
    now = time.time() if now is None else now
    return HistoryIndex(sync_index(workspace, now), now)


def query_history(workspace: Path, *, since_s: float | None = None, kind: str | None = None,
                  limit: int | None = None, now: float | None = None) -> list[HistoryRow]:
    """Finished runs, newest first: those that finished in the last ``since_s`` seconds, of ``kind``."""
    with open_history(workspace, now) as index:
        return index.rows(HistoryFilter(since_s, kind, limit))
