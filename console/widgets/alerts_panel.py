"""The alerts panel: active alerts of every live run, critical first, each with what to do; the
viewer's own stale-heartbeat alerts too. ``a`` opens the alerts view (acknowledge, mute)."""

from __future__ import annotations

from typing import Any, Callable

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from console import format as fmt
from console.screens.workspace_poll import AlertRow
from console.widgets.box_panel import Palette
from console.widgets.quiet import set_title


def severity_style(severity: str, pal: Palette) -> str:
    return f"bold {pal.crit}" if severity == "critical" else f"bold {pal.warn}"


#: alerts listed (two or three lines each); the rest are counted
MAX_SHOWN = 4
#: narrower than this (cells), the panel drops the clock and spells severities as one mark
NARROW = 50


class AlertsPanel(Static):
    """Severity, rule, run, message, action and when it was raised (a clock time: it never ticks)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.border_title = "alerts"
        self.rows: list[AlertRow] = []
        self._shown: tuple[Any, ...] | None = None

    @property
    def plain(self) -> str:
        """One line per alert, as plain text (tests read it)."""
        return "\n".join(f"{r.run_id} {r.severity} {r.name} {r.message}" for r in self.rows)

    def show(self, rows: list[AlertRow], pal: Palette, quiet: Callable[[AlertRow], bool] | None = None) -> None:
        """``quiet(row)``: acknowledged or muted alerts, drawn dim after the others."""
        quiet = quiet or (lambda _r: False)
        rows = sorted(rows, key=lambda r: quiet(r))  # stable: keeps critical-first within each group
        shown = (self.content_region.width < NARROW,
                 *((r.key, r.severity, r.message, r.action, quiet(r), r.since) for r in rows))
        if shown == self._shown:
            return
        self._shown = shown
        self.rows = list(rows)
        loud = [r for r in rows if not quiet(r)]
        self.set_class(bool(loud), "-active")
        critical = sum(1 for r in loud if r.severity == "critical")
        set_title(self, (f"alerts · {len(rows)}" + (f" · {critical} critical" if critical else "")
                         + (f" · {len(rows) - len(loud)} seen" if len(loud) < len(rows) else "") + " · a: view")
                  if rows else "alerts")
        if not rows:
            self.update(Text("no active alerts", style="dim"))
            return
        narrow = 0 < self.content_region.width < NARROW
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(no_wrap=True)  # severity
        table.add_column(ratio=1)  # name, run / message / action (wrapped, never cut)
        table.add_column(no_wrap=True, style="dim", justify="right")  # since
        for r in rows[:MAX_SHOWN]:
            dim = quiet(r)
            if narrow:  # every cell for the words: a mark for the severity, no clock
                sev, since = ("✖" if r.severity == "critical" else "▲"), ""
            else:
                sev = "CRIT" if r.severity == "critical" else "WARN"
                since = f"since {fmt.timestamp(r.since)[11:]}" if r.since else ""
            table.add_row(Text(sev, style="dim" if dim else severity_style(r.severity, pal)),
                          Text.assemble((r.name, "dim" if dim else "bold"), "  ", (r.run_id, "dim")), since)
            message = Text(r.message or "-", style="dim" if dim else "")
            if r.source == "viewer":
                message.append(" (seen by the console)", style="dim")
            table.add_row("", message, "")
            if r.action and not dim:
                table.add_row("", Text.assemble(("→ ", "bold"), (r.action, "italic")), "")
        if len(rows) > MAX_SHOWN:
            table.add_row("", Text(f"+{len(rows) - MAX_SHOWN} more (a: alerts view)", style="dim"), "")
        self.update(table)
