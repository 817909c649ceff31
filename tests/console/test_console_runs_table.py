"""The runs table: health column, stale/lost drawn as such, columns by priority, / filter, sort, pause."""

from __future__ import annotations

import os
import time
from pathlib import Path

from console.app import RolloutApp
from console.widgets.runs_table import RunsTable, columns_for_width
from console_helpers import wait_until
from engine.runs import create_run


def make_run(workspace: Path, kind: str, *, status: str = "running", done: int = 5, total: int = 10,
             heartbeat: float | None = None, alerts: list | None = None, title: str | None = None):
    run = create_run(workspace, kind, ["rollout", kind], title=title)
    run.write_state({
        "status": status, "heartbeat": heartbeat or time.time(), "counters": {"total": total, "done": done, "ok": done},
        "rate": {"items_per_s": 3.3}, "eta_s": 87.0, "alerts": alerts or [], "figures": {},
    })
    return run


def cell(table: RunsTable, run_id: str, column: str) -> str:
    return str(table.get_cell(run_id, column))


def app_for(workspace: Path, tmp_path: Path) -> RolloutApp:
    return RolloutApp(workspace, refresh_interval=0.2, user_themes_dir=tmp_path / "none", monitor=False)


def test_80_columns_keep_run_status_progress_eta_and_health() -> None:
    cols, compact = columns_for_width(78)
    assert [c.key for c in cols] == ["run", "status", "progress", "eta", "health"] and compact
    assert sum((c.width or 20) + 2 for c in cols) <= 78 - 2  # room for the scrollbar too
    wide, compact = columns_for_width(198)
    assert {"rate", "failed", "cost", "kind", "ok", "started"} <= {c.key for c in wide} and not compact


async def test_stopped_job_reads_stale_with_no_rate_and_its_alert_in_health(workspace: Path, tmp_path: Path) -> None:
    # a SIGSTOPped job: its pid lives (ours), its heartbeat is two minutes old
    stale = make_run(workspace, "process", heartbeat=time.time() - 120)
    stale.update_run(pid=os.getpid())
    time.sleep(1.05)
    fine = make_run(workspace, "eval", alerts=[{"name": "success_rate_low", "severity": "warn", "message": "m"}])
    fine.update_run(pid=os.getpid())
    app = app_for(workspace, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(RunsTable)
        await wait_until(pilot, lambda: len(table.run_ids) == 2 and "stale" in cell(table, stale.run_id, "health"),
                         what="both rows with the stale health")
        assert cell(table, stale.run_id, "status") == "stale"
        assert cell(table, stale.run_id, "eta").strip() == "-"  # no live ETA for a silent job
        assert "heartbeat_stale" in cell(table, stale.run_id, "health")
        assert "success_rate_low" in cell(table, fine.run_id, "health")
        assert table.compact_ids and cell(table, fine.run_id, "run").startswith("eval-")
        assert cell(table, fine.run_id, "eta").strip() == "1m27s"
        shown = [c.key for c in table.columns_shown]
        assert shown[:5] == ["run", "status", "progress", "eta", "health"] and "cost" not in shown
        # the whole run id is on screen, no horizontal scrolling needed for what matters
        assert table.virtual_size.width <= table.size.width


async def test_filter_sort_and_pause(workspace: Path, tmp_path: Path) -> None:
    a = make_run(workspace, "eval", done=9, title="checkpoints of run A")
    time.sleep(1.05)
    b = make_run(workspace, "serve", status="done", done=10)
    time.sleep(1.05)
    c = make_run(workspace, "process", done=1)
    for r in (a, b, c):
        r.update_run(pid=os.getpid())
    app = app_for(workspace, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        table = screen.query_one(RunsTable)
        await wait_until(pilot, lambda: table.run_ids == [c.run_id, b.run_id, a.run_id], what="newest first")
        await pilot.press("slash")
        for ch in "kind:eval":
            await pilot.press(ch if ch != ":" else "colon")
        await wait_until(pilot, lambda: table.run_ids == [a.run_id], what="only the eval run")
        await pilot.press("enter")
        assert table.has_focus
        await pilot.press("slash", *"checkpoints")
        await pilot.press("escape")  # Esc clears the filter
        await wait_until(pilot, lambda: len(table.run_ids) == 3, what="every run again")
        await pilot.press("slash", *"status:done", "enter")
        await wait_until(pilot, lambda: table.run_ids == [b.run_id], what="the done run")
        await pilot.press("slash", "escape")
        await wait_until(pilot, lambda: len(table.run_ids) == 3, what="every run again")
        await pilot.press("o")  # by status: live runs first
        assert table.sort_name == "status" and table.run_ids[-1] == b.run_id
        await pilot.press("o")  # by progress, most done first
        assert table.run_ids == [b.run_id, a.run_id, c.run_id]
        await pilot.press("O")
        assert table.run_ids == [c.run_id, a.run_id, b.run_id]
        await pilot.press("p")
        assert screen.paused
        polls = screen.polls
        await pilot.pause(1.0)
        assert screen.polls <= polls + 1  # paused: no more polls
        await pilot.press("p")
        await wait_until(pilot, lambda: screen.polls >= polls + 3, what="polling again")
