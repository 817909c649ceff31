"""The alerts view: action text, acknowledge, mute per rule and run, one toast per raise."""

from __future__ import annotations

import os
import time
from pathlib import Path

from console.app import RolloutApp
from console.screens.alerts import AlertsScreen
from console.screens.runs import RunsScreen
from console.widgets.alerts_panel import AlertsPanel
from console.widgets.alerts_view import AlertsView
from console.widgets.runs_table import RunsTable
from console_helpers import wait_until
from engine.runs import create_run


def live_run(workspace: Path, alerts: list[dict]):
    run = create_run(workspace, "process", ["rollout", "process"])
    run.update_run(pid=os.getpid())
    write(run, alerts)
    return run


def write(run, alerts: list[dict]) -> None:
    run.write_state({"status": "running", "heartbeat": time.time(), "counters": {"total": 9, "done": 1, "ok": 1},
                     "alerts": alerts})


def alert(name: str, severity: str = "warn", action: str = "") -> dict:
    return {"name": name, "severity": severity, "message": f"{name} message", "value": 0.4, "threshold": 0.5,
            "action": action, "since": time.time()}


def on_screen(widget) -> str:
    """What a widget draws, line by line (so text cut off at its edge is missing)."""
    return "\n".join(widget.render_line(y).text for y in range(widget.size.height))


def toasts(app: RolloutApp) -> list[str]:
    return [n.title for n in app._notifications if n.title.startswith("alert ")]


async def test_acknowledge_mute_and_one_toast_per_raise(workspace: Path, tmp_path: Path) -> None:
    a = live_run(workspace, [alert("success_rate_low", action="Investigate instance for overfitting")])
    time.sleep(1.05)
    b = live_run(workspace, [])
    app = RolloutApp(workspace, user_themes_dir=tmp_path / "none", monitor=False, refresh_interval=0.2)
    async with app.run_test(size=(160, 48)) as pilot:
        dash = app.screen
        assert isinstance(dash, RunsScreen)
        panel = dash.query_one(AlertsPanel)
        await wait_until(pilot, lambda: panel.rows, what="the alert")
        await wait_until(pilot, lambda: "Investigate instance for overfitting" in on_screen(panel).replace("\n", " "),
                         what="the action text, not cut off")
        await pilot.press("a")
        assert isinstance(app.screen, AlertsScreen)
        view = app.screen.query_one(AlertsView)
        await wait_until(pilot, lambda: view.selected is not None, what="the alert in the view")
        await pilot.pause()
        action_text = on_screen(app.screen.query_one("#alerts-action"))
        assert "what to do: Investigate instance for overfitting" in action_text
        await pilot.press("c")  # acknowledge
        assert app.alert_book.is_acknowledged(view.selected)
        assert "seen" in str(app.screen.query_one("#alerts-active").get_row_at(0)[-1])
        await pilot.press("M")  # mute success_rate_low for run a
        assert ("success_rate_low", a.run_id) in app.alert_book.muted
        await pilot.press("b")
        assert app.screen is dash
        # the rule clears and raises again in a: muted, so no toast; in b: a toast
        write(a, [])
        await wait_until(pilot, lambda: not panel.rows, what="the clear")
        write(a, [alert("success_rate_low")])
        write(b, [alert("success_rate_low")])
        await wait_until(pilot, lambda: len(panel.rows) == 2, what="both raised")
        await wait_until(pilot, lambda: len(toasts(app)) == 2, what="b's toast")
        polls = dash.polls
        await wait_until(pilot, lambda: dash.polls >= polls + 3, what="more polls")
        assert toasts(app) == ["alert success_rate_low", "alert success_rate_low"]  # a's first, b's; none per clear
        messages = [n.message for n in app._notifications if n.title.startswith("alert ")]
        assert messages[-1].startswith(b.run_id)
        table = dash.query_one(RunsTable)
        assert "success_rate_low" in str(table.get_cell(a.run_id, "health"))
        # the recent list has the raise, the clear and the raises again
        changes = [(c.change, c.row.run_id) for c in app.alert_book.recent]
        assert ("cleared", a.run_id) in changes and changes.count(("raised", a.run_id)) == 2
        await pilot.press("a")
        await pilot.press("U")
        assert not app.alert_book.muted
