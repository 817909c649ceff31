"""The live list of runs: a DataTable updated by keyed diffs (update_cell), never cleared and refilled."""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from console import format as fmt
from engine.runs import RunSummary

#: (column key, label, fixed width or None for automatic, right-justified)
COLUMNS: tuple[tuple[str, str, int | None, bool], ...] = (
    ("run", "run", None, False),
    ("status", "status", 9, False),
    ("progress", "progress", 27, False),
    ("ok", "ok", 6, True),
    ("failed", "failed", 6, True),
    ("rate", "rate", 7, True),
    ("eta", "ETA", 6, True),
    ("cost", "cost", 8, True),
    ("kind", "kind", None, False),
    ("started", "started", 8, False),
)
COLUMN_KEYS = tuple(c[0] for c in COLUMNS)
BAR_WIDTH = 8

StatusColor = Callable[[str], "str | None"]


def progress_cell(summary: RunSummary) -> Text:
    """``█████░░░░░  52.0% 208/400``: a small bar, the percentage and the counts."""
    c = summary.counters
    frac = summary.progress
    if frac is None:
        return Text(fmt.count(c.get("done", 0)) + " done" if c.get("done") else "-", style="dim")
    frac = min(max(frac, 0.0), 1.0)
    filled = round(frac * BAR_WIDTH)
    text = Text()
    text.append("█" * filled, style="bold")
    text.append("░" * (BAR_WIDTH - filled), style="dim")
    text.append(f" {100 * frac:5.1f}% {fmt.count(c.get('done', 0))}/{fmt.count(c.get('total', 0))}")
    return text


def row_cells(summary: RunSummary, status_color: StatusColor) -> tuple[Text, ...]:
    """The cells of one run's row, in COLUMNS order."""
    c = summary.counters
    color = status_color(summary.status)
    active = summary.status not in ("done", "failed", "cancelled", "lost")
    failed = c.get("failed", 0)
    started = fmt.timestamp(summary.started)
    return (
        Text(summary.run_id),
        Text(summary.status, style=f"bold {color}" if color else "bold"),
        progress_cell(summary),
        Text(fmt.count(c.get("ok", 0)), justify="right"),
        Text(fmt.count(failed), justify="right", style="bold red" if failed else "dim"),
        Text(fmt.rate(summary.rate.get("items_per_s")) if active else "-", justify="right"),
        Text(fmt.duration(summary.eta_s) if active else "-", justify="right"),
        Text(fmt.cost(summary.cost_usd), justify="right"),  # "?" = price unknown, not free
        Text(summary.kind, style="dim"),
        Text(started[11:] if started != "-" else "-", style="dim"),
    )


class RunsTable(DataTable):
    """Runs of the workspace, newest first; the row key is the run id."""

    BINDINGS = [
        Binding("g", "scroll_top", "First run", show=False),
        Binding("G", "scroll_bottom", "Last run", show=False),
        Binding("home", "scroll_top", "First run", show=False),
        Binding("end", "scroll_bottom", "Last run", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._cells: dict[str, tuple[Text, ...]] = {}
        self._order: dict[str, float] = {}

    def on_mount(self) -> None:
        for key, label, width, right in COLUMNS:
            self.add_column(Text(label, justify="right" if right else "left"), key=key, width=width)

    @property
    def run_ids(self) -> list[str]:
        """Row keys in display order."""
        return [row.key.value for row in self.ordered_rows if row.key.value is not None]

    @property
    def selected_run(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def cells_of(self, run_id: str) -> tuple[Text, ...] | None:
        """The cells last shown for a run (tests and the detail pane read them)."""
        return self._cells.get(run_id)

    def sync(self, runs: list[RunSummary], status_color: StatusColor) -> None:
        """Make the rows match ``runs``: update changed cells by key, add new runs, drop vanished ones."""
        selected = self.selected_run
        seen: set[str] = set()
        added = False
        for summary in runs:
            run_id = summary.run_id
            seen.add(run_id)
            cells = row_cells(summary, status_color)
            old = self._cells.get(run_id)
            if old is None:
                self.add_row(*cells, key=run_id)
                self._order[run_id] = summary.started or 0.0
                added = True
            else:
                for key, new, prev in zip(COLUMN_KEYS, cells, old):
                    if new != prev:
                        self.update_cell(run_id, key, new, update_width=key in ("run", "kind"))
            self._cells[run_id] = cells
        for gone in [r for r in self._cells if r not in seen]:
            self.remove_row(gone)
            del self._cells[gone]
            self._order.pop(gone, None)
        if added:
            # newest first; keep the cursor on the run it was on
            self.sort("run", key=lambda run_id: (self._order.get(str(run_id), 0.0), str(run_id)), reverse=True)
            if selected in self._cells:
                self.move_cursor(row=self.get_row_index(selected))
            # DataTable measures new rows' widths when idle but keeps lines it rendered before with the
            # old widths (the run column showed 3 characters until a resize): redraw once measured
            self.call_after_refresh(self._redraw)

    def _redraw(self) -> None:
        self._update_count += 1  # what a resize does: invalidates DataTable's render caches
        self.refresh()
