"""The live list of runs: a DataTable updated by keyed diffs (update_cell), never cleared and refilled.

Columns have priorities: on a narrow terminal the low-priority ones are left out (not scrolled
to), so 80 columns show run, status, progress, ETA and health. A changed cell repaints its own row
only, so a poll that changes nothing writes nothing to the terminal. ``/`` filters (kind, status,
text), ``o`` cycles the sort, the screen's ``p`` pauses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets._data_table import CellDoesNotExist, ColumnKey, RowKey

from console import format as fmt
from console.actions import bindings
from engine.runs import ACTIVE_STATUSES, RunSummary

#: an active run whose heartbeat is older than this is drawn ``stale`` (engine.alerts.stale_alert's age)
STALE_AFTER_S = 30.0
#: statuses with no live rate or ETA
NOT_LIVE = frozenset({"done", "failed", "cancelled", "lost", "stale"})


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None  # None: as wide as its content
    right: bool
    #: 1 is always shown; higher numbers go first when the terminal is narrow
    priority: int


COLUMNS: tuple[Column, ...] = (
    Column("run", "run", None, False, 1),
    Column("status", "status", 9, False, 1),
    Column("progress", "progress", 27, False, 1),
    Column("eta", "ETA", 6, True, 1),
    Column("health", "health", 15, False, 1),
    Column("rate", "rate", 7, True, 2),
    Column("failed", "failed", 6, True, 2),
    Column("cost", "cost", 8, True, 3),
    Column("ok", "ok", 6, True, 3),
    Column("kind", "kind", None, False, 4),
    Column("started", "started", 8, False, 4),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
#: the run id column is about this wide (ids are <kind>-<YYYYmmdd-HHMMSS>-<4 hex>)
RUN_WIDTH = 28
#: ... and this wide when today's date is left out of the ids (narrow terminals)
COMPACT_RUN_WIDTH = 20
#: the vertical scrollbar of a long list takes this many cells
SCROLLBAR = 2
BAR_WIDTH = 8
NARROW_PROGRESS = 16

StatusColor = Callable[[str], "str | None"]

#: sort orders ``o`` cycles through: (name, key of a summary, newest/largest first)
SORTS: tuple[tuple[str, Callable[[RunSummary], object], bool], ...] = (
    ("started", lambda s: (s.started or 0.0, s.run_id), True),
    ("status", lambda s: (s.status not in ACTIVE_STATUSES, s.status, -(s.started or 0.0)), False),
    ("progress", lambda s: (s.progress if s.progress is not None else -1.0, s.run_id), True),
    ("eta", lambda s: (s.eta_s is None, s.eta_s or 0.0, s.run_id), False),
    ("kind", lambda s: (s.kind, -(s.started or 0.0)), False),
    ("run", lambda s: s.run_id, False),
)


def display_status(summary: RunSummary, now: float | None = None) -> str:
    """What the table calls a run: its status, or ``stale`` for a live run that stopped reporting."""
    if summary.status in ACTIVE_STATUSES and summary.heartbeat is not None and not summary.waiting_on:
        if (now if now is not None else time.time()) - summary.heartbeat > STALE_AFTER_S:
            return "stale"
    return summary.status


def progress_cell(summary: RunSummary, width: int = 27) -> Text:
    """``█████░░░ 52.0% 208/400`` (narrow: `` 52% 208/400``): a bar, the percentage and the counts."""
    c = summary.counters
    frac = summary.progress
    if frac is None:
        return Text(fmt.count(c.get("done", 0)) + " done" if c.get("done") else "-", style="dim")
    frac = min(max(frac, 0.0), 1.0)
    counts = f"{fmt.count(c.get('done', 0))}/{fmt.count(c.get('total', 0))}"
    if width < NARROW_PROGRESS + 6:
        return Text(f"{100 * frac:3.0f}% {counts}", no_wrap=True, overflow="ellipsis")
    filled = round(frac * BAR_WIDTH)
    text = Text()
    text.append("█" * filled, style="bold")
    text.append("░" * (BAR_WIDTH - filled), style="dim")
    text.append(f" {100 * frac:5.1f}% {counts}")
    return text


@dataclass(frozen=True)
class Health:
    """The worst active alert of a run (for the health column), and how many there are."""

    name: str
    severity: str
    count: int = 1
    acknowledged: bool = False


def health_cell(health: Health | None, status: str, crit: str = "red", warn: str = "yellow") -> Text:
    if health is None:
        return Text("stale", style=f"bold {crit}") if status == "stale" else Text("ok", style="dim")
    mark = "✖" if health.severity == "critical" else "▲"
    style = "dim" if health.acknowledged else f"bold {crit}" if health.severity == "critical" else f"bold {warn}"
    text = Text(f"{mark} {health.name}", style=style, no_wrap=True, overflow="ellipsis")
    if health.count > 1:
        text.append(f" +{health.count - 1}", style="dim")
    return text


def compact_id(run_id: str, now: float | None = None) -> str:
    """``process-080000-1a2b`` for today's ``process-20261201-080000-1a2b`` (narrow terminals; the
    detail pane's title keeps the whole id)."""
    today = time.strftime("%Y%m%d", time.localtime(now))
    return run_id.replace(f"-{today}-", "-", 1)


def row_cells(summary: RunSummary, status_color: StatusColor, health: Health | None = None,
              now: float | None = None, progress_width: int = 27, compact: bool = False) -> dict[str, Text]:
    """The cells of one run's row, by column key."""
    c = summary.counters
    status = display_status(summary, now)
    color = status_color(status)
    live = status not in NOT_LIVE
    failed = c.get("failed", 0)
    started = fmt.timestamp(summary.started)
    return {
        "run": Text(compact_id(summary.run_id, now) if compact else summary.run_id),
        "status": Text(status, style=f"bold {color}" if color else "bold"),
        "progress": progress_cell(summary, progress_width),
        "eta": Text(fmt.duration(summary.eta_s) if live else "-", justify="right"),
        "health": health_cell(health, status, status_color("failed") or "red", status_color("waiting") or "yellow"),
        "rate": Text(fmt.rate(summary.rate.get("items_per_s")) if live else "-", justify="right"),
        "failed": Text(fmt.count(failed), justify="right", style="bold red" if failed else "dim"),
        "cost": Text(fmt.cost(summary.cost_usd), justify="right"),  # "?" = price unknown, not free
        "ok": Text(fmt.count(c.get("ok", 0)), justify="right"),
        "kind": Text(summary.kind, style="dim"),
        "started": Text(started[11:] if started != "-" else "-", style="dim"),
    }


def columns_for_width(width: int) -> tuple[list[Column], bool]:
    """The columns that fit ``width`` cells (highest priorities kept, in table order), and whether
    run ids are shown compact."""
    padding = 2  # DataTable's cell padding, one each side
    width -= SCROLLBAR

    def need(cols: Iterable[Column], run_width: int = RUN_WIDTH) -> int:
        return sum((c.width or (run_width if c.key == "run" else 8)) + padding for c in cols)

    keep = list(COLUMNS)
    for prio in sorted({c.priority for c in COLUMNS if c.priority > 1}, reverse=True):
        if need(keep) <= width:
            break
        keep = [c for c in keep if c.priority < prio]
    if need(keep) <= width:
        return keep, False
    # even the essentials are too wide: a narrower progress column, then compact run ids
    keep = [Column(c.key, c.label, NARROW_PROGRESS, c.right, c.priority) if c.key == "progress" else c for c in keep]
    return keep, need(keep) > width


@dataclass(frozen=True)
class RunFilter:
    """``/`` filter: ``kind:eval status:running words`` (every part must match)."""

    text: str = ""

    def matches(self, summary: RunSummary, status: str) -> bool:
        for part in self.text.lower().split():
            key, _, value = part.partition(":")
            if value and key == "kind":
                if not summary.kind.lower().startswith(value):
                    return False
            elif value and key == "status":
                if not status.startswith(value):
                    return False
            elif part not in f"{summary.run_id} {summary.kind} {status} {summary.title or ''}".lower():
                return False
        return True


class RunsTable(DataTable):
    """Runs of the workspace, newest first by default; the row key is the run id."""

    BINDINGS = bindings("table")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._cells: dict[str, dict[str, Text]] = {}
        self._summaries: dict[str, RunSummary] = {}
        self.columns_shown: list[Column] = []
        self.compact_ids = False
        self.sort_index = 0
        self.sort_reversed = False
        self.filter = RunFilter()
        self._last: tuple[list[RunSummary], StatusColor, dict[str, Health]] | None = None

    def on_mount(self) -> None:
        self._set_columns(*columns_for_width(self._usable_width()))

    def _usable_width(self) -> int:
        return (self.content_region.width or self.app.size.width - 2) or 78

    def _set_columns(self, cols: list[Column], compact: bool) -> None:
        self.columns_shown = cols
        self.compact_ids = compact
        for col in cols:
            width = col.width
            self.add_column(Text(col.label, justify="right" if col.right else "left"), key=col.key, width=width)

    def on_resize(self) -> None:
        cols, compact = columns_for_width(self._usable_width())
        if [(c.key, c.width) for c in cols] == [(c.key, c.width) for c in self.columns_shown] \
                and compact == self.compact_ids:
            return
        # a new set of columns: the one time rows are rebuilt (a resize, never a poll)
        selected = self.selected_run
        self.clear(columns=True)
        self._cells.clear()
        self._set_columns(cols, compact)
        if self._last is not None:
            self.sync(*self._last)
        if selected in self._cells:
            self.move_cursor(row=self.get_row_index(selected))

    @property
    def run_ids(self) -> list[str]:
        """Row keys in display order."""
        return [row.key.value for row in self.ordered_rows if row.key.value is not None]

    @property
    def selected_run(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    @property
    def sort_name(self) -> str:
        return SORTS[self.sort_index][0]

    def cells_of(self, run_id: str) -> tuple[Text, ...] | None:
        """The cells last shown for a run, in the shown columns' order (tests read them)."""
        cells = self._cells.get(run_id)
        return tuple(cells[c.key] for c in self.columns_shown) if cells else None

    def update_cell(self, row_key: RowKey | str, column_key: ColumnKey | str, value: object, *,
                    update_width: bool = False) -> None:
        """Like DataTable's, but repaints the cell's row only (DataTable repaints the whole table:
        every row written to the terminal each poll)."""
        if update_width:
            super().update_cell(row_key, column_key, value, update_width=True)
            return
        row_key = RowKey(row_key) if isinstance(row_key, str) else row_key
        column_key = ColumnKey(column_key) if isinstance(column_key, str) else column_key
        if row_key not in self._row_locations or column_key not in self._column_locations:
            raise CellDoesNotExist(f"No cell exists for row_key={row_key!r}, column_key={column_key!r}.")
        self._data[row_key][column_key] = value
        self._update_count += 1  # DataTable's render caches are keyed by it
        self.refresh_row(self._row_locations.get(row_key))

    def sync(self, runs: list[RunSummary], status_color: StatusColor, health: dict[str, Health] | None = None,
             now: float | None = None) -> None:
        """Make the rows match ``runs`` (filtered): update changed cells by key, add new runs,
        drop vanished ones; nothing is touched for a run whose cells did not change."""
        health = health or {}
        self._last = (runs, status_color, health)
        now = time.time() if now is None else now
        selected = self.selected_run
        seen: set[str] = set()
        added = False
        progress_width = next((c.width or 27 for c in self.columns_shown if c.key == "progress"), 27)
        shown_keys = [c.key for c in self.columns_shown]
        for summary in runs:
            run_id = summary.run_id
            if not self.filter.matches(summary, display_status(summary, now)):
                continue
            seen.add(run_id)
            cells = row_cells(summary, status_color, health.get(run_id), now, progress_width, self.compact_ids)
            old = self._cells.get(run_id)
            self._summaries[run_id] = summary
            if old is None:
                self.add_row(*(cells[k] for k in shown_keys), key=run_id)
                added = True
            else:
                for key in shown_keys:
                    if cells[key] != old[key]:
                        self.update_cell(run_id, key, cells[key], update_width=key in ("run", "kind"))
            self._cells[run_id] = cells
        for gone in [r for r in self._cells if r not in seen]:
            self.remove_row(gone)
            del self._cells[gone]
            self._summaries.pop(gone, None)
        if added:
            self._resort(selected)
            # DataTable measures new rows' widths when idle but keeps lines it rendered before with the
            # old widths (the run column showed 3 characters until a resize): redraw once measured
            self.call_after_refresh(self._redraw)

    def _resort(self, selected: str | None = None) -> None:
        selected = selected if selected is not None else self.selected_run
        _, key, newest_first = SORTS[self.sort_index]
        summaries = self._summaries

        def by(run_id: object) -> object:
            s = summaries.get(str(run_id))
            return key(s) if s is not None else ()

        self.sort("run", key=by, reverse=newest_first != self.sort_reversed)
        if selected in self._cells:
            self.move_cursor(row=self.get_row_index(selected))

    def set_filter(self, text: str) -> None:
        self.filter = RunFilter(text.strip())
        if self._last is not None:
            self.sync(*self._last)

    def action_next_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self._resort()
        self.notify(f"sorted by {self.sort_name}", timeout=2)

    def action_reverse_sort(self) -> None:
        self.sort_reversed = not self.sort_reversed
        self._resort()

    def _redraw(self) -> None:
        self._update_count += 1  # what a resize does: invalidates DataTable's render caches
        self.refresh()
