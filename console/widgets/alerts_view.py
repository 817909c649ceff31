"""The alerts view: active alerts of every run with their action text, and the recent raises and
clears; acknowledge (c), mute a rule for a run (M) or everywhere (R), unmute (U)."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from console import format as fmt
from console.alert_book import AlertBook
from console.screens.workspace_poll import AlertRow

#: recent changes listed under the active alerts
RECENT_SHOWN = 30


def _value(row: AlertRow) -> str:
    def f(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else "-" if v is None else str(v)

    return f"{f(row.value)} / {f(row.threshold)}"


class AlertsView(Vertical):
    """Active alerts (a table keyed by run and rule), the selected one's action, recent changes."""

    DEFAULT_CSS = """
    AlertsView { height: 1fr; }
    AlertsView > #alerts-active { height: auto; max-height: 60%; }
    AlertsView > #alerts-action { height: auto; padding: 0 1; }
    AlertsView > #alerts-recent { height: 1fr; }
    """

    def __init__(self, book: AlertBook, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.book = book
        self._keys: list[str] = []
        self._recent_shown: tuple[Any, ...] | None = None
        self._rows: dict[str, tuple[Text, ...]] = {}

    def compose(self) -> ComposeResult:
        table = DataTable(id="alerts-active", cursor_type="row", zebra_stripes=True)
        table.border_title = "active alerts"
        yield table
        yield Static("", id="alerts-action")
        recent = DataTable(id="alerts-recent", cursor_type="none", zebra_stripes=True)
        recent.border_title = "recent"
        yield recent

    def on_mount(self) -> None:
        table = self.query_one("#alerts-active", DataTable)
        for key, label, width in (("sev", "sev", 4), ("rule", "rule", None), ("run", "run", None),
                                  ("value", "value / threshold", None), ("since", "since", 8), ("flags", "", 10)):
            table.add_column(label, key=key, width=width)
        recent = self.query_one("#alerts-recent", DataTable)
        for key, label, width in (("time", "time", 8), ("change", "", 8), ("rule", "rule", None), ("run", "run", None),
                                  ("message", "message", None)):
            recent.add_column(label, key=key, width=width)
        self.refresh_rows()

    @property
    def selected(self) -> AlertRow | None:
        table = self.query_one("#alerts-active", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((a for a in self.book.active.values() if f"{a.run_id}/{a.name}" == key), None)

    def _cells(self, row: AlertRow, now: float) -> tuple[Text, ...]:
        crit = row.severity == "critical"
        muted, acked = self.book.is_muted(row), self.book.is_acknowledged(row)
        style = "dim" if muted or acked else "bold red" if crit else "bold yellow"
        flags = " ".join(f for f, on in (("muted", muted), ("seen", acked)) if on)
        since = fmt.timestamp(row.since)[11:] if row.since else "-"  # a clock time: it never ticks
        return (Text("CRIT" if crit else "WARN", style=style), Text(row.name, style="bold" if not acked else ""),
                Text(row.run_id, style="dim"), Text(_value(row)), Text(since, style="dim"), Text(flags, style="dim"))

    def refresh_rows(self, now: float | None = None) -> None:
        """Make the tables match the book: keyed updates, rows added and removed, never refilled."""
        now = time.time() if now is None else now
        table = self.query_one("#alerts-active", DataTable)
        wanted = self.book.sorted_active()
        keys = [f"{a.run_id}/{a.name}" for a in wanted]
        for gone in [k for k in self._rows if k not in keys]:
            table.remove_row(gone)
            del self._rows[gone]
        for row, key in zip(wanted, keys):
            cells = self._cells(row, now)
            old = self._rows.get(key)
            if old is None:
                table.add_row(*cells, key=key)
            else:
                for col, new, prev in zip(("sev", "rule", "run", "value", "since", "flags"), cells, old):
                    if new != prev:
                        table.update_cell(key, col, new, update_width=col in ("rule", "run", "value"))
            self._rows[key] = cells
        if keys != self._keys:  # order rows as the book sorts them
            order = {(a.run_id, a.name): i for i, a in enumerate(wanted)}
            table.sort("run", "rule", key=lambda cells: order.get((cells[0].plain, cells[1].plain), 0))
            self._keys = keys
        table.border_title = f"active alerts · {len(wanted)}" if wanted else "active alerts · none"
        self._show_action()
        self._refresh_recent()

    def _show_action(self) -> None:
        row = self.selected
        box = self.query_one("#alerts-action", Static)
        if row is None:
            box.update(Text("no active alerts", style="dim"))
            return
        text = Text.assemble((row.name, "bold"), "  ", (row.run_id, "dim"), "\n", row.message or "-", "\n")
        text.append("what to do: ", style="bold")
        text.append(row.action or "see the rule's action in `rollout monitor --rules`")
        box.update(text)

    def _refresh_recent(self) -> None:
        changes = list(self.book.recent)[:RECENT_SHOWN]
        shown = tuple((c.time, c.change, c.row.key) for c in changes)
        if shown == self._recent_shown:
            return
        self._recent_shown = shown
        recent = self.query_one("#alerts-recent", DataTable)
        recent.clear()  # a short log, rebuilt only when a change arrives
        for c in changes:
            style = "bold" if c.change == "raised" else "green" if c.change == "cleared" else "dim"
            recent.add_row(Text(fmt.timestamp(c.time)[11:], style="dim"), Text(c.change, style=style),
                           Text(c.row.name), Text(c.row.run_id, style="dim"), Text(c.row.message or ""))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "alerts-active":
            self._show_action()
