"""What the runs screen shows, read from the run directories (runs in a worker thread, never writes).

The same poll also reads the box's latest monitor sample (written by the shared sampler of
engine.monitor) and gathers the active alerts of every live run, so the screen has one worker and
one timer, never a pile of them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.alerts import stale_alert
from engine.evaluation.curve import curve_from_output
from engine.evaluation.results import METRICS_NAME, SUMMARY_NAME, checkpoint_rows
from engine.monitor.reader import SampleReader
from engine.monitor.sampler import DEFAULT_IDLE_EXIT_S
from engine.runs import (ACTIVE_STATUSES, FINAL_STATUSES, RunDir, RunSummary, list_runs, run_output_paths, runs_root,
                         tail_text)

#: the server log of serve runs (engine.server.process.SERVER_LOG), and how many of its last lines are shown
SERVER_LOG = "server.log"
SERVER_LOG_LINES = 8
#: how many events the poll reads for the detail pane (it shows the newest that fit)
DETAIL_EVENTS = 60


@dataclass
class RunDetailData:
    """Everything the detail pane shows of one run."""

    run_id: str
    status: str
    info: dict[str, Any]
    state: dict[str, Any]
    events: list[dict[str, Any]]
    #: an evaluation's checkpoints (engine.evaluation.results.checkpoint_rows), for the eval view
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    #: the tail of the run's server.log (serve runs, processing runs that started a server)
    server_log: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AlertRow:
    """One active alert of one run, as the alerts panel lists it."""

    run_id: str
    name: str
    severity: str
    message: str
    since: float | None
    value: Any = None
    threshold: Any = None
    #: "job" when the job raised it (state.json), "viewer" when the console saw it (stale heartbeat)
    source: str = "job"
    #: what to do about it (the rule's action text)
    action: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.run_id, self.name)


@dataclass
class Snapshot:
    """One poll of the workspace."""

    workspace: Path
    runs: list[RunSummary] = field(default_factory=list)
    detail: RunDetailData | None = None
    #: the box's latest monitor sample (engine.monitor.read_latest), None when there is none yet
    box: dict[str, Any] | None = None
    #: active alerts of live runs, critical first
    alerts: list[AlertRow] = field(default_factory=list)


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


def _alert_row(run_id: str, alert: Any, source: str = "job") -> AlertRow | None:
    if hasattr(alert, "to_dict"):
        alert = alert.to_dict()
    if not isinstance(alert, dict) or not alert.get("name"):
        return None
    since = alert.get("since")
    return AlertRow(
        run_id=run_id, name=str(alert["name"]), severity=str(alert.get("severity") or "warn"),
        message=str(alert.get("message") or ""), since=float(since) if isinstance(since, (int, float)) else None,
        value=alert.get("value"), threshold=alert.get("threshold"), source=source,
        action=str(alert["action"]) if alert.get("action") else None,
    )


def with_curve(state: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """An evaluation's state with its learning curve: from its figures, else from its output folder
    (a run from before the job wrote ``figures.curve``, or one whose state was cut short)."""
    figures = state.get("figures") if isinstance(state.get("figures"), dict) else {}
    outputs = info.get("outputs") if isinstance(info.get("outputs"), dict) else {}
    if info.get("kind") != "eval" or "curve" in figures or not outputs.get("output_dir"):
        return state
    try:
        curve = curve_from_output(Path(str(outputs["output_dir"])))
    except (OSError, ValueError, KeyError, TypeError):
        return state  # a half-written or foreign summary: show the run without its curve
    if not curve:
        return state
    return {**state, "figures": {**figures, "curve": curve}}


class WorkspacePoller:
    """Reads the workspace's runs; finished runs whose files did not change are not re-read.

    Owned by one poll at a time (the screen never overlaps polls), so the cache needs no lock.
    With ``monitor=True`` it also keeps the box's shared sampler alive and reads its latest sample.
    """

    def __init__(self, workspace: Path, events: int = DETAIL_EVENTS, *, monitor: bool = True,
                 sampler_idle_exit_s: float = DEFAULT_IDLE_EXIT_S) -> None:
        self.workspace = workspace
        self.events = events
        self.monitor = monitor
        self.sampler_idle_exit_s = sampler_idle_exit_s
        self._cache: dict[str, tuple[tuple[int, ...], RunSummary]] = {}
        self.box_reader = SampleReader(workspace, idle_exit_s=sampler_idle_exit_s)
        self._eval_cache: tuple[Any, list[dict[str, Any]]] | None = None

    def poll(self, selected: str | None) -> Snapshot:
        snap = Snapshot(workspace=self.workspace)
        seen: set[str] = set()
        now = time.time()
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
            if summary.status in ACTIVE_STATUSES:
                snap.alerts.extend(self._run_alerts(run, summary, now))
        for gone in set(self._cache) - seen:
            del self._cache[gone]
        snap.alerts.sort(key=lambda a: (a.severity != "critical", -(a.since or 0.0), a.run_id, a.name))
        if selected is not None and selected in seen:
            run = RunDir(runs_root(self.workspace) / selected)
            info = run.read_run()
            snap.detail = RunDetailData(
                run_id=selected,
                status=run.effective_status(),
                info=info,
                state=with_curve(run.read_state(), info),
                events=run.read_events(last=self.events),
                checkpoints=self._checkpoints(info),
                server_log=tail_text(run.path / SERVER_LOG, SERVER_LOG_LINES),
            )
        if self.monitor:
            active = [r.run_id for r in snap.runs if r.status in ACTIVE_STATUSES]
            snap.box = self._read_box(active)
        return snap

    def _checkpoints(self, info: dict[str, Any]) -> list[dict[str, Any]]:
        """An eval run's checkpoint rows, re-read only when a metrics or summary file changed."""
        outputs = info.get("outputs") if isinstance(info.get("outputs"), dict) else {}
        if info.get("kind") != "eval" or not outputs.get("output_dir"):
            return []
        out_dir = Path(str(outputs["output_dir"]))
        stamp: list[tuple[str, int]] = []
        for path in [out_dir / SUMMARY_NAME, *out_dir.glob(f"eval_checkpoint_*/{METRICS_NAME}")]:
            try:
                stamp.append((str(path), os.stat(path).st_mtime_ns))
            except OSError:
                continue
        key = (str(out_dir), tuple(stamp))
        if self._eval_cache is None or self._eval_cache[0] != key:
            try:
                rows = checkpoint_rows(out_dir)
            except (OSError, ValueError, TypeError):
                rows = []  # a half-written or foreign file: show the run without its table
            self._eval_cache = (key, rows)
        return self._eval_cache[1]

    def _run_alerts(self, run: RunDir, summary: RunSummary, now: float) -> list[AlertRow]:
        rows = [r for r in (_alert_row(summary.run_id, a) for a in summary.alerts) if r is not None]
        if not any(r.name == "heartbeat_stale" for r in rows):
            # a job cannot report its own silence: the viewer does (engine.alerts.stale_alert)
            state = run.read_state()
            state["status"] = summary.status
            stale = stale_alert(state, now)
            if stale is not None:
                row = _alert_row(summary.run_id, stale, source="viewer")
                if row is not None:
                    # since the last heartbeat, not since this poll (the Alert is made anew each time)
                    heartbeat = state.get("heartbeat")
                    rows.append(replace(row, since=float(heartbeat)) if isinstance(heartbeat, (int, float)) else row)
        return rows

    def _read_box(self, active: list[str]) -> dict[str, Any] | None:
        return self.box_reader.read(lambda: self._output_paths(active))

    def _output_paths(self, active: list[str]) -> dict[str, str]:
        """Output folders of live runs (absolute, from run.json): the box panel shows their disks too."""
        paths: dict[str, str] = {}
        for run_id in active:
            info = RunDir(runs_root(self.workspace) / run_id).read_run()
            for label, value in run_output_paths(info).items():
                if value not in paths.values():
                    key = label if label not in paths else f"{label}:{Path(value).name}"
                    paths[key] = value
        return paths
