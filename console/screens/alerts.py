"""The alerts screen (``a`` on the dashboard): the alerts view full size, kept live by the
dashboard's poll underneath."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Header

from console.actions import bindings
from console.alert_book import AlertBook
from console.widgets.alerts_view import AlertsView


class AlertsScreen(Screen[None]):
    """Active and recent alerts; acknowledge, mute for this run or everywhere, unmute."""

    BINDINGS = bindings("alerts")

    def __init__(self, book: AlertBook, dashboard: Any = None) -> None:
        super().__init__()
        self.book = book
        self.dashboard = dashboard  # its poll keeps the book current; we redraw after each one

    def compose(self) -> ComposeResult:
        yield Header()
        yield AlertsView(self.book, id="alerts-view")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "alerts · c acknowledge · M mute for run · R mute everywhere · U unmute · b back"
        self.query_one("#alerts-active").focus()
        self._polls = getattr(self.dashboard, "polls", 0)
        self.set_interval(0.5, self._follow)

    def _follow(self) -> None:
        polls = getattr(self.dashboard, "polls", 0)
        if polls != self._polls:
            self._polls = polls
            self.view.refresh_rows()

    @property
    def view(self) -> AlertsView:
        return self.query_one(AlertsView)

    def _selected(self) -> Any:
        row = self.view.selected
        if row is None:
            self.notify("no active alert selected", severity="warning")
        return row

    def action_acknowledge(self) -> None:
        row = self._selected()
        if row is not None:
            self.book.acknowledge(row.key)
            self.view.refresh_rows()

    def action_mute(self) -> None:
        row = self._selected()
        if row is not None:
            self.book.mute(row.name, row.run_id)
            self.notify(f"{row.name} muted for {row.run_id}: no toast or bell", timeout=3)
            self.view.refresh_rows()

    def action_mute_everywhere(self) -> None:
        row = self._selected()
        if row is not None:
            self.book.mute(row.name, None)
            self.notify(f"{row.name} muted in every run", timeout=3)
            self.view.refresh_rows()

    def action_unmute(self) -> None:
        self.book.unmute_all()
        self.view.refresh_rows()

    def action_close(self) -> None:
        self.app.pop_screen()
