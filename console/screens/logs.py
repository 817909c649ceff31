"""A run's logs: events.jsonl (as sentences), server.log, error.log and the launch log, followed.

Each file is followed by offset (engine/logtail.py: only new whole lines are read, never the
whole file again), kept to the last MAX_LINES lines, newest at the bottom, scrolled to follow.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header, Log, TabbedContent, TabPane

from console.actions import bindings
from console.event_text import line_sentence
from engine.logtail import FileFollower
from engine.recent import load_recent
from engine.runs import RUNS_DIRNAME

MAX_LINES = 2000
FOLLOW_EVERY_S = 0.5
#: file name in the run dir → tab title; events are shown as sentences
SOURCES = (("events.jsonl", "events"), ("server.log", "server"), ("error.log", "errors"))


class LogsScreen(Screen[None]):
    BINDINGS = bindings("logs")

    DEFAULT_CSS = """
    LogsScreen Log { height: 1fr; }
    """

    def __init__(self, workspace: Path, run_id: str) -> None:
        super().__init__()
        self.workspace = Path(workspace)
        self.run_id = run_id
        self.run_path = self.workspace / RUNS_DIRNAME / run_id
        self.followers: dict[str, FileFollower] = {}
        self._busy = False
        self.sub_title = f"{run_id} · logs"  # set before mount: the Header reads it once composed

    def sources(self) -> list[tuple[str, Path]]:
        found = [(title, self.run_path / name) for name, title in SOURCES]
        launch_log = next((r.log for r in load_recent(self.workspace) if r.run_id == self.run_id and r.log), None)
        if launch_log:
            found.append(("launch", Path(launch_log)))
        return found

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="log-tabs"):
            for title, path in self.sources():
                with TabPane(title, id=f"tab-{title}"):
                    yield Log(max_lines=MAX_LINES, auto_scroll=True, id=f"log-{title}")
                self.followers[title] = FileFollower(path)
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(FOLLOW_EVERY_S, self.follow_now, name="follow-logs")
        self.call_after_refresh(self.follow_now)

    async def follow_now(self) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            new = await asyncio.to_thread(self._read_all)
            for title, lines in new.items():
                if lines:
                    log = self.query_one(f"#log-{title}", Log)
                    log.write_lines(lines[-MAX_LINES:])
        finally:
            self._busy = False

    def _read_all(self) -> dict[str, list[str]]:
        out = {}
        for title, follower in self.followers.items():
            lines = follower.read_new()
            out[title] = [line_sentence(ln) for ln in lines] if title == "events" else lines
        return out

    def action_follow(self) -> None:
        tabs = self.query_one(TabbedContent)
        pane = tabs.active_pane
        if pane is not None:
            for log in pane.query(Log):
                log.auto_scroll = True
                log.scroll_end(animate=False)
