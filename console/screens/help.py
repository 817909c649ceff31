"""``?``: every key of the screen it was opened from, in one table."""

from __future__ import annotations

from typing import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

#: how keys are spelled for people
_KEY_NAMES = {
    "question_mark": "?", "ctrl+c": "Ctrl+C", "ctrl+q": "Ctrl+Q", "ctrl+p": "Ctrl+P", "pageup": "PgUp",
    "pagedown": "PgDn", "home": "Home", "end": "End", "up": "↑", "down": "↓", "left": "←", "right": "→",
    "enter": "Enter", "escape": "Esc", "tab": "Tab", "shift+tab": "Shift+Tab", "ctrl+home": "Ctrl+Home",
    "ctrl+end": "Ctrl+End", "ctrl+pageup": "Ctrl+PgUp", "ctrl+pagedown": "Ctrl+PgDn", "plus": "+", "minus": "-", "equals": "=",
}


def key_label(key: str) -> str:
    return _KEY_NAMES.get(key, key)


class HelpScreen(ModalScreen[None]):
    """A list of (keys, what they do), grouped by action so Home and g show on one line."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, keys: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        grouped: dict[str, list[str]] = {}
        for key, description in keys:
            grouped.setdefault(description, [])
            if key_label(key) not in grouped[description]:
                grouped[description].append(key_label(key))
        self.rows = [(" / ".join(k), d) for d, k in grouped.items()]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static("Keys", id="help-title")
            yield DataTable(id="help-keys", cursor_type="none", show_header=False, zebra_stripes=True)
            yield Static("Esc, ? or q closes this. Ctrl+P opens the command palette.", classes="dim")

    def on_mount(self) -> None:
        table = self.query_one("#help-keys", DataTable)
        table.add_columns("key", "action")
        for keys, description in self.rows:
            table.add_row(keys, description)

    def action_close(self) -> None:
        self.dismiss(None)
