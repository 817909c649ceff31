"""The alerts panel: active alerts of every live run, critical first, and the viewer's own stale-heartbeat alerts."""

from __future__ import annotations

import time
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from console import format as fmt
from console.screens.workspace_poll import AlertRow
from console.widgets.box_panel import Palette


def severity_style(severity: str, pal: Palette) -> str:
    return f"bold {pal.crit}" if severity == "critical" else f"bold {pal.warn}"


#: alerts listed (two lines each); the rest are counted
MAX_SHOWN = 4


class AlertsPanel(Static):
    """Run id, severity, name, message and how long ago it was raised."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.border_title = "alerts"
        self.rows: list[AlertRow] = []
        self._shown: tuple[Any, ...] | None = None

    @property
    def plain(self) -> str:
        """One line per alert, as plain text (tests read it)."""
        return "\n".join(f"{r.run_id} {r.severity} {r.name} {r.message}" for r in self.rows)

    def show(self, rows: list[AlertRow], pal: Palette, now: float | None = None) -> None:
        now = time.time() if now is None else now
        # ages tick every second: redraw only when something a person would notice changed
        shown = tuple((r.key, r.severity, r.message, int((now - r.since) // 5) if r.since else None) for r in rows)
        if shown == self._shown:
            return
        self._shown = shown
        self.rows = list(rows)
        self.set_class(bool(rows), "-active")
        critical = sum(1 for r in rows if r.severity == "critical")
        self.border_title = f"alerts · {len(rows)}" + (f" · {critical} critical" if critical else "") if rows else "alerts"
        if not rows:
            self.update(Text("no active alerts", style="dim"))
            return
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(no_wrap=True)  # severity
        table.add_column(ratio=1, no_wrap=True, overflow="ellipsis")  # name, run / message
        table.add_column(no_wrap=True, style="dim", justify="right")  # since
        for r in rows[:MAX_SHOWN]:
            sev = "CRIT" if r.severity == "critical" else "WARN"
            since = f"{fmt.duration(now - r.since)} ago" if r.since else ""
            table.add_row(Text(sev, style=severity_style(r.severity, pal)),
                          Text.assemble((r.name, "bold"), "  ", (r.run_id, "dim")), since)
            message = Text(r.message or "-")
            if r.source == "viewer":
                message.append(" (seen by the console)", style="dim")
            table.add_row("", message, "")
        if len(rows) > MAX_SHOWN:
            table.add_row("", Text(f"+{len(rows) - MAX_SHOWN} more", style="dim"), "")
        self.update(table)
