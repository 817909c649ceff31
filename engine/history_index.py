"""The history index file (``<workspace>/history.sqlite3``): its table, keeping it in step with
``runs/``, and the reads that ``rollout history`` and the status line make.

The run directories stay the truth; the index only makes reading thousands of finished runs fast.
:func:`sync` brings it up to date with ``runs/`` before every read: runs that are not indexed
yet are read from their run dirs, rows whose run dir is gone (``rollout gc``, ``rm -r``) are
dropped, and an index that is missing, of another version or corrupt is rebuilt from scratch.

Standard library only (os, json, sqlite3), no pathlib, dataclasses or typing at run time:
``rollout history`` is answered from here without Typer (console/history_view.py) and must list
10,000 runs in well under 200 ms as a whole process. :mod:`engine.history` wraps these reads in
typed rows for Python callers and writes a finishing run's row.

Two things keep a read cheap:

* the index stores each run's JSON object and tab-separated line as it is inserted (generated
  columns, rendered by SQLite), in a table clustered by finish time: listing is one ordered scan;
* ``runs/`` is listed only when it changed: the index remembers the folder's inode, mtime and
  link count from the last full listing, and the runs that were not over then (``pending``),
  which it re-reads each time. Adding or removing a run dir changes the folder's mtime; a
  listing taken within :data:`RACY_S` of the folder's last change is not trusted (a change in
  the same timestamp tick would not show), as git does with its index.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time

from engine.liveness import FINAL_STATUSES, effective_status, hostname

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, Iterable

INDEX_NAME = "history.sqlite3"
#: bump when the table changes: an index of another version is rebuilt from the run dirs
INDEX_VERSION = 2
#: seconds a writer waits for another process's lock before giving up (the next sync catches up)
LOCK_TIMEOUT_S = 5.0
#: a listing of runs/ taken less than this many seconds after its last change is not remembered
RACY_S = 2.0

#: the columns of a history row, in order (engine.history.HistoryRow has the same fields)
COLUMNS = ("run_id", "kind", "status", "started", "finished", "duration_s", "items", "ok", "failed",
           "tokens_prompt", "tokens_completion", "cost_usd", "exit_code", "title", "host")
#: the tab-separated columns of ``rollout history`` piped (``finished`` as local time, last)
TSV_COLUMNS = ("run_id", "kind", "status", "items", "failed", "tokens_prompt", "tokens_completion", "cost_usd",
               "duration_s", "finished")

_JSON_OBJECT = "json_object(" + ", ".join(f"'{c}', {c}" for c in COLUMNS) + ")"
_TSV_HEAD = " || char(9) || ".join(f"coalesce({c}, '')" for c in TSV_COLUMNS if c != "finished")
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    sort_time REAL NOT NULL, run_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, status TEXT NOT NULL,
    started REAL, finished REAL, duration_s REAL, items INTEGER, ok INTEGER, failed INTEGER,
    tokens_prompt INTEGER, tokens_completion INTEGER, cost_usd REAL, exit_code INTEGER, title TEXT, host TEXT,
    row_json TEXT GENERATED ALWAYS AS ({_JSON_OBJECT}) STORED,
    row_tsv TEXT GENERATED ALWAYS AS ({_TSV_HEAD}) STORED,
    PRIMARY KEY (sort_time, run_id)
) WITHOUT ROWID;
"""
_INSERT = (f"INSERT OR REPLACE INTO runs (sort_time, {', '.join(COLUMNS)}) "
           f"VALUES ({', '.join('?' * (len(COLUMNS) + 1))})")
_NEWEST_FIRST = " ORDER BY sort_time DESC, run_id DESC"


def index_file(workspace: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(workspace), INDEX_NAME)


# -- a run dir as a row ---------------------------------------------------------------------------


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _kind_of(run_id: str) -> str:
    """The kind in ``<kind>-<YYYYmmdd-HHMMSS>-<4 hex>`` (engine.runs.RUN_ID_RE), or ``?``."""
    parts = run_id.rsplit("-", 3)
    return parts[0] if len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit() else "?"


def read_row(run_path: str, run_id: str, now: float | None = None) -> tuple[Any, ...] | None:
    """The row (:data:`COLUMNS` order) of the run in ``run_path`` once it is over, or None while
    it may still be going.

    A run is over when its run.json says done, failed or cancelled, or when it is ``lost`` on
    this host (its process is gone; a run on another box may only look lost from here).
    """
    info = _read_json(os.path.join(run_path, "run.json"))
    if not info:
        return None
    state = _read_json(os.path.join(run_path, "state.json"))
    status = info.get("status")
    if status not in FINAL_STATUSES:
        status = effective_status(info, state, now)
        local = not info.get("host") or info.get("host") == hostname()
        if status != "lost" or not local:
            return None
    counters = state.get("counters") or {}
    tokens = state.get("tokens") or {}
    started = _num(info.get("started"))
    # a lost run never wrote `finished`: its last heartbeat is when it was last seen alive
    finished = _num(info.get("finished")) or _num(state.get("heartbeat")) or started
    exit_code = info.get("exit_code")
    return (
        run_id,
        str(info.get("kind") or _kind_of(run_id)),
        str(status),
        started,
        finished,
        round(finished - started, 3) if started is not None and finished is not None else None,
        int(counters.get("total") or counters.get("done") or 0),
        int(counters.get("ok") or 0),
        int(counters.get("failed") or 0),
        int(tokens.get("prompt") or 0),
        int(tokens.get("completion") or 0),
        _num(state.get("cost_usd")),
        exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
        info.get("title") if isinstance(info.get("title"), str) else None,
        info.get("host") if isinstance(info.get("host"), str) else None,
    )


# -- the index file -------------------------------------------------------------------------------


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=LOCK_TIMEOUT_S, isolation_level=None)
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


def connect(workspace: str | os.PathLike[str]) -> sqlite3.Connection:
    """The workspace's index, created or rebuilt (emptied) when missing, of another version or
    corrupt; not yet synced (:func:`sync`). A workspace that cannot be written gets an in-memory
    index for this call."""
    path = index_file(workspace)
    try:
        try:
            conn = _connect(path)
            if _version(conn) == INDEX_VERSION:
                return conn
            conn.close()
        except sqlite3.DatabaseError:
            pass  # not a database at all
        # another version, an empty file or garbage: the run dirs are the truth, start over
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        conn = _connect(path)
        _init(conn)
        return conn
    except (sqlite3.DatabaseError, OSError):
        conn = sqlite3.connect(":memory:", isolation_level=None)
        _init(conn)
        return conn


def insert_rows(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Add or replace rows (:data:`COLUMNS` order), each keyed by its run id."""
    conn.executemany(_INSERT, ((r[4] or 0.0, *r) for r in rows))


def _listing_stamp(root: str) -> tuple[str, float] | None:
    """What identifies the contents of ``runs/`` without listing it, and its mtime (None: no folder)."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return None
    # the link count of a folder counts its subfolders on most file systems: one more guard
    return f"{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}:{st.st_nlink}", st.st_mtime


def _run_dir_names(root: str) -> set[str]:
    try:
        with os.scandir(root) as it:
            return {e.name for e in it if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)}
    except (FileNotFoundError, NotADirectoryError):
        return set()


def sync(conn: sqlite3.Connection, workspace: str | os.PathLike[str], now: float | None = None) -> None:
    """Bring the index up to date with ``<workspace>/runs``: add the runs that are over and not
    indexed, drop the rows whose run dir is gone. Lists ``runs/`` only when it changed since the
    last listing; the runs that were not over then are re-read every time."""
    root = os.path.join(os.fspath(workspace), "runs")
    meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('listing', 'pending')"))
    was_pending = json.loads(meta.get("pending") or "[]")
    stamp = _listing_stamp(root)  # taken before listing: a change during the listing shows next time
    gone: set[str] = set()
    if stamp is not None and meta.get("listing") == stamp[0]:
        listing, candidates = stamp[0], was_pending
    else:
        listed_at = time.time()
        on_disk = _run_dir_names(root)
        indexed = {r[0] for r in conn.execute("SELECT run_id FROM runs")}
        gone = indexed - on_disk
        candidates = sorted(on_disk - indexed)
        # remembered only when no later change can hide in the timestamp tick of this listing
        listing = stamp[0] if stamp is not None and listed_at - stamp[1] > RACY_S else ""
    new_rows, pending = [], []
    for name in candidates:
        row = read_row(os.path.join(root, name), name, now)
        if row is None:
            pending.append(name)
        else:
            new_rows.append(row)
    if not (gone or new_rows) and listing == meta.get("listing", "") and pending == was_pending:
        return
    try:  # locked (another reader syncs) or read-only: serve what the index has
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("DELETE FROM runs WHERE run_id = ?", ((g,) for g in gone))
        insert_rows(conn, new_rows)
        conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                         (("listing", listing), ("pending", json.dumps(pending))))
        conn.execute("COMMIT")
    except sqlite3.OperationalError:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


# -- reads ----------------------------------------------------------------------------------------


def _where(since_s: float | None, kind: str | None, now: float) -> tuple[str, list[Any]]:
    clauses, args = [], []
    if since_s is not None:
        clauses.append("sort_time >= ?")  # sort_time is `finished` (0 when unknown): a range scan
        args.append(now - since_s)
    if kind:
        clauses.append("kind = ?")
        args.append(kind)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _tail(limit: int | None) -> str:
    return _NEWEST_FIRST + (f" LIMIT {int(limit)}" if limit else "")


def query(conn: sqlite3.Connection, what: str, since_s: float | None = None, kind: str | None = None,
           limit: int | None = None, now: float | None = None, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """``SELECT what`` over the matching runs, newest first: those that finished in the last
    ``since_s`` seconds, of ``kind``, at most ``limit``; ``args`` fill the placeholders of ``what``."""
    where, where_args = _where(since_s, kind, time.time() if now is None else now)
    return conn.execute(f"SELECT {what} FROM runs{where}{_tail(limit)}", [*args, *where_args]).fetchall()


_JSON_LINE = '\'{"schema_version":\' || ? || \',"type":"run",\' || substr(row_json, 2)'
_TSV_LINE = "row_tsv || char(9) || coalesce(datetime(finished, 'unixepoch', 'localtime'), '')"


def json_lines(conn: sqlite3.Connection, since_s: float | None = None, kind: str | None = None,
               limit: int | None = None, now: float | None = None, schema_version: int = 1) -> list[str]:
    """Matching runs as JSON objects (``schema_version``, ``type`` run, every column), newest first."""
    return [r[0] for r in query(conn, _JSON_LINE, since_s, kind, limit, now, (int(schema_version),))]


def tsv_lines(conn: sqlite3.Connection, since_s: float | None = None, kind: str | None = None,
              limit: int | None = None, now: float | None = None) -> list[str]:
    """Matching runs as tab-separated :data:`TSV_COLUMNS` (``finished`` as local time), newest first."""
    return [r[0] for r in query(conn, _TSV_LINE, since_s, kind, limit, now)]


def _text(conn: sqlite3.Connection, what: str, args: tuple[Any, ...], flt: dict[str, Any]) -> bytes:
    factory = conn.text_factory
    conn.text_factory = bytes  # SQLite's UTF-8 as it is: no str per line to decode and encode again
    try:
        found = query(conn, what, args=args, **flt)
    finally:
        conn.text_factory = factory
    return b"".join(r[0] + b"\n" for r in found)


def json_text(conn: sqlite3.Connection, since_s: float | None = None, kind: str | None = None,
              limit: int | None = None, now: float | None = None, schema_version: int = 1) -> bytes:
    """:func:`json_lines` as UTF-8, one line each (what ``rollout history --json`` writes)."""
    flt = {"since_s": since_s, "kind": kind, "limit": limit, "now": now}
    return _text(conn, _JSON_LINE, (int(schema_version),), flt)


def tsv_text(conn: sqlite3.Connection, since_s: float | None = None, kind: str | None = None,
             limit: int | None = None, now: float | None = None) -> bytes:
    """:func:`tsv_lines` as UTF-8, one line each (what ``rollout history`` writes to a pipe)."""
    return _text(conn, _TSV_LINE, (), {"since_s": since_s, "kind": kind, "limit": limit, "now": now})


def rows(conn: sqlite3.Connection, since_s: float | None = None, kind: str | None = None,
         limit: int | None = None, now: float | None = None) -> list[tuple[Any, ...]]:
    """Matching runs as tuples in :data:`COLUMNS` order, newest first."""
    return query(conn, ", ".join(COLUMNS), since_s, kind, limit, now)


def totals(conn: sqlite3.Connection, since_s: float | None = None, kind: str | None = None,
           limit: int | None = None, now: float | None = None) -> dict[str, Any]:
    """Sums over the matching runs (the ``limit`` newest when a limit is set): runs, items,
    failed, tokens_prompt, tokens_completion, cost_usd (None when no run knew its cost), duration_s."""
    where, args = _where(since_s, kind, time.time() if now is None else now)
    inner = f"SELECT * FROM runs{where}{_tail(limit)}" if limit else f"SELECT * FROM runs{where}"
    found = conn.execute(
        "SELECT count(*), coalesce(sum(items), 0), coalesce(sum(failed), 0), coalesce(sum(tokens_prompt), 0), "
        "coalesce(sum(tokens_completion), 0), sum(cost_usd), coalesce(sum(duration_s), 0) "
        f"FROM ({inner})", args).fetchone()
    return {"runs": found[0], "items": found[1], "failed": found[2], "tokens_prompt": found[3],
            "tokens_completion": found[4], "cost_usd": round(found[5], 6) if found[5] is not None else None,
            "duration_s": round(found[6], 3)}


def finished_run_ids(workspace: str | os.PathLike[str], problems_since: float = 0.0) -> set[str]:
    """Ids the index knows to be over, read-only (empty without an index), leaving out the runs
    that failed or were lost after ``problems_since``: the status line shows those as problems."""
    path = index_file(workspace)
    if not os.path.isfile(path):
        return set()
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.5)
        try:
            found = conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            if not found or found[0] != str(INDEX_VERSION):
                return set()
            rows = conn.execute("SELECT run_id FROM runs WHERE status NOT IN ('failed', 'lost') OR finished < ?",
                                (problems_since,))
            return {r[0] for r in rows}
        finally:
            conn.close()
    except sqlite3.Error:
        return set()
