"""Snapshot tests (pytest-textual-snapshot): the dashboard, the eval and server views in the detail
pane, the alerts view, the run view and a launch form, at 80x24 and 160x48, dark and light, on deterministic fixture run dirs.

The fixture runs are written by hand with fixed ids, times and figures; live ones belong to another
host (so no local pid or host name shows) with a fresh heartbeat; times are shown in UTC. Update
the SVGs after a deliberate change with ``pytest tests/console/test_console_snapshots.py
--snapshot-update`` and look at them (``snapshot_report.html``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from console.app import RolloutApp
from console_helpers import wait_until

#: 2026-12-01 08:00:00 UTC
T0 = 1796112000.0
SIZES = [(80, 24), (160, 48)]
THEMES = ["rollout-dark", "rollout-light"]
HOST = "snapbox"


def write_run(ws: Path, run_id: str, *, status: str, started: float, state: dict, outputs: dict | None = None,
              events: list[dict] | None = None, finished: float | None = None) -> Path:
    path = ws / "runs" / run_id
    path.mkdir(parents=True)
    kind = run_id.split("-")[0]
    info = {"run_id": run_id, "kind": kind, "title": None, "argv": ["rollout", kind, "--fixture"], "cwd": str(ws),
            "pid": 4242, "host": HOST, "version": "0.1.0", "started": started, "finished": finished,
            "status": status, "inputs": {}, "outputs": outputs or {}}
    (path / "run.json").write_text(json.dumps(info))
    base = {"run_id": run_id, "kind": kind, "status": status, "phase": None, "pid": 4242, "heartbeat": time.time(),
            "started": started, "elapsed_s": 600.0, "total_known": True, "tokens": {"prompt": 0, "completion": 0},
            "cost_usd": None, "cost_projected_usd": None, "rate": {"items_per_s": None, "tokens_per_s": None},
            "eta_s": None, "alerts": [], "figures": {}}
    base.update(state)
    (path / "state.json").write_text(json.dumps(base))
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events or []))
    return path


def fixture_workspace(name: str) -> Path:
    ws = Path("/tmp/rollout-snapshots") / name  # a fixed path: the header shows it
    shutil.rmtree(ws, ignore_errors=True)
    ws.mkdir(parents=True)
    out = ws / "eval-out"
    for step, p1, p5 in ((100, 0.21, 0.38), (200, 0.34, 0.52), (300, 0.47, 0.66), (400, 0.44, 0.63)):
        cp = out / f"eval_checkpoint_{step}"
        cp.mkdir(parents=True)
        (cp / "metrics.json").write_text(json.dumps({
            "checkpoint": f"checkpoint-{step}", "step": step, "complete": True, "evaluated_at": T0 + step * 6,
            "files": {"humaneval.jsonl": {}},
            "overall": {"problems": 164, "samples": 820, "pass@1": p1, "pass@5": p5,
                        "status_counts": {"AC": int(820 * p1), "WA": 820 - int(820 * p1)}}}))
    write_run(ws, "eval-20261201-090000-e0a1", status="running", started=T0 + 3600,
              outputs={"output_dir": str(out)},
              state={"phase": "evaluating", "counters": {"total": 5, "done": 4, "ok": 4, "failed": 0},
                     "rate": {"items_per_s": 0.01, "tokens_per_s": None}, "eta_s": 95.0,
                     "figures": {"checkpoint": "checkpoint-500 (step 500)", "tests_per_s": 41.5,
                                 "suite": "humaneval"}},
              events=[{"ts": T0 + 3600, "type": "phase", "phase": "evaluating", "message": "checkpoint-500"}])
    write_run(ws, "serve-20261201-083000-5e7f", status="serving", started=T0 + 1800,
              state={"phase": "serving", "counters": {"total": 0, "done": 0},
                     "figures": {"url": "http://127.0.0.1:30000", "port": 30000,
                                 "metrics": {"running_reqs": 12.0, "queued_reqs": 3.0, "token_usage": 0.62,
                                             "gen_throughput": 1840.0, "cache_hit_rate": 0.41}}})
    (ws / "runs" / "serve-20261201-083000-5e7f" / "server.log").write_text(
        "loading weights\ncapturing cuda graphs\nThe server is fired up and ready to roll!\n")
    write_run(ws, "process-20261201-082000-c0de", status="running", started=T0 + 1200,
              state={"phase": "requests", "counters": {"total": 2000, "done": 1240, "ok": 1180, "failed": 60},
                     "rate": {"items_per_s": 9.5, "tokens_per_s": 5120.0}, "eta_s": 80.0, "cost_usd": 3.2,
                     "alerts": [{"name": "success_rate_low", "severity": "warn", "message": "derived.success_rate = 0.47 < 0.5",
                                 "value": 0.47, "threshold": 0.5, "since": T0 + 1500,
                                 "action": "Investigate instance for overfitting"},
                                {"name": "error_rate_high", "severity": "critical",
                                 "message": "figures.error_rate_recent = 0.09 > 0.05", "value": 0.09,
                                 "threshold": 0.05, "since": T0 + 1600,
                                 "action": "check the endpoint and its log"}],
                     "figures": {"endpoint": "http://127.0.0.1:30000/v1", "req_per_s": 9.6, "latency_p50_s": 2.1,
                                 "latency_p95_s": 7.8, "error_rate_recent": 0.09,
                                 "failures_by_reason": {"timeout": 41, "http_500": 19}}})
    write_run(ws, "demo-20261201-081000-d0d0", status="running", started=T0 + 600,
              state={"heartbeat": T0 + 700, "counters": {"total": 400, "done": 120, "ok": 120},
                     "rate": {"items_per_s": 3.3}, "eta_s": 87.0})  # another host's, silent: lost
    for i, status in enumerate(("done", "failed", "cancelled")):
        write_run(ws, f"demo-20261201-080{i}00-{i:04x}", status=status, started=T0 + 60 * i,
                  finished=T0 + 60 * i + 50, state={"counters": {"total": 100, "done": 100 if status == "done" else 37,
                                                                   "ok": 100 if status == "done" else 30,
                                                                   "failed": 0 if status == "done" else 7},
                                                     "cost_usd": 0.12})
    return ws


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def make(name: str, theme: str) -> RolloutApp:
    ws = fixture_workspace(name)
    return RolloutApp(ws, theme_name=theme, refresh_interval=60, monitor=False, user_themes_dir=ws / "none",
                      remember_theme=False)


def settle(select: str | None = None, keys: tuple[str, ...] = ()):
    async def run_before(pilot) -> None:
        app = pilot.app
        screen = app.screen
        await wait_until(pilot, lambda: screen.polls >= 2, what="the first polls")
        if select is not None and screen.query_one("RunsTable").selected_run != select:
            table = screen.query_one("RunsTable")
            table.move_cursor(row=table.get_row_index(select))
            polls = screen.polls
            await wait_until(pilot, lambda: screen.polls > polls, what="the selected run's poll")
        app.clear_notifications()  # the toasts of alerts active at start: timing, not layout
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.3)
        for _ in range(3):  # plotext and DataTable widths settle over a few refreshes
            await pilot.pause()

    return run_before


def _id(size: tuple[int, int], theme: str) -> str:
    return f"{size[0]}x{size[1]}-{theme.removeprefix('rollout-')}"


CASES = [(s, t) for s in SIZES for t in THEMES]


@pytest.mark.parametrize(("size", "theme"), CASES, ids=[_id(*c) for c in CASES])
def test_dashboard(snap_compare, utc, size, theme) -> None:
    app = make(f"dashboard-{_id(size, theme)}", theme)
    assert snap_compare(app, terminal_size=size, run_before=settle("process-20261201-082000-c0de"))


@pytest.mark.parametrize(("size", "theme"), CASES, ids=[_id(*c) for c in CASES])
def test_eval_view(snap_compare, utc, size, theme) -> None:
    app = make(f"eval-{_id(size, theme)}", theme)
    assert snap_compare(app, terminal_size=size, run_before=settle("eval-20261201-090000-e0a1", ("d",)))


@pytest.mark.parametrize(("size", "theme"), CASES, ids=[_id(*c) for c in CASES])
def test_server_view(snap_compare, utc, size, theme) -> None:
    app = make(f"server-{_id(size, theme)}", theme)
    assert snap_compare(app, terminal_size=size, run_before=settle("serve-20261201-083000-5e7f", ("d",)))


@pytest.mark.parametrize(("size", "theme"), CASES, ids=[_id(*c) for c in CASES])
def test_alerts_view(snap_compare, utc, size, theme) -> None:
    app = make(f"alerts-{_id(size, theme)}", theme)
    assert snap_compare(app, terminal_size=size, run_before=settle(None, ("a",)))


def open_run_view(select: str):
    """The run view (Enter on a run): wait for its first read of the run dir."""
    async def run_before(pilot) -> None:
        await settle(select)(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: getattr(pilot.app.screen, "polls", 0) >= 1, what="the run view's poll")
        await pilot.pause(0.3)

    return run_before


def open_launch_form(job: str):
    """The launch form of one job, as the palette's "Launch <job>" opens it."""
    async def run_before(pilot) -> None:
        await settle()(pilot)
        pilot.app.open_launch(job, None)
        await pilot.pause(0.5)
        for field in pilot.app.screen.query("Input"):
            field.cursor_blink = False  # a blinking cursor is timing, not layout
        for _ in range(3):
            await pilot.pause()

    return run_before


@pytest.mark.parametrize(("size", "theme"), CASES, ids=[_id(*c) for c in CASES])
def test_run_view(snap_compare, utc, size, theme) -> None:
    app = make(f"runview-{_id(size, theme)}", theme)
    assert snap_compare(app, terminal_size=size, run_before=open_run_view("process-20261201-082000-c0de"))


@pytest.mark.parametrize(("size", "theme"), CASES, ids=[_id(*c) for c in CASES])
def test_launch_form(snap_compare, utc, size, theme) -> None:
    app = make(f"launch-{_id(size, theme)}", theme)
    assert snap_compare(app, terminal_size=size, run_before=open_launch_form("demo"))
