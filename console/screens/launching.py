"""Spawn a job command detached and watch for its run directory (used by the launch screen and
the run view's rerun/retry).

Polling happens on a timer (a thread does the file reads) and stops when the run appears or the
process ends first; in that case the command's one-line error is reported.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

from textual.dom import DOMNode

from engine.launcher import Launched, find_run_of, launch_error, spawn_job

#: seconds between looks for the new run directory
WATCH_EVERY_S = 0.2


class LaunchWatch:
    """One launched command: calls ``on_run(run_id)`` or ``on_error(line)``, once."""

    def __init__(self, owner: DOMNode, launched: Launched, workspace: Path,
                 on_run: Callable[[str], None], on_error: Callable[[str], None]) -> None:
        self.owner = owner
        self.launched = launched
        self.workspace = workspace
        self.on_run = on_run
        self.on_error = on_error
        self.finished = False
        self._timer = owner.set_interval(WATCH_EVERY_S, self._tick, name="launch-watch")
        self._busy = False

    async def _tick(self) -> None:
        if self.finished or self._busy:
            return
        self._busy = True
        try:
            run = await asyncio.to_thread(find_run_of, self.workspace, self.launched.pid, self.launched.started)
            if run is not None:
                self._finish()
                self.launched.run_id = run.run_id
                self.on_run(run.run_id)
                return
            code = self.launched.exit_code()
            if code is not None:
                # one last look: the run dir may have appeared just before the process ended
                run = await asyncio.to_thread(find_run_of, self.workspace, self.launched.pid, self.launched.started)
                self._finish()
                if run is not None:
                    self.launched.run_id = run.run_id
                    self.on_run(run.run_id)
                else:
                    self.on_error(f"exit {code}: {launch_error(self.launched.log)}")
        finally:
            self._busy = False

    def _finish(self) -> None:
        self.finished = True
        self._timer.stop()


def launch(owner: DOMNode, argv: list[str], workspace: Path, *, cwd: str | None,
           on_run: Callable[[str], None], on_error: Callable[[str], None]) -> LaunchWatch:
    """Spawn ``argv`` (``["rollout", ...]``) detached and watch it; the app reaps it when it ends."""
    launched = spawn_job(argv, workspace, cwd=cwd)
    app = owner.app
    keep = getattr(app, "keep_launched", None)
    if callable(keep):
        keep(launched)
    return LaunchWatch(owner, launched, workspace, on_run, on_error)
