"""The launch screen: pick a job (or a recent launch), fill its form, see the command, launch it.

The form is generated from the job's option model (console/screens/launch_form.py); the command
shown under it is the model's ``argv()``, copied with one key (OSC 52, so it reaches the
clipboard over SSH and tmux). Launching first runs the model's world checks (endpoint answers,
engine installed, dataset and structures there), then spawns exactly that command detached
(engine/launcher.py) and closes with the new run's id as soon as its run directory appears.
"""

from __future__ import annotations

import shlex
import time
from functools import partial
from pathlib import Path
from typing import Any, Iterable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Checkbox, Footer, Header, Input, OptionList, Select, Static
from textual.widgets.option_list import Option

from console.screens.launch_form import JobForm
from console.screens.launching import LaunchWatch, launch
from engine.options.base import JobOptions, WorldCheck
from engine.options.registry import JobSpec, job_spec, jobs
from engine.recent import RecentLaunch, add_recent, load_recent, set_recent_run

#: how long the form waits after a key before checking the values again (seconds)
CHECK_DEBOUNCE_S = 0.15


class JobPicker(OptionList):
    """Every registered job, then the workspace's recent launches."""

    DEFAULT_CSS = "JobPicker { height: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }"


class LaunchScreen(Screen[str | None]):
    """Dismissed with the new run's id once it exists (None when closed without launching)."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="launch.back"),
        Binding("ctrl+r", "launch", "Launch", id="launch.launch"),
        Binding("ctrl+y", "copy_command", "Copy command", id="launch.copy"),
        Binding("ctrl+t", "checks", "Check", id="launch.checks"),
        Binding("tab", "next_field", "Next field", show=False, priority=True, id="launch.next"),
        Binding("shift+tab", "previous_field", "Previous field", show=False, priority=True, id="launch.previous"),
    ]

    DEFAULT_CSS = """
    LaunchScreen #launch-title { height: 1; padding: 0 1; text-style: bold; }
    LaunchScreen #launch-command { height: auto; max-height: 4; padding: 0 1; color: $accent; }
    LaunchScreen #launch-status { height: auto; max-height: 4; padding: 0 1; }
    LaunchScreen #launch-status.-error { color: $error; }
    LaunchScreen #launch-body { height: 1fr; }
    """

    def __init__(self, workspace: Path, config: Any = None, *, job: str | None = None,
                 given: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.workspace = Path(workspace)
        self.config = config
        self.spec: JobSpec | None = job_spec(job) if job else None
        self.prefill = dict(given or {})
        self.recent: list[RecentLaunch] = []
        self.model: JobOptions | None = None
        self.checks: list[WorldCheck] | None = None
        self.watch: LaunchWatch | None = None
        self._check_timer: Any = None
        self._forced: str | None = None  # launch anyway after failed checks (same command, second press)
        self.last_error: str | None = None

    # -- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="launch-title", markup=False)
        yield Vertical(id="launch-body")
        yield Static("", id="launch-command", markup=False)
        yield Static("", id="launch-status", markup=False)
        yield Footer()

    async def on_mount(self) -> None:
        if self.spec is None:
            await self.show_picker()
        else:
            await self.show_form(self.spec, self.prefill)

    async def show_picker(self) -> None:
        self.spec = None
        self.model = None
        self.recent = load_recent(self.workspace)
        body = self.query_one("#launch-body")
        await body.remove_children()
        options = [Option(_line(f"{s.name:<17}", s.title), id=f"job:{s.name}") for s in jobs()]
        for i, r in enumerate(self.recent):
            when = time.strftime("%m-%d %H:%M", time.localtime(r.time))
            options.append(Option(_line(f"recent {when} ", r.label), id=f"recent:{i}"))
        picker = JobPicker(*options, id="job-picker")
        await body.mount(picker)
        picker.focus()
        self.query_one("#launch-title", Static).update("Launch a job: pick one (Enter), or a recent launch to reopen it")
        self.query_one("#launch-command", Static).update("")
        self._status("")

    async def show_form(self, spec: JobSpec, given: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.checks = None
        self._forced = None
        if self._check_timer is not None:  # a check still due for the form being replaced
            self._check_timer.stop()
            self._check_timer = None
        old = self.form
        if old is not None:
            old.ready = False
        body = self.query_one("#launch-body")
        await body.remove_children()
        form = JobForm(spec.model, self.config, id="job-form")
        await body.mount(form)
        self.query_one("#launch-title", Static).update(f"{spec.title}  ·  {spec.command}")
        if given:
            form.fill(given)
        first = next(iter(form.query("Input, Select, Checkbox")), None)
        if first is not None:
            first.focus()
        self.revalidate()

    @property
    def form(self) -> JobForm | None:
        found = self.query("#job-form")
        return found.first(JobForm) if found else None

    # -- checking as you type -------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        self._touched(event.input.id)

    def on_select_changed(self, event: Select.Changed) -> None:
        self._touched(event.select.id)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self._touched(event.checkbox.id)

    def _touched(self, widget_id: str | None) -> None:
        form = self.form
        if form is not None:
            form.touch(widget_id)
        self._schedule_check()

    def _schedule_check(self) -> None:
        if self._check_timer is not None:
            self._check_timer.stop()
        self._check_timer = self.set_timer(CHECK_DEBOUNCE_S, self.revalidate)

    def revalidate(self) -> None:
        """Check the values now: inline errors, the command line under the form."""
        form = self.form
        if form is None or not form.ready:  # not mounted yet, or being replaced
            return
        model, problems = form.check()
        self.model = model
        self.checks = None
        if model is not None:
            self.query_one("#launch-command", Static).update("$ " + model.command_line())
            if not self.watch or self.watch.finished:
                self._status("ready: ctrl+r launches (checks first), ctrl+y copies the command")
        else:
            self.query_one("#launch-command", Static).update("$ " + shlex.join(form.draft_argv()))
            general = problems.get(None)
            shown = [msg for name, msg in problems.items() if name in form.touched]
            missing = [form.model.option(n).flag for n in problems if n is not None and n not in form.touched]
            self._status(general or (shown[0] if shown else "to fill: " + ", ".join(missing)), error=bool(general or shown))

    # -- actions ----------------------------------------------------------------------------
    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        oid = event.option.id or ""
        kind, _, key = oid.partition(":")
        if kind == "job":
            await self.show_form(job_spec(key))
        elif kind == "recent":
            r = self.recent[int(key)]
            try:
                spec = job_spec(r.job)
            except KeyError:
                self._status(f"job {r.job!r} is no longer known", error=True)
                return
            await self.show_form(spec, r.given)

    async def action_back(self) -> None:
        if self.spec is not None and not self.prefill:
            await self.show_picker()
        else:
            self.dismiss(None)

    def action_next_field(self) -> None:
        self.focus_next()

    def action_previous_field(self) -> None:
        self.focus_previous()

    def action_copy_command(self) -> None:
        text = self.query_one("#launch-command", Static).render()
        line = str(text).removeprefix("$ ").strip()
        if not line:
            return
        self.app.copy_to_clipboard(line)
        self.notify("command copied (OSC 52)", timeout=2)

    def action_checks(self) -> None:
        self.revalidate()
        if self.model is not None:
            self.run_checks(self.model, launch_after=False)

    def action_launch(self) -> None:
        form = self.form
        if form is not None:
            form.touch(None, all_fields=True)
        self.revalidate()
        model = self.model
        if model is None:
            self.notify("fix the fields marked in red first", severity="warning")
            return
        if self.watch is not None and not self.watch.finished:
            self.notify("already launching: waiting for its run directory", severity="warning")
            return
        if self._forced == model.command_line():
            self._spawn(model)
            return
        self.run_checks(model, launch_after=True)

    @work(thread=True, exclusive=True, group="world-checks")
    def run_checks(self, model: JobOptions, launch_after: bool) -> None:
        self.app.call_from_thread(self._status, "checking: " + ", ".join(
            ["the endpoint" if model.job_name == "process" else "the inputs"]) + " ...")
        try:
            checks = model.world_checks(self.config)
        except Exception as exc:  # a check must never take the console down
            checks = [WorldCheck("checks", False, f"the checks failed: {exc}")]
        self.app.call_from_thread(self._checks_done, model, checks, launch_after)

    def _checks_done(self, model: JobOptions, checks: list[WorldCheck], launch_after: bool) -> None:
        self.checks = checks
        lines = [("✓ " if c.ok else "✗ ") + f"{c.name}: {c.message}" for c in checks]
        failed = [c for c in checks if not c.ok]
        form = self.form
        if form is not None:
            for c in failed:
                if c.field:
                    row = form.query(f"#row-{c.field}")
                    if row:
                        row.first().show_error(c.message)
        if failed:
            self._forced = model.command_line()
            self._status("\n".join(lines[-3:]) + "\nctrl+r again launches anyway", error=True)
            return
        self._status("\n".join(lines[-3:]) or "no checks for this job")
        if launch_after:
            self._spawn(model)

    def _spawn(self, model: JobOptions) -> None:
        argv = model.argv()
        config_file = getattr(self.config, "source_file", None)
        if config_file:
            argv = ["rollout", "--config", config_file, *argv[1:]]
        try:
            self.watch = launch(self, argv, self.workspace, cwd=None, on_run=self._launched,
                                on_error=self._launch_failed)
        except OSError as exc:
            self._launch_failed(f"could not start {argv[0]}: {exc}")
            return
        add_recent(self.workspace, RecentLaunch(job=model.job_name, given=_jsonable(model.given_values()),
                                                command=model.argv(), cwd=self.watch.launched.cwd,
                                                log=str(self.watch.launched.log)))
        self._status(f"started (pid {self.watch.launched.pid}); waiting for its run directory ...")

    def _launched(self, run_id: str) -> None:
        if self.watch is not None:
            set_recent_run(self.workspace, str(self.watch.launched.log), run_id)
        self.notify(f"launched {run_id}", timeout=4)
        self.dismiss(run_id)

    def _launch_failed(self, line: str) -> None:
        self.last_error = line
        self._status(f"launch failed: {line}", error=True)
        self.notify(line, title="launch failed", severity="error", timeout=10)

    def _status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#launch-status", Static)
        status.update(text)
        status.set_class(error, "-error")


def _line(head: str, rest: str) -> Text:
    """One option row: a bold head and the rest, cut with an ellipsis (no wrapping at 80 columns)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(head, style="bold")
    text.append(rest)
    return text


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in values.items()}


class LaunchCommands(Provider):
    """Command palette: every job ("Launch: ..."), and the workspace's recent launches."""

    def _entries(self) -> Iterable[tuple[str, str, Any]]:
        app = self.app
        if getattr(app, "read_only", False):
            return  # a --read-only console launches nothing
        workspace = getattr(app, "workspace", None)
        for spec in jobs():
            yield f"Launch {spec.name}", f"{spec.title} ({spec.command})", partial(_open_launch, app, spec.name, None)
        if workspace is not None:
            for r in load_recent(Path(workspace))[:10]:
                yield f"Reopen {r.label[:60]}", "a recent launch, pre-filled", partial(_open_launch, app, r.job, r.given)

    async def discover(self) -> Hits:
        for name, help_text, callback in self._entries():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


def _open_launch(app: Any, job: str | None, given: dict[str, Any] | None) -> None:
    opener = getattr(app, "open_launch", None)
    if callable(opener):
        opener(job, given)
