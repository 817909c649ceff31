"""The history index file: its name and version, and the one read the status line needs.

Kept apart from :mod:`engine.history` (which builds and queries the index) so that
``rollout status --tmux`` can skip finished runs without importing pathlib or dataclasses;
sqlite3 itself loads only when the index exists.
"""

from __future__ import annotations

import os

INDEX_NAME = "history.sqlite3"
#: bump when the table changes: an index of another version is rebuilt from the run dirs
INDEX_VERSION = 1


def index_file(workspace: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(workspace), INDEX_NAME)


def finished_run_ids(workspace: str | os.PathLike[str], problems_since: float = 0.0) -> set[str]:
    """Ids the index knows to be over, read-only (empty without an index), leaving out the runs
    that failed or were lost after ``problems_since``: the status line shows those as problems."""
    path = index_file(workspace)
    if not os.path.isfile(path):
        return set()
    import sqlite3

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
