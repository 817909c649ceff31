"""Every action of the console, once, as data: id, title, default keys, the Textual action it runs,
and the equivalent ``rollout …`` command.

Bindings (``Binding(id=...)``), the ``?`` overlay, the command palette and the ``[keymap]`` config
table are all generated from :data:`ACTIONS`; the CLI/console parity test reads it too. Keys are
Textual key names, comma-separated; every action has a letter key or none at all (Home/End and
function keys are unreliable in tmux), palette-only actions have ``keys=""``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from textual.binding import Binding


@dataclass(frozen=True)
class ConsoleAction:
    """One thing a person can do in the console."""

    id: str
    title: str
    keys: str
    #: the Textual action string run on the scope's node (``filter``, ``interval(0.5)``...)
    action: str
    #: where the binding lives: ``app``, ``runs`` (dashboard screen), ``table`` (the runs list),
    #: ``alerts`` (alerts view), ``help`` (the ? overlay), ``run`` (a run's view),
    #: ``logs`` (a run's logs)
    scope: str
    #: the equivalent command line, or None when it is a console-only thing (scrolling, theme)
    cli: str | None = None
    #: changes something outside the console (refused with --read-only)
    mutates: bool = False
    #: shown in the footer
    show: bool = True
    #: in the command palette (navigation keys are not)
    palette: bool = True
    help: str = ""


ACTIONS: tuple[ConsoleAction, ...] = (
    ConsoleAction("app.quit", "Quit", "q", "quit", "app"),
    ConsoleAction("app.help", "Help", "question_mark", "help", "app", help="every key of this screen"),
    ConsoleAction("app.theme", "Next theme", "t", "next_theme", "app", show=False,
                  help="dark, light, high contrast (the choice is kept)"),
    ConsoleAction("app.launch", "Launch", "n", "launch", "app", cli="rollout JOB ...", mutates=True,
                  help="pick a job, fill its form, launch it detached (every job is also in the palette)"),
    ConsoleAction("app.logs", "Logs", "l", "logs", "app", cli="rollout show RUN",
                  help="the selected run's events, server.log, error.log, followed"),
    ConsoleAction("runs.refresh", "Refresh", "r", "refresh_now", "runs", cli="rollout runs"),
    ConsoleAction("runs.open", "Open run view", "enter,v", "open_run", "runs", cli="rollout show RUN",
                  help="the selected run whole: figures, outputs, failures; stop, rerun, retry, logs"),
    ConsoleAction("runs.detail", "Focus its view", "d", "focus_detail", "runs", cli="rollout watch RUN",
                  help="the detail pane's eval, server or process view, scrolled into focus"),
    ConsoleAction("runs.stop", "Stop run", "s", "stop_run", "runs", cli="rollout stop RUN", mutates=True),
    ConsoleAction("runs.alerts", "Alerts", "a", "alerts", "runs", cli="rollout status",
                  help="active and recent alerts: acknowledge, mute"),
    ConsoleAction("runs.filter", "Filter", "slash", "filter", "runs", cli="rollout runs",
                  help="kind:eval status:running or words"),
    ConsoleAction("runs.pause", "Pause", "p", "pause", "runs", help="stop polling; p again resumes"),
    ConsoleAction("runs.box", "Box panel", "m", "toggle_box", "runs", cli="rollout monitor"),
    ConsoleAction("runs.faster", "Refresh more often", "plus,equals", "interval(0.5)", "runs", show=False),
    ConsoleAction("runs.slower", "Refresh less often", "minus", "interval(2)", "runs", show=False),
    ConsoleAction("table.sort", "Sort", "o", "next_sort", "table", show=False, help="started, status, progress, ETA, kind, id"),
    ConsoleAction("table.sort_reverse", "Reverse sort", "O", "reverse_sort", "table", show=False),
    ConsoleAction("table.first", "First run", "g,home", "scroll_top", "table", show=False, palette=False),
    ConsoleAction("table.last", "Last run", "G,end", "scroll_bottom", "table", show=False, palette=False),
    ConsoleAction("table.down", "Down", "j", "cursor_down", "table", show=False, palette=False),
    ConsoleAction("table.up", "Up", "k", "cursor_up", "table", show=False, palette=False),
    ConsoleAction("alerts.ack", "Acknowledge", "c,space", "acknowledge", "alerts",
                  help="mark the selected alert seen (it stays listed until it clears)"),
    ConsoleAction("alerts.mute", "Mute rule for run", "M", "mute", "alerts", help="no toast or bell for this rule in this run"),
    ConsoleAction("alerts.mute_everywhere", "Mute rule everywhere", "R", "mute_everywhere", "alerts"),
    ConsoleAction("alerts.unmute", "Unmute all", "U", "unmute", "alerts"),
    ConsoleAction("alerts.close", "Back", "escape,b", "close", "alerts"),
    ConsoleAction("run.back", "Back", "escape,b", "app.pop_screen", "run"),
    ConsoleAction("run.stop", "Stop", "s", "stop(False)", "run", cli="rollout stop RUN", mutates=True),
    ConsoleAction("run.stop_now", "Stop now", "S", "stop(True)", "run", cli="rollout stop --now RUN", mutates=True),
    ConsoleAction("run.rerun", "Rerun", "r", "rerun", "run", cli="rollout rerun RUN", mutates=True,
                  help="the recorded command again: it resumes"),
    ConsoleAction("run.retry", "Retry failures", "f", "retry", "run", cli="rollout retry RUN", mutates=True,
                  help="a new run fed only what failed"),
    ConsoleAction("run.open_output", "Open output", "o", "open_output", "run", cli="rollout show RUN",
                  help="the output in $PAGER"),
    ConsoleAction("run.open_dir", "Open run dir", "e", "open_dir", "run", cli="rollout show RUN",
                  help="the run folder in $EDITOR"),
    ConsoleAction("run.copy", "Copy command", "y", "copy_command", "run", cli="rollout rerun --print RUN",
                  help="by OSC 52: reaches the clipboard over SSH and tmux"),
    ConsoleAction("run.edit", "Edit in form", "p", "edit", "run", cli="rollout rerun --print RUN", mutates=True,
                  help="the command in the launch form: change a field, launch again"),
    ConsoleAction("logs.back", "Back", "escape,q", "app.pop_screen", "logs"),
    ConsoleAction("logs.follow", "Follow", "G", "follow", "logs", cli="rollout watch RUN --plain"),
    ConsoleAction("help.close", "Close", "escape,question_mark,q", "close", "help", palette=False),
    ConsoleAction("help.down", "Scroll down", "j,down", "scroll_down", "help", show=False, palette=False),
    ConsoleAction("help.up", "Scroll up", "k,up", "scroll_up", "help", show=False, palette=False),
    ConsoleAction("help.top", "Top", "g,home", "scroll_home", "help", show=False, palette=False),
    ConsoleAction("help.bottom", "Bottom", "G,end", "scroll_end", "help", show=False, palette=False),
)

BY_ID: dict[str, ConsoleAction] = {a.id: a for a in ACTIONS}


def in_scope(scope: str) -> list[ConsoleAction]:
    return [a for a in ACTIONS if a.scope == scope]


def bindings(scope: str) -> list[Binding]:
    """The Textual bindings of a scope, one per keyed action, each with the action's id."""
    return [Binding(a.keys, a.action, a.title, show=a.show, id=a.id) for a in in_scope(scope) if a.keys]


def keymap_problems(keymap: dict[str, str], known: Iterable[str] | None = None) -> list[str]:
    """One line per ``[keymap]`` entry naming no console action (a typo would be silently ignored)."""
    ids = set(known) if known is not None else {a.id for a in ACTIONS if a.keys}
    return [f"keymap: '{k}' is not a console action (see the ? overlay for the ids): ignored"
            for k in keymap if k not in ids]
