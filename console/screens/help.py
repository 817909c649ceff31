"""``?``: every key of the screen it was opened from, generated from its bindings (and the
console action registry's ids, the names ``[keymap]`` in the config uses); scrolls with j/k/g/G
so it fits 80x24."""

from __future__ import annotations

from typing import Iterable

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from console.actions import bindings

#: how keys are spelled for people
_KEY_NAMES = {
    "question_mark": "?", "ctrl+c": "Ctrl+C", "ctrl+q": "Ctrl+Q", "ctrl+p": "Ctrl+P", "pageup": "PgUp",
    "pagedown": "PgDn", "home": "Home", "end": "End", "up": "↑", "down": "↓", "left": "←", "right": "→",
    "enter": "Enter", "escape": "Esc", "tab": "Tab", "shift+tab": "Shift+Tab", "ctrl+home": "Ctrl+Home",
    "ctrl+end": "Ctrl+End", "ctrl+pageup": "Ctrl+PgUp", "ctrl+pagedown": "Ctrl+PgDn", "plus": "+", "minus": "-",
    "equals": "=", "slash": "/", "space": "Space", "colon": ":",
}


def key_label(key: str) -> str:
    return _KEY_NAMES.get(key, key)


class HelpScreen(ModalScreen[None]):
    """A list of (keys, what they do, binding id), grouped by action so Home and g show on one line."""

    BINDINGS = bindings("help")

    def __init__(self, keys: Iterable[tuple[str, str] | tuple[str, str, str | None]]) -> None:
        super().__init__()
        grouped: dict[str, list[str]] = {}
        ids: dict[str, str] = {}
        for entry in keys:
            key, description = entry[0], entry[1]
            binding_id = entry[2] if len(entry) > 2 else None
            grouped.setdefault(description, [])
            if binding_id and description not in ids:
                ids[description] = binding_id
            if key_label(key) not in grouped[description]:
                grouped[description].append(key_label(key))
        self.rows = [(" / ".join(k), d) for d, k in grouped.items()]
        self.ids = ids

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static("Keys", id="help-title")
            yield DataTable(id="help-keys", cursor_type="none", show_header=True, zebra_stripes=True)
            yield Static("j/k scroll · Esc, ? or q closes · Ctrl+P lists every action · ids go in [keymap]",
                         classes="dim")

    def on_mount(self) -> None:
        table = self.query_one("#help-keys", DataTable)
        table.add_columns("key", "action", "id")
        for keys, description in self.rows:
            table.add_row(keys, description, self.ids.get(description, ""))
        table.focus()

    def _table(self) -> DataTable:
        return self.query_one("#help-keys", DataTable)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll_down(self) -> None:
        self._table().scroll_down(animate=False)

    def action_scroll_up(self) -> None:
        self._table().scroll_up(animate=False)

    def action_scroll_home(self) -> None:
        self._table().scroll_home(animate=False)

    def action_scroll_end(self) -> None:
        self._table().scroll_end(animate=False)
