"""One run, whole: every figure of its state, its outputs with paths, its command, its failures by
reason, its stragglers; and what can be done to it (stop, stop now, rerun, retry failures only,
open an output or the run dir, copy the command, edit it in the launch form, logs).

The screen only reads the run directory (a thread does it, once a second); actions go through
engine functions (engine/runs.signal_run, engine/retry, engine/launcher).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from console import format as fmt
from console.actions import BY_ID, bindings
from console.screens.confirm import ConfirmScreen
from console.screens.launching import LaunchWatch, launch
from console.screens.workspace_poll import SERVER_LOG, SERVER_LOG_LINES, with_curve
from console.widgets.kind_views import kind_views, show_kind_views
from engine.evaluation.results import checkpoint_rows
from engine.errors import RolloutError
from engine.failures import FailureGroup, failure_groups
from engine.retry import RetryPlan, rerun_plan, retry_plan
from engine.runs import ACTIVE_STATUSES, RUNS_DIRNAME, RunDir, signal_run, tail_text

POLL_EVERY_S = 1.0
#: failures are re-grouped at most this often (they read whole errors files)
FAILURES_EVERY_S = 5.0
#: figures shown elsewhere on the screen
_OWN_SECTIONS = ("stragglers", "failed_by_reason", "failure_advice", "failure_cause")


@dataclass
class RunSnapshot:
    info: dict[str, Any]
    state: dict[str, Any]
    status: str
    failures: list[FailureGroup] = field(default_factory=list)
    outputs: list[tuple[str, str, str]] = field(default_factory=list)  # (name, path, what is there)
    #: an evaluation's checkpoint rows and a server's last log lines, for the kind views
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    server_log: list[str] = field(default_factory=list)


def _describe_path(path: str) -> str:
    p = Path(path)
    try:
        if p.is_dir():
            return f"folder, {sum(1 for _ in zip(range(10000), p.iterdir()))} entries"
        if p.is_file():
            return f"{p.stat().st_size:,} bytes"
    except OSError:
        return "unreadable"
    return "not there (yet)"


def read_snapshot(run: RunDir, failures: list[FailureGroup] | None) -> RunSnapshot:
    info = run.read_run() or {}
    state = run.read_state() or {}
    outputs = []
    for name, value in (info.get("outputs") or {}).items():
        if isinstance(value, str) and value:
            outputs.append((name, value, _describe_path(value)))
    for extra in ("server.log", "error.log"):
        if (run.path / extra).exists():
            outputs.append((extra, str(run.path / extra), _describe_path(str(run.path / extra))))
    return RunSnapshot(info=info, state=with_curve(state, info), status=run.effective_status(),
                       failures=failure_groups(run) if failures is None else failures, outputs=outputs,
                       checkpoints=_checkpoint_rows(info), server_log=tail_text(run.path / SERVER_LOG, SERVER_LOG_LINES))


def _checkpoint_rows(info: dict[str, Any]) -> list[dict[str, Any]]:
    outputs = info.get("outputs") if isinstance(info.get("outputs"), dict) else {}
    if info.get("kind") != "eval" or not outputs.get("output_dir"):
        return []
    try:
        return checkpoint_rows(Path(str(outputs["output_dir"])))
    except (OSError, ValueError, TypeError):
        return []  # a half-written or foreign file: the run without its table


def _flat(figures: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in figures.items():
        if not prefix and key in _OWN_SECTIONS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not prefix:
            rows += _flat(value, name + ".")
        elif isinstance(value, float):
            rows.append((name, f"{value:.4g}"))
        elif isinstance(value, (list, dict)):
            text = str(value)
            rows.append((name, text if len(text) < 120 else text[:117] + "..."))
        else:
            rows.append((name, str(value)))
    return rows


#: the run view's actions that change something outside the console (from the registry)
_MUTATING = {BY_ID[i].action.split("(")[0] for i in ("run.stop", "run.rerun", "run.retry", "run.edit")}


class RunViewScreen(Screen[None]):
    BINDINGS = bindings("run")

    DEFAULT_CSS = """
    RunViewScreen #run-view { height: 1fr; padding: 0 1; }
    RunViewScreen .section { height: auto; margin-bottom: 1; }
    RunViewScreen #run-status-line { height: auto; color: $accent; }
    """

    def __init__(self, workspace: Path, run_id: str, config: Any = None) -> None:
        super().__init__()
        self.workspace = Path(workspace)
        self.run_id = run_id
        self.config = config
        self.run = RunDir(self.workspace / RUNS_DIRNAME / run_id)
        self.snapshot: RunSnapshot | None = None
        self._failures: list[FailureGroup] | None = None
        self._failures_at = 0.0
        self._busy = False
        self.watch: LaunchWatch | None = None
        self.polls = 0
        self.sub_title = run_id  # set before mount: the Header reads it once composed

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="run-view"):
            yield Static("", id="run-head", classes="section")
            # the run's own view by what it is (the dashboard's detail pane shows the same)
            yield from kind_views("rv")
            yield Static("", id="run-command", classes="section", markup=False)
            yield Static("", id="run-figures", classes="section")
            yield Static("", id="run-stragglers", classes="section")
            yield Static("", id="run-failures", classes="section")
            yield Static("", id="run-outputs", classes="section")
        yield Static("", id="run-status-line", markup=False)
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Actions that change something (stop, rerun, retry, edit) are greyed in a --read-only console."""
        if getattr(self.app, "read_only", False) and action in _MUTATING:
            return None
        return True

    def on_mount(self) -> None:
        self.set_interval(POLL_EVERY_S, self.poll, name="run-view-poll")
        self.call_after_refresh(self.poll)

    # -- reading ------------------------------------------------------------------------------
    async def poll(self) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            now = time.monotonic()
            regroup = self._failures is None or now - self._failures_at >= FAILURES_EVERY_S
            snap = await asyncio.to_thread(read_snapshot, self.run, None if regroup else self._failures)
            if regroup:
                self._failures, self._failures_at = snap.failures, now
            self.snapshot = snap
            self.render_snapshot(snap)
            self.polls += 1
        except Exception as exc:  # a run dir being removed: say so, keep the screen
            self.query_one("#run-status-line", Static).update(f"cannot read {self.run.path}: {exc}")
        finally:
            self._busy = False

    def render_snapshot(self, snap: RunSnapshot) -> None:
        info, state = snap.info, snap.state
        with self.app.batch_update():
            head = Text()
            head.append(f"{self.run_id}  ", style="bold")
            head.append(snap.status, style="bold")
            head.append(f"  {info.get('title') or info.get('kind', '')}")
            c = state.get("counters") or {}
            line2 = (f"\n{c.get('done', 0)}/{c.get('total', '?')} done · {c.get('ok', 0)} ok · {c.get('failed', 0)} "
                     f"failed · {c.get('retried', 0)} retried · {c.get('in_flight', 0)} in flight · "
                     f"{c.get('skipped', 0)} skipped")
            rate = state.get("rate") or {}
            tokens = state.get("tokens") or {}
            extras = [f"rate {rate['items_per_s']:.3g}/s" if rate.get("items_per_s") else "",
                      f"tokens {tokens.get('prompt', 0)}+{tokens.get('completion', 0)}"
                      if tokens.get("prompt") or tokens.get("completion") else "",
                      f"cost ${state['cost_usd']:.4f}" if isinstance(state.get("cost_usd"), (int, float)) else "",
                      f"ETA {fmt.duration(state['eta_s'])}" if state.get("eta_s") else ""]
            head.append(line2)
            if any(extras):
                head.append("\n" + " · ".join(e for e in extras if e))
            figures = state.get("figures") or {}
            if figures.get("failure_advice"):
                head.append("\nadvice: ", style="bold")
                head.append(str(figures["failure_advice"]))
            alerts = state.get("alerts") or []
            if alerts:
                head.append("\nalerts: " + ", ".join(str(a.get("name", a)) if isinstance(a, dict) else str(a)
                                                     for a in alerts))
            self.query_one("#run-head", Static).update(head)
            self._kind_view(snap)
            try:
                command = shlex.join(rerun_plan(self.run).argv)
            except RolloutError as exc:
                command = str(exc)
            cwd = info.get("cwd")
            self.query_one("#run-command", Static).update(f"$ {command}" + (f"\n  (in {cwd})" if cwd else ""))
            self.query_one("#run-figures", Static).update(self._figures_table(figures))
            stragglers = self.query_one("#run-stragglers", Static)
            stragglers.display = bool(figures.get("stragglers"))  # no empty section's margin
            stragglers.update(self._stragglers(figures.get("stragglers")))
            self.query_one("#run-failures", Static).update(self._failures_table(snap.failures))
            self.query_one("#run-outputs", Static).update(self._outputs_table(snap.outputs))

    def _kind_view(self, snap: RunSnapshot) -> None:
        state = {**snap.state, "kind": snap.state.get("kind") or snap.info.get("kind")}
        show_kind_views(self, "rv", state, snap.checkpoints, snap.server_log)

    def _figures_table(self, figures: dict[str, Any]) -> Any:
        rows = _flat(figures)
        if not rows:
            return Text("figures: none yet", style="dim")
        t = Table(title="figures", title_justify="left", show_header=False, box=None, pad_edge=False, expand=True)
        t.add_column("name", style="bold", no_wrap=True)
        t.add_column("value", overflow="fold")
        for name, value in rows:
            t.add_row(name, value)
        return t

    def _stragglers(self, items: Any) -> Any:
        if not items:
            return Text("")
        t = Table(title="stragglers (oldest in flight)", title_justify="left", box=None, pad_edge=False, expand=True)
        t.add_column("custom_id", overflow="fold")
        t.add_column("age", justify="right")
        t.add_column("attempts", justify="right")
        for s in items:
            t.add_row(str(s.get("id")), fmt.duration(s.get("age_s")), str(s.get("attempts")))
        return t

    def _failures_table(self, groups: list[FailureGroup]) -> Any:
        if not groups:
            return Text("failures: none", style="dim")
        t = Table(title=f"failures by reason ({groups[0].source})", title_justify="left", box=None, pad_edge=False,
                  expand=True)
        t.add_column("reason", style="bold", no_wrap=True)
        t.add_column("count", justify="right")
        t.add_column("example", overflow="fold")
        for g in groups:
            t.add_row(g.reason, str(g.count), g.example)
        return t

    def _outputs_table(self, outputs: list[tuple[str, str, str]]) -> Any:
        if not outputs:
            return Text("outputs: none recorded", style="dim")
        t = Table(title="outputs", title_justify="left", box=None, pad_edge=False, expand=True)
        t.add_column("name", style="bold", no_wrap=True)
        t.add_column("path", overflow="fold")
        t.add_column("", no_wrap=True)
        for name, path, what in outputs:
            t.add_row(name, path, what)
        t.add_row("run dir", str(self.run.path), "")
        return t

    # -- actions -----------------------------------------------------------------------------
    def _status(self, text: str) -> None:
        self.query_one("#run-status-line", Static).update(text)

    def action_stop(self, now: bool) -> None:
        status = self.run.effective_status()
        if status not in ACTIVE_STATUSES:
            self.notify(f"{self.run_id} is not running ({status}): nothing to stop", severity="warning")
            return
        detail = ("two SIGTERMs: in-flight items are abandoned now (a rerun re-sends them)" if now else
                  "SIGTERM: in-flight items finish or are abandoned, outputs are flushed")

        def answered(yes: bool | None) -> None:
            if yes:
                try:
                    pid = signal_run(self.run, now=now)
                except RolloutError as exc:
                    self.notify(str(exc), severity="warning")
                    return
                self.notify(f"{'stop now' if now else 'stop'}: signalled pid {pid}")

        self.app.push_screen(ConfirmScreen(f"{'Stop now' if now else 'Stop'} {self.run_id}?", detail), answered)

    def action_rerun(self) -> None:
        try:
            plan = rerun_plan(self.run)
        except RolloutError as exc:
            self.notify(str(exc), severity="error")
            return
        self._confirm_and_launch(f"Rerun {self.run_id}?", plan)

    def action_retry(self) -> None:
        self._status("finding the failures ...")
        self._retry_worker()

    @work(thread=True, exclusive=True, group="retry")
    def _retry_worker(self) -> None:
        try:
            plan = retry_plan(self.run, self.config)
        except RolloutError as exc:
            self.app.call_from_thread(self._status, str(exc))
            self.app.call_from_thread(self.notify, str(exc), severity="warning")
            return
        self.app.call_from_thread(self._confirm_and_launch, "Retry failures only?", plan)

    def _confirm_and_launch(self, question: str, plan: RetryPlan) -> None:
        if self.run.effective_status() in ACTIVE_STATUSES:
            self.notify(f"{self.run_id} is still running: stop it first (s)", severity="warning")
            self._status("")
            return
        self._status(plan.what)

        def answered(yes: bool | None) -> None:
            if yes:
                self._launch(plan)

        self.app.push_screen(ConfirmScreen(question, f"{plan.what}\n$ {shlex.join(plan.argv)}"), answered)

    def _launch(self, plan: RetryPlan) -> None:
        argv = plan.argv
        config_file = (self.snapshot.info.get("config_file") if self.snapshot else None)
        if config_file:
            argv = ["rollout", "--config", config_file, *argv[1:]]
        cwd = plan.cwd if plan.cwd and Path(plan.cwd).is_dir() else None
        try:
            self.watch = launch(self, argv, self.workspace, cwd=cwd, on_run=self._launched,
                                on_error=lambda line: (self._status(f"launch failed: {line}"),
                                                       self.notify(line, title="launch failed", severity="error")))
        except OSError as exc:
            self.notify(f"could not start the command: {exc}", severity="error")
            return
        self._status(f"started pid {self.watch.launched.pid}; waiting for its run directory ...")

    def _launched(self, run_id: str) -> None:
        self.notify(f"launched {run_id}", timeout=4)
        app: Any = self.app
        if hasattr(app, "select_run"):
            app.select_run(run_id)
        app.switch_screen(RunViewScreen(self.workspace, run_id, self.config))

    def action_copy_command(self) -> None:
        try:
            line = shlex.join(rerun_plan(self.run).argv)
        except RolloutError as exc:
            self.notify(str(exc), severity="warning")
            return
        self.app.copy_to_clipboard(line)
        self.notify("command copied (OSC 52)", timeout=2)

    def action_edit(self) -> None:
        info = self.snapshot.info if self.snapshot else self.run.read_run()
        job, options = info.get("job"), info.get("options")
        if not job or not isinstance(options, dict):
            self.notify("this run was not started from a job model: no form to fill", severity="warning")
            return
        opener = getattr(self.app, "open_launch", None)
        if callable(opener):
            opener(job, options)

    def _open(self, program_env: str, fallback: str, target: str) -> None:
        program = shlex.split(os.environ.get(program_env) or fallback)
        try:
            with self.app.suspend():
                subprocess.run([*program, target], check=False)
        except Exception as exc:  # no terminal to hand over (headless), or the program is missing
            self.notify(f"could not open {target} with {program[0]}: {exc}", severity="warning")
        self.refresh()

    def action_open_output(self) -> None:
        files = [(n, p) for n, p, what in (self.snapshot.outputs if self.snapshot else [])
                 if what.endswith("bytes")]
        if not files:
            self.notify("no output file yet", severity="warning")
            return
        self._open("PAGER", "less", files[0][1])

    def action_open_dir(self) -> None:
        self._open("EDITOR", "vi", str(self.run.path))
