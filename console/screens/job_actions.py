"""What the console adds to the app for driving jobs: the launch key and palette entries, Enter on a
run (its run view), the log view, and reaping the job processes it started.

Kept out of console/app.py (shared with the views): the app mixes :class:`JobActions` in; the keys
(``n``, ``l``) are the ``app.launch`` / ``app.logs`` entries of the action registry (console/actions.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.launcher import Launched

#: seconds between reaping finished job processes (so none is left a zombie while the console runs)
REAP_EVERY_S = 2.0


class JobActions:
    """Mixed into the Textual app (it has ``workspace`` and maybe ``config``)."""

    workspace: Path

    @property
    def job_config(self) -> Any:
        cfg = getattr(self, "config", None)
        if cfg is None:
            from engine.config import load_config

            try:
                cfg = load_config(None)
            except Exception:
                cfg = None
            self.config = cfg  # type: ignore[attr-defined]
        return cfg

    # -- launch -------------------------------------------------------------------------------
    def refused_read_only(self, what: str) -> bool:
        """True (and says so) when the console was opened with --read-only."""
        if getattr(self, "read_only", False):
            app: Any = self
            app.notify(f"read-only console: {what} is disabled (started with --read-only)", severity="warning")
            return True
        return False

    def action_launch(self) -> None:
        from console.screens.launch import LaunchScreen

        if self.refused_read_only("launch"):
            return
        if not isinstance(getattr(self, "screen", None), LaunchScreen):
            self.open_launch(None, None)

    def open_launch(self, job: str | None, given: dict[str, Any] | None) -> None:
        from console.screens.launch import LaunchScreen

        if self.refused_read_only("launch"):
            return
        app: Any = self
        app.push_screen(LaunchScreen(self.workspace, self.job_config, job=job, given=given), self._after_launch)

    def _after_launch(self, run_id: str | None) -> None:
        if run_id:
            self.show_runs()
            self.select_run(run_id)

    def show_runs(self) -> None:
        """Back to the runs list (a launch from a run view shows the new run in the list)."""
        from console.screens.runs import RunsScreen

        app: Any = self
        while len(app.screen_stack) > 1 and not isinstance(app.screen, RunsScreen):
            app.pop_screen()

    def keep_launched(self, launched: Launched) -> None:
        """Remember a started job process; a timer reaps it when it ends."""
        app: Any = self
        kept: list[Launched] | None = getattr(app, "_launched_jobs", None)
        if kept is None:
            kept = app._launched_jobs = []
            app.set_interval(REAP_EVERY_S, self._reap, name="reap-jobs")
        kept.append(launched)

    def _reap(self) -> None:
        kept: list[Launched] = getattr(self, "_launched_jobs", None) or []
        kept[:] = [k for k in kept if k.exit_code() is None]

    def select_run(self, run_id: str, tries: int = 50) -> None:
        """Move the runs table's cursor to ``run_id`` (as soon as a poll has listed it)."""
        from console.screens.runs import RunsScreen
        from console.widgets.runs_table import RunsTable

        app: Any = self
        screen = next((s for s in app.screen_stack if isinstance(s, RunsScreen)), None)
        if screen is None:
            return
        table = screen.query_one(RunsTable)
        try:
            row = table.get_row_index(run_id)
        except Exception:
            row = None
        if row is None:
            screen.poll_now()
            if tries > 0:
                app.set_timer(0.2, lambda: self.select_run(run_id, tries - 1))
            return
        table.move_cursor(row=row)

    # -- run view and logs --------------------------------------------------------------------
    def open_run_view(self, run_id: str) -> None:
        from console.screens.run_view import RunViewScreen

        app: Any = self
        app.push_screen(RunViewScreen(self.workspace, run_id, self.job_config))

    def action_logs(self) -> None:
        from console.screens.logs import LogsScreen

        if isinstance(getattr(self, "screen", None), LogsScreen):
            return
        run_id = self.current_run_id()
        if run_id is None:
            app: Any = self
            app.notify("no run selected", severity="warning")
            return
        self.open_logs(run_id)

    def open_logs(self, run_id: str) -> None:
        from console.screens.logs import LogsScreen

        app: Any = self
        app.push_screen(LogsScreen(self.workspace, run_id))

    def current_run_id(self) -> str | None:
        from console.widgets.runs_table import RunsTable

        app: Any = self
        screen = app.screen
        run_id = getattr(screen, "run_id", None)
        if run_id:
            return str(run_id)
        tables = screen.query(RunsTable)
        return tables.first().selected_run if tables else None
