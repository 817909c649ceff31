"""All active runs of a workspace in one summary: what ``rollout status`` (and a tmux status line) shows.

It reads files only, and few of them: the ``runs/`` listing, each run's run.json, the state.json
of runs that are not over, and the box sampler's latest sample for GPU use; runs the history
index knows to be over are skipped unopened. It never starts the sampler nor writes anything.

A status line runs this every few seconds, so the module imports only os, json and time (no
pathlib, dataclasses or typing at run time) and returns plain JSON-ready dicts, typed for
checkers by the TypedDicts below.
"""

from __future__ import annotations

import json
import os
import time

from engine.liveness import ACTIVE_STATUSES, FINAL_STATUSES, effective_status, hostname

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, TypedDict

    class RunLine(TypedDict):
        """One run as the summary counts it."""

        run_id: str
        kind: str
        status: str
        started: float | None
        done: int
        total: int
        eta_s: float | None
        cost_usd: float | None
        alerts: list[dict[str, Any]]
        monitor_line: str | None

    class StatusSummary(TypedDict):
        """Active runs at a glance; runs that failed or were lost in the last hour are counted in
        ``recent_problems`` and listed in ``runs`` too (``worst_status`` is over active runs).
        ``monitor_line`` is seed 004's monitoring line of the newest active run that writes one
        (a SWE-bench evaluation, ``figures.monitor_line``); ``monitor_runs`` counts such runs."""

        active: int
        worst_status: str | None
        done: int
        total: int
        progress: float | None
        eta_s: float | None
        cost_usd: float | None
        worst_alert: dict[str, Any] | None
        alert_count: int
        recent_problems: int
        gpu_util_pct: float | None
        gpu_count: int
        monitor_line: str | None
        monitor_run_id: str | None
        monitor_runs: int
        runs: list[RunLine]

#: how bad a status is, for "the worst status" of the runs shown (higher is worse)
STATUS_RANK = {"serving": 0, "running": 0, "starting": 1, "paused": 2, "stopping": 3, "waiting": 4}
SEVERITY_RANK = {"info": 0, "warn": 1, "warning": 1, "critical": 2}
#: a run that failed or was lost this recently still shows (as a problem) after it ended
RECENT_PROBLEM_S = 3600.0
#: a box sample older than this is not shown (the sampler is not running)
SAMPLE_MAX_AGE_S = 60.0
#: where engine.monitor.sampler keeps its files (a test keeps the two in step; engine.monitor
#: itself is not imported: it loads psutil and NVML)
MONITOR_DIRNAME = "monitor"
RUNS_DIRNAME = "runs"  # engine.runs.RUNS_DIRNAME (engine.runs loads pathlib and dataclasses)


def summarize(workspace: str | os.PathLike[str], now: float | None = None,
              skip: set[str] | frozenset[str] = frozenset()) -> StatusSummary:
    """The summary of every active run in ``workspace``; ``skip`` lists run ids known to be over."""
    now = time.time() if now is None else now
    root = os.path.join(os.fspath(workspace), RUNS_DIRNAME)
    lines: list[RunLine] = []
    problems = 0
    for name in _names(root):
        if name in skip:
            continue
        folder = os.path.join(root, name)
        info = _read_json(os.path.join(folder, "run.json"))
        if not info:
            continue
        if info.get("status") in FINAL_STATUSES and not _recent_problem(info, {}, now):
            continue  # over: its state.json need not be read
        state = _read_json(os.path.join(folder, "state.json")) or {}
        status = effective_status(info, state, now)
        if status in ACTIVE_STATUSES:
            lines.append(_line(name, info, state, status))
        elif _recent_problem(info, state, now, status):
            problems += 1
            lines.append(_line(name, info, state, status))
    live = [r for r in lines if r["status"] in ACTIVE_STATUSES]
    done = sum(r["done"] for r in live if r["total"])
    total = sum(r["total"] for r in live if r["total"])
    etas = [r["eta_s"] for r in live if r["eta_s"] is not None]
    costs = [r["cost_usd"] for r in live if r["cost_usd"] is not None]
    alerts = [{**a, "run_id": r["run_id"]} for r in live for a in r["alerts"]]
    gpu_util, gpu_count = _gpu(workspace, now)
    monitored = sorted((r for r in live if r["monitor_line"]), key=lambda r: (r["started"] or 0.0, r["run_id"]),
                       reverse=True)  # newest first
    return {
        "active": len(live),
        "worst_status": max((r["status"] for r in live), key=lambda s: STATUS_RANK.get(s, 1), default=None),
        "done": done,
        "total": total,
        "progress": round(done / total, 4) if total else None,
        "eta_s": max(etas) if etas else None,
        "cost_usd": round(sum(costs), 4) if costs else None,
        "worst_alert": max(alerts, key=lambda a: SEVERITY_RANK.get(str(a.get("severity")), 1), default=None),
        "alert_count": len(alerts),
        "recent_problems": problems,
        "gpu_util_pct": gpu_util,
        "gpu_count": gpu_count,
        "monitor_line": monitored[0]["monitor_line"] if monitored else None,
        "monitor_run_id": monitored[0]["run_id"] if monitored else None,
        "monitor_runs": len(monitored),
        "runs": lines,
    }


def _names(root: str) -> list[str]:
    try:
        with os.scandir(root) as it:
            return sorted((e.name for e in it if not e.name.startswith(".")), reverse=True)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _recent_problem(info: dict[str, Any], state: dict[str, Any], now: float, status: str | None = None) -> bool:
    return (status or info.get("status")) in ("failed", "lost") and _ended_at(info, state) >= now - RECENT_PROBLEM_S


def _ended_at(info: dict[str, Any], state: dict[str, Any]) -> float:
    for value in (info.get("finished"), state.get("heartbeat"), info.get("started")):
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _line(run_id: str, info: dict[str, Any], state: dict[str, Any], status: str) -> RunLine:
    counters = state.get("counters") or {}
    figures = state.get("figures")
    monitor = figures.get("monitor_line") if isinstance(figures, dict) else None
    return {
        "run_id": run_id,
        "kind": str(info.get("kind") or run_id.rsplit("-", 3)[0]),
        "status": status,
        "started": _num(info.get("started")),
        "done": int(counters.get("done") or 0),
        "total": int(counters.get("total") or 0),
        "eta_s": _num(state.get("eta_s")),
        "cost_usd": _num(state.get("cost_usd")),
        "alerts": [a for a in state.get("alerts") or [] if isinstance(a, dict)],
        "monitor_line": monitor if isinstance(monitor, str) and monitor else None,
    }


def latest_sample_path(workspace: str | os.PathLike[str], host: str | None = None) -> str:
    """Where the box sampler keeps its newest sample (the file engine.monitor.sampler.read_latest reads)."""
    return os.path.join(os.fspath(workspace), MONITOR_DIRNAME, host or hostname(), "latest.json")


def _gpu(workspace: str | os.PathLike[str], now: float) -> tuple[float | None, int]:
    sample = _read_json(latest_sample_path(workspace))
    try:
        if sample is None or now - float(sample["time"]) > SAMPLE_MAX_AGE_S:
            return None, 0
        gpu = (sample.get("metrics") or {}).get("gpu") or {}
        count = int(gpu.get("count") or 0)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None, 0
    util = _num(gpu.get("mean_util"))
    return (util if count else None), count
