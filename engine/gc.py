"""Remove old run directories (``rollout gc``): only folders under ``<workspace>/runs/``, never the
outputs a run wrote elsewhere, never a run that is still going."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from engine.runs import ACTIVE_STATUSES, RunDir, list_runs, runs_root


@dataclass(frozen=True)
class GcCandidate:
    """A run directory old enough to go."""

    run_id: str
    path: Path
    status: str
    ended: float
    size_bytes: int


def plan_gc(workspace: Path, older_than_s: float, now: float | None = None) -> list[GcCandidate]:
    """Runs that ended (done, failed, cancelled or lost) more than ``older_than_s`` seconds ago."""
    now = time.time() if now is None else now
    root = runs_root(workspace)
    found: list[GcCandidate] = []
    for run in list_runs(workspace):
        if run.path.is_symlink() or run.path.parent != root:
            continue  # only real folders of this workspace's runs/
        info, state = run.read_run(), run.read_state()
        status = run.effective_status(now, state=state, run=info)
        if status in ACTIVE_STATUSES:
            continue
        ended = next((float(v) for v in (info.get("finished"), state.get("heartbeat"), info.get("started"))
                      if isinstance(v, (int, float))), None)
        if ended is None or ended > now - older_than_s:
            continue
        found.append(GcCandidate(run.run_id, run.path, status, ended, _tree_size(run.path)))
    return found


def _tree_size(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):  # symlinks are not followed: what they point at stays
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def remove_runs(workspace: Path, candidates: list[GcCandidate]) -> list[str]:
    """Delete the candidates' run directories; returns the ids removed.

    Symlinks inside a run dir are removed as links (shutil.rmtree never follows them), so an output
    linked from the run dir survives. The history index drops their rows at its next sync.
    """
    root = runs_root(workspace).resolve()
    removed: list[str] = []
    for c in candidates:
        path = Path(c.path)
        if path.is_symlink() or path.resolve().parent != root or RunDir(path).effective_status() in ACTIVE_STATUSES:
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(c.run_id)
    return removed
