"""The detail pane of the selected run: its figures and its last events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from console import format as fmt
from console.render import event_line, state_view
from console.screens.workspace_poll import RunDetailData
from console.widgets.job_figures import job_figures_view
from console.widgets.quiet import set_title


def run_info_grid(info: dict[str, Any]) -> Table:
    """Where and how the run was started (from run.json)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    if info.get("title"):
        grid.add_row("title", Text(str(info["title"])))
    grid.add_row("pid", Text(f"{info.get('pid', '-')} on {info.get('host', '?')}"))
    grid.add_row("started", Text(fmt.timestamp(info.get("started"))))
    if info.get("finished"):
        grid.add_row("finished", Text(fmt.timestamp(info.get("finished"))))
    argv = info.get("argv") or []
    if argv:
        grid.add_row("command", Text(" ".join(str(a) for a in argv), overflow="ellipsis", no_wrap=True))
    return grid


class RunDetail(Static):
    """Figures of one run: status, counters, tokens, rate, cost and projection, ETA, phase, alerts."""

    DEFAULT_CLASSES = "detail-pane"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.border_title = "run"
        self.data: RunDetailData | None = None
        self._key: Any = None

    def _title(self, title: str) -> None:
        set_title(self, title)
        # inside a scrolling frame the frame draws the border: its title names the run
        if self.parent is not None and self.has_class("framed"):
            set_title(self.parent, title)

    def show(self, data: RunDetailData | None, workspace: Path) -> None:
        """Show a run, or how to start one when there is none; nothing is redrawn when what it
        would show is unchanged (a live job rewrites its heartbeat every 2 s)."""
        key = _view_key(data)
        if key == self._key and self.data is not None and data is not None:
            self.data = data
            return
        self._key = key
        self.data = data
        if data is None:
            self._title("run")
            self.update(Text.assemble(
                ("No run selected.\n\n", "bold"),
                f"Runs are read from {workspace / 'runs'}.\n",
                "Press ", ("n", "bold"), " to launch a job from here, or start one in another terminal, e.g. ",
                ("rollout demo", "bold"), ": it appears here.",
            ))
            return
        self._title(data.run_id)
        state = dict(data.state)
        state["status"] = data.status  # 'lost' is computed, not written by the job
        # the figures get their own section (known groups drawn nicely): keep state_view's list out
        parts: list[RenderableType] = [state_view(data.run_id, {**state, "figures": {}})]
        figures = job_figures_view(state, width=self.content_region.width or 80)
        if figures is not None:
            parts += [Text(""), figures]
        parts += [Text(""), run_info_grid(data.info)]
        self.update(Group(*parts))


class EventsPane(Static):
    """The last events of the selected run (events.jsonl), newest at the bottom and always in view:
    as many of the newest as the pane has lines, one line each."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.border_title = "events"
        self._shown: list[tuple[str, str]] | None = None
        self._events: list[dict[str, Any]] = []

    def show(self, data: RunDetailData | None) -> None:
        self._events = data.events if data else []
        lines = [(event_line(ev), _event_style(ev)) for ev in self._events]
        height = self.content_region.height
        if height > 0:
            lines = lines[-height:]  # the newest that fit: the finish or error line is never below the fold
        if lines == self._shown:
            return
        self._shown = lines
        if not lines:
            self.update(Text("no events yet", style="dim"))
            return
        self.update(Text("\n").join(Text(line, style=style, no_wrap=True, overflow="ellipsis")
                                    for line, style in lines))

    def on_resize(self) -> None:
        self._shown = None
        lines = [(event_line(ev), _event_style(ev)) for ev in self._events]
        if lines:
            height = self.content_region.height
            lines = lines[-height:] if height > 0 else lines
            self._shown = lines
            self.update(Text("\n").join(Text(line, style=style, no_wrap=True, overflow="ellipsis")
                                        for line, style in lines))


def _view_key(data: RunDetailData | None) -> Any:
    """What the detail pane would show of ``data``: its state without the heartbeat, elapsed time
    as displayed."""
    if data is None:
        return None
    state = {k: v for k, v in data.state.items() if k not in ("heartbeat", "elapsed_s")}
    return (data.run_id, data.status, fmt.duration(data.state.get("elapsed_s")), repr(state), repr(data.info))


def _event_style(ev: dict[str, Any]) -> str:
    """Errors and raised alerts stand out, warnings less so, routine progress recedes."""
    kind = ev.get("type")
    if kind == "alert":
        return "bold red" if ev.get("state") == "raised" else "green"
    if kind == "log":
        return {"error": "bold red", "warning": "yellow"}.get(str(ev.get("level")), "")
    if kind == "progress":
        return "dim"
    if kind in ("phase", "finish"):
        return "bold"
    return ""
