"""The main screen: the box panel, the live list of runs, the selected run's detail, alerts and events.

Polling never blocks the UI: a thread worker reads the run directories (and the box's latest
monitor sample), the result is applied in one ``batch_update()``, and the next poll is scheduled
only when the last one has finished, so a slow disk gives slower updates, never a pile of polls.
Rows are updated by key (``update_cell``). Alerts raised between two polls become one
notification each (none when they clear) (and the terminal bell with ``config.bell``).
"""

from __future__ import annotations

import socket
import time
from functools import partial
from pathlib import Path

from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input
from textual.worker import Worker, WorkerState

from console.actions import bindings
from console.screens.confirm import ConfirmScreen
from console.screens.help import HelpScreen
from console.screens.workspace_poll import AlertRow, RunDetailData, Snapshot, WorkspacePoller
from console.themes import status_color
from console.widgets.alerts_panel import AlertsPanel
from console.widgets.kind_views import kind_views, show_kind_views
from console.widgets.box_panel import BoxPanel, palette_from_theme
from console.widgets.run_detail import EventsPane, RunDetail
from console.widgets.quiet import set_subtitle, set_title
from console.widgets.runs_table import Health, RunsTable
from engine.errors import RolloutError
from engine.runs import ACTIVE_STATUSES, RUNS_DIRNAME, RunDir, signal_run

MIN_INTERVAL_S = 0.25
MAX_INTERVAL_S = 60.0
#: the box panel shows by default only on terminals at least this tall (it can be toggled with m)
BOX_MIN_HEIGHT = 36
#: narrower than this, the alerts/events column gets half the width (not two fifths)
NARROW_WIDTH = 120
#: more alerts than this raised in one poll give one summary notification, not a flood
NOTIFY_MAX = 2


class RunsScreen(Screen[None]):
    """Runs of one workspace, refreshed every ``interval`` seconds."""

    BINDINGS = bindings("runs")

    def __init__(self, workspace: Path, interval: float = 1.0, *, bell: bool = False,
                 poller: WorkspacePoller | None = None) -> None:
        super().__init__()
        self.workspace = workspace
        self.interval = min(max(interval, MIN_INTERVAL_S), MAX_INTERVAL_S)
        self.poller = poller or WorkspacePoller(workspace)
        self.bell_on_alert = bell
        #: active alerts by (run id, name), as of the last poll (notifications are posted on changes)
        self.alerts: dict[tuple[str, str], AlertRow] = {}
        self.snapshot: Snapshot | None = None
        self.polls = 0  # finished polls (tests wait on it)
        self._worker: Worker[Snapshot] | None = None
        self._timer: Timer | None = None
        self._poll_again = False
        self._selected: str | None = None
        self._last_error: str | None = None
        #: polling paused with p: the screen keeps what it shows
        self.paused = False
        self.snapshot_count = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield BoxPanel(id="box")
        table = RunsTable(id="runs")
        table.border_title = "runs"
        yield table
        filt = Input(placeholder="filter: kind:eval status:running words…  (Enter keeps, Esc clears)", id="filter")
        filt.display = False
        yield filt
        with Horizontal(id="detail"):
            with VerticalScroll(id="run-detail-scroll"):
                # the selected run's own view, by what it is, first; then its figures
                yield from kind_views("detail")
                yield RunDetail(id="run-detail", classes="framed")
            with Vertical(id="side"):
                yield AlertsPanel(id="alerts")
                yield EventsPane(id="events")
        yield Footer()

    def on_resize(self) -> None:
        # a short terminal shares its lines evenly: the list of runs is what people came for
        detail = self.query_one("#detail")
        wanted = "1fr" if self.size.height < BOX_MIN_HEIGHT else "2fr"
        if str(detail.styles.height) != wanted:
            detail.styles.height = wanted
        # a narrow one gives the alerts as much room as the run
        side, main = self.query_one("#side"), self.query_one("#run-detail-scroll")
        narrow = self.size.width < NARROW_WIDTH
        if str(side.styles.width) != ("1fr" if narrow else "2fr"):
            side.styles.width = "1fr" if narrow else "2fr"
            main.styles.width = "1fr" if narrow else "3fr"
            if self.snapshot is not None:
                self.query_one(AlertsPanel)._shown = None  # re-lay the alerts for the new width

    def on_mount(self) -> None:
        self.query_one(RunsTable).focus()
        self.query_one(BoxPanel).display = self.app.size.height >= BOX_MIN_HEIGHT
        self.query_one(AlertsPanel).show([], palette_from_theme(self.app.current_theme))
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self.poll_now()

    # -- polling -----------------------------------------------------------------------------
    def poll_now(self) -> None:
        """Start a poll now, or right after the one in flight (never two at once)."""
        if self._worker is not None and self._worker.state in (WorkerState.PENDING, WorkerState.RUNNING):
            self._poll_again = True
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._worker = self.run_worker(
            partial(self.poller.poll, self._selected), name="poll", group="poll", thread=True, exit_on_error=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self._worker:
            return
        if event.state == WorkerState.SUCCESS:
            self._last_error = None
            self.apply(event.worker.result)
        elif event.state == WorkerState.ERROR:
            message = f"could not read {self.workspace}: {event.worker.error}"
            if message != self._last_error:  # one notification per distinct problem, not one per poll
                self.notify(message, severity="error", timeout=8)
            self._last_error = message
        elif event.state != WorkerState.CANCELLED:
            return
        self.polls += 1
        if event.state == WorkerState.CANCELLED:
            return  # the screen is going away
        if self._poll_again:
            self._poll_again = False
            self.poll_now()
        elif not self.paused:
            self._timer = self.set_timer(self.interval, self.poll_now, name="next-poll")

    def apply(self, snap: Snapshot | None) -> None:
        """Show a poll's result: one batch, rows updated by key."""
        if snap is None:
            return
        self.snapshot = snap
        self.snapshot_count += 1
        table = self.query_one(RunsTable)
        theme = self.app.current_theme
        active = sum(1 for r in snap.runs if r.status in ACTIVE_STATUSES)
        with self.app.batch_update():
            table.sync(snap.runs, partial(status_color, theme), self.health(snap))
            set_title(table, self._table_title(snap, active))
            selected = table.selected_run
            if selected is None or (snap.detail is not None and snap.detail.run_id == selected):
                detail = snap.detail if selected is not None else None
                self.query_one(RunDetail).show(detail, self.workspace)
                self.query_one(EventsPane).show(detail)
                self._show_views(detail)
            # else the selection moved during the poll: the poll it asked for brings its detail
            pal = palette_from_theme(theme)
            self.query_one(BoxPanel).show(snap.box, pal)  # hidden too: its history keeps growing
            book = getattr(self.app, "alert_book", None)
            quiet = (lambda r: book.is_muted(r) or book.is_acknowledged(r)) if book is not None else None
            self.query_one(AlertsPanel).show(snap.alerts, pal, quiet)
            set_subtitle(self, self._subtitle())
        self._announce_alerts(snap)
        if table.selected_run != self._selected:
            self._select(table.selected_run)

    def _show_views(self, detail: RunDetailData | None) -> None:
        """The eval, server and process views of the selected run (each only when it applies)."""
        state = {**detail.state, "run_id": detail.run_id, "kind": detail.info.get("kind"),
                 "status": detail.status} if detail is not None else None
        show_kind_views(self, "detail", state, detail.checkpoints if detail else [], detail.server_log if detail else [])

    def health(self, snap: Snapshot) -> dict[str, Health]:
        """The worst active alert of each run (critical first; snap.alerts is sorted so)."""
        book = getattr(self.app, "alert_book", None)
        out: dict[str, Health] = {}
        counts: dict[str, int] = {}
        for a in snap.alerts:
            counts[a.run_id] = counts.get(a.run_id, 0) + 1
            seen = book is not None and (book.is_muted(a) or book.is_acknowledged(a))
            best = out.get(a.run_id)
            if best is None or (best.acknowledged and not seen):  # an unseen alert outranks a seen one
                out[a.run_id] = Health(a.name, a.severity, acknowledged=seen)
        return {run_id: Health(h.name, h.severity, counts[run_id], h.acknowledged) for run_id, h in out.items()}

    def _subtitle(self) -> str:
        return f"{self.workspace} · " + ("paused (p resumes)" if self.paused else f"every {self.interval:g}s")

    def _table_title(self, snap: Snapshot, active: int) -> str:
        table = self.query_one(RunsTable)
        title = f"runs · {len(snap.runs)} · {active} active"
        if table.filter.text:
            title += f" · {len(table.run_ids)} shown ({table.filter.text})"
        if table.sort_index or table.sort_reversed:
            title += f" · by {table.sort_name}" + (" ↑" if table.sort_reversed else "")
        return title

    def _announce_alerts(self, snap: Snapshot) -> None:
        """One notification per raised alert (not for muted rules); none when one clears (the
        alerts view lists clears)."""
        self.alerts = {a.key: a for a in snap.alerts}
        live = {r.run_id for r in snap.runs if r.status in ACTIVE_STATUSES}
        raised = self.app.alert_book.update(snap.alerts, live, time.time()) if hasattr(self.app, "alert_book") \
            else []
        # alerts already active when the console opens, or many at once: one toast, not a stack of them
        limit = 1 if self.snapshot_count <= 1 else NOTIFY_MAX
        if len(raised) > limit:
            critical = any(a.severity == "critical" for a in raised)
            self.notify(f"{len(raised)} alerts: " + ", ".join(sorted({a.name for a in raised})) + " (a: alerts view)",
                        title="alerts", severity="error" if critical else "warning", timeout=10)
        else:
            for a in raised:
                self.notify(f"{a.run_id}: {a.message or a.name}", title=f"alert {a.name}",
                            severity="error" if a.severity == "critical" else "warning", timeout=10)
        if raised and self.bell_on_alert:
            self.app.bell()

    def _select(self, run_id: str | None) -> None:
        if run_id != self._selected:
            self._selected = run_id
            self.poll_now()  # show the new run's detail without waiting for the next tick

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if isinstance(event.data_table, RunsTable):
            self._select(event.row_key.value)

    def _on_theme_changed(self, _theme: object) -> None:
        if self.snapshot is not None:
            self.apply(self.snapshot)  # status colours come from the theme

    # -- actions -----------------------------------------------------------------------------
    def action_refresh_now(self) -> None:
        self.poll_now()

    def action_pause(self) -> None:
        self.paused = not self.paused
        if self.paused and self._timer is not None:
            self._timer.stop()
            self._timer = None
        set_subtitle(self, self._subtitle())
        if not self.paused:
            self.poll_now()

    def action_filter(self) -> None:
        filt = self.query_one("#filter", Input)
        filt.display = True
        filt.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.query_one(RunsTable).set_filter(event.value)
            if self.snapshot is not None:
                active = sum(1 for r in self.snapshot.runs if r.status in ACTIVE_STATUSES)
                set_title(self.query_one(RunsTable), self._table_title(self.snapshot, active))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.input.display = False
            self.query_one(RunsTable).focus()

    def on_key(self, event: object) -> None:
        filt = self.query_one("#filter", Input)
        if getattr(event, "key", None) == "escape" and filt.has_focus:
            filt.value = ""
            filt.display = False
            self.query_one(RunsTable).focus()

    def action_toggle_box(self) -> None:
        box = self.query_one(BoxPanel)
        box.display = not box.display
        if box.display:
            box.redraw(palette_from_theme(self.app.current_theme))

    def action_interval(self, factor: float) -> None:
        self.interval = min(max(self.interval * factor, MIN_INTERVAL_S), MAX_INTERVAL_S)
        self.notify(f"refreshing every {self.interval:g}s", timeout=2)
        self.poll_now()

    def action_help(self) -> None:
        # the console's own keys first, then the table's navigation keys
        active = sorted(self.active_bindings.items(), key=lambda kv: not isinstance(kv[1].node, (App, Screen)))
        keys = [(key, ab.binding.description or ab.binding.action, ab.binding.id) for key, ab in active]
        self.app.push_screen(HelpScreen(keys))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Launch and stop are disabled (shown greyed) in a --read-only console."""
        if getattr(self.app, "read_only", False) and action in ("stop_run", "launch"):
            return None
        return True

    def _refuse_read_only(self, what: str) -> bool:
        if getattr(self.app, "read_only", False):
            self.notify(f"read-only console: {what} is disabled (started with --read-only)", severity="warning")
            return True
        return False

    def action_alerts(self) -> None:
        from console.screens.alerts import AlertsScreen

        self.app.push_screen(AlertsScreen(self.app.alert_book, self))

    def action_open_run(self) -> None:
        """The selected run's own view (console/screens/run_view.py): every figure, its actions."""
        run_id = self.query_one(RunsTable).selected_run
        if run_id is None:
            self.notify("no run selected", severity="warning")
            return
        self.app.open_run_view(run_id)

    def action_focus_detail(self) -> None:
        """The dashboard's detail pane embeds the selected run's kind view (eval, server, process)."""
        if self.query_one(RunsTable).selected_run is None:
            self.notify("no run selected", severity="warning")
            return
        scroll = self.query_one("#run-detail-scroll", VerticalScroll)
        scroll.focus()
        scroll.scroll_home(animate=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if isinstance(event.data_table, RunsTable):
            event.stop()  # the app's own handler would open it a second time
            self.action_open_run()

    def action_stop_run(self) -> None:
        if self._refuse_read_only("stop"):
            return
        run_id = self.query_one(RunsTable).selected_run
        if run_id is None or self.snapshot is None:
            self.notify("no run selected", severity="warning")
            return
        summary = next((r for r in self.snapshot.runs if r.run_id == run_id), None)
        info = self.snapshot.detail.info if self.snapshot.detail and self.snapshot.detail.run_id == run_id else {}
        if summary is None or summary.status not in ACTIVE_STATUSES:
            self.notify(f"{run_id} is not running ({summary.status if summary else 'gone'}): nothing to stop",
                        severity="warning")
            return
        host = info.get("host")
        if host and host != socket.gethostname():
            self.notify(f"{run_id} runs on {host}: stop it there (rollout stop {run_id})", severity="warning")
            return
        pid, started = summary.pid, summary.started

        def answered(yes: bool | None) -> None:
            if yes:
                self._send_stop(run_id, pid, started)

        self.app.push_screen(
            ConfirmScreen(f"Stop {run_id}?", f"SIGTERM to pid {pid}: in-flight items finish or are abandoned, "
                          "outputs are flushed and the run is marked cancelled."),
            answered,
        )

    def _send_stop(self, run_id: str, pid: int | None, started: float | None) -> None:
        try:
            pid = signal_run(RunDir(self.workspace / RUNS_DIRNAME / run_id))
        except RolloutError as exc:
            self.notify(str(exc), severity="warning")
            return
        self.notify(f"sent SIGTERM to {run_id} (pid {pid})")
        self.poll_now()
