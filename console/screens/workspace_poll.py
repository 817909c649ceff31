"""What the runs screen shows, read from the run directories (runs in a worker thread, never writes)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.runs import FINAL_STATUSES, RunDir, RunSummary, list_runs, runs_root

#: how many events the detail pane shows
DETAIL_EVENTS = 15


@dataclass
class RunDetailData:
    """Everything the detail pane shows of one run."""

    run_id: str
    status: str
    info: dict[str, Any]
    state: dict[str, Any]
    events: list[dict[str, Any]]


@dataclass
class Snapshot:
    """One poll of the workspace."""

    workspace: Path
    runs: list[RunSummary] = field(default_factory=list)
    detail: RunDetailData | None = None


def _stamp(run: RunDir) -> tuple[int, ...]:
    """Changes whenever run.json or state.json is replaced (mtime and inode: writes are renames)."""
    out: list[int] = []
    for path in (run.run_json, run.state_json):
        try:
            st = os.stat(path)
            out += [st.st_mtime_ns, st.st_ino, st.st_size]
        except FileNotFoundError:
            out += [0, 0, 0]
    return tuple(out)


class WorkspacePoller:
    """Reads the workspace's runs; finished runs whose files did not change are not re-read.

    Owned by one poll at a time (the screen never overlaps polls), so the cache needs no lock.
    """

    def __init__(self, workspace: Path, events: int = DETAIL_EVENTS) -> None:
        self.workspace = workspace
        self.events = events
        self._cache: dict[str, tuple[tuple[int, ...], RunSummary]] = {}

    def poll(self, selected: str | None) -> Snapshot:
        snap = Snapshot(workspace=self.workspace)
        seen: set[str] = set()
        for run in list_runs(self.workspace):
            seen.add(run.run_id)
            stamp = _stamp(run)
            cached = self._cache.get(run.run_id)
            if cached and cached[0] == stamp and cached[1].status in FINAL_STATUSES:
                summary = cached[1]
            else:
                # live runs are re-read every time: 'lost' depends on the clock, not only the files
                summary = run.summary()
                self._cache[run.run_id] = (stamp, summary)
            snap.runs.append(summary)
        for gone in set(self._cache) - seen:
            del self._cache[gone]
        if selected is not None and selected in seen:
            run = RunDir(runs_root(self.workspace) / selected)
            snap.detail = RunDetailData(
                run_id=selected,
                status=run.effective_status(),
                info=run.read_run(),
                state=run.read_state(),
                events=run.read_events(last=self.events),
            )
        return snap
