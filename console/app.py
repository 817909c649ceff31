"""The Textual console that ``rollout`` with no arguments opens.

Thin over engine/: it reads run directories (never writes them) and renders them. The only thing
it does to a run is send SIGTERM to its process when asked to stop it (after a confirmation), and
``--read-only`` takes even that away. Keys come from console/actions.py (every action a Binding
with an id; the config's ``[keymap]`` table overrides them); the command palette lists every
action with its key and the equivalent ``rollout`` command.
"""

from __future__ import annotations

import sys
import termios
from functools import partial
from pathlib import Path
from typing import Iterable

from textual.app import App, SystemCommand
from textual.screen import Screen

from console import prefs
from console.actions import ACTIONS, ConsoleAction, bindings, keymap_problems
from console.alert_book import AlertBook
from console.output import CliState
from console.screens.job_actions import JobActions
from console.screens.launch import LaunchCommands
from console.screens.runs import RunsScreen
from console.screens.workspace_poll import WorkspacePoller
from console.themes import BASE_TCSS, DEFAULT_THEME, load_themes, theme_from_toml
from engine.errors import ExitCode, InputError
from engine.monitor.sampler import DEFAULT_IDLE_EXIT_S


#: how often the app checks that its terminal is still there (seconds)
TERMINAL_CHECK_S = 2.0


class RolloutApp(JobActions, App[None]):
    """Header, live runs list, detail pane, footer; themes from themes/*.toml and the user's."""

    TITLE = "rollout"
    CSS_PATH = str(BASE_TCSS)
    BINDINGS = bindings("app")
    #: every job ("Launch <job>") and the recent launches in the palette
    COMMANDS = App.COMMANDS | {LaunchCommands}
    #: the palette's scopes of each screen (the app's own always come too)
    SCOPES = {"RunsScreen": ("runs", "table"), "AlertsScreen": ("alerts",), "RunViewScreen": ("run",),
              "LogsScreen": ("logs",)}

    def __init__(
        self,
        workspace: Path,
        *,
        theme_name: str = DEFAULT_THEME,
        refresh_interval: float = 1.0,
        user_themes_dir: Path | None = None,
        bell: bool = False,
        monitor: bool = True,
        sampler_idle_exit_s: float = DEFAULT_IDLE_EXIT_S,
        keymap: dict[str, str] | None = None,
        read_only: bool = False,
        mouse: bool = True,
        remember_theme: bool = True,
    ) -> None:
        super().__init__()
        self.workspace = Path(workspace)
        #: no launch, no stop: a console to look with (shared screens, a web session)
        self.read_only = read_only
        self.mouse = mouse
        #: acknowledgements and mutes outlive the screens that show them
        self.alert_book = AlertBook()
        self.keymap = dict(keymap or {})
        self.remember_theme = remember_theme
        self.refresh_interval = refresh_interval
        self.bell_on_alert = bell
        #: show the box panel, keeping the workspace's shared sampler alive (engine.monitor)
        self.monitor = monitor
        self.sampler_idle_exit_s = sampler_idle_exit_s
        found = load_themes(user_themes_dir)
        self.startup_problems = list(found.problems) + keymap_problems(self.keymap)
        chosen = prefs.load(self.workspace).get("theme") if remember_theme else None
        if isinstance(chosen, str) and chosen in found.themes:
            theme_name = chosen  # the last theme picked here wins over the config's default
        wanted: str | None = theme_name if theme_name in found.themes else None
        if wanted is None and theme_name.endswith(".toml"):
            # config may name a theme file directly
            try:
                theme = theme_from_toml(Path(theme_name).expanduser())
            except InputError as exc:
                self.startup_problems.append(str(exc))
            else:
                found.themes[theme.name] = theme
                wanted = theme.name
        self.own_themes = list(found.themes)
        for theme in found.themes.values():
            self.register_theme(theme)
        if wanted is None:
            self.startup_problems.append(
                f"theme '{theme_name}' not found (have: {', '.join(self.own_themes)}): using {DEFAULT_THEME}"
            )
            wanted = DEFAULT_THEME
        self.theme = wanted

    @classmethod
    def from_cli(cls, cli: CliState, *, read_only: bool = False, mouse: bool = True) -> "RolloutApp":
        cfg = cli.config
        app = cls(cli.workspace, theme_name=cfg.theme, refresh_interval=cfg.refresh_interval, bell=cfg.bell,
                  keymap=cfg.keymap, read_only=read_only, mouse=mouse)
        app.config = cfg  # the launch forms resolve job options with it
        return app

    def on_mount(self) -> None:
        self.sub_title = str(self.workspace) + (" · read-only" if self.read_only else "")
        if self.keymap:
            self.set_keymap(self.keymap)
        poller = WorkspacePoller(self.workspace, monitor=self.monitor, sampler_idle_exit_s=self.sampler_idle_exit_s)
        self.push_screen(RunsScreen(self.workspace, self.refresh_interval, bell=self.bell_on_alert, poller=poller))
        for problem in self.startup_problems:
            self.notify(problem, severity="warning", timeout=8)
        if not self.is_headless and not self.is_web:  # a web session has no terminal of its own
            self.set_interval(TERMINAL_CHECK_S, self._exit_if_terminal_gone)

    def _exit_if_terminal_gone(self) -> None:
        """Quit when the terminal hung up (SSH link dropped, tmux pane killed).

        A parent such as ``make run`` can keep the hang-up signal from reaching us; the
        terminal's driver then spins on a dead tty instead of exiting.
        """
        if not terminal_alive():
            self.exit(return_code=int(ExitCode.INTERRUPTED))

    def action_help(self) -> None:
        screen = self.screen
        if isinstance(screen, RunsScreen):
            screen.action_help()

    def action_next_theme(self) -> None:
        names = self.own_themes
        i = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(i + 1) % len(names)]
        self.notify(f"theme {self.theme}", timeout=2)

    def watch_theme(self, theme: str) -> None:
        if self.remember_theme and self.is_running:
            prefs.save(self.workspace, theme=theme)  # the choice persists, also when made in the palette

    # -- the action registry in the palette ------------------------------------------------------
    def allowed(self, action: ConsoleAction) -> bool:
        """False for actions that change something outside the console in --read-only mode."""
        return not (self.read_only and action.mutates)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every console action of this screen (and the app's): title, key, equivalent command."""
        scopes = ("app", *self.SCOPES.get(type(screen).__name__, ()))
        for action in ACTIONS:
            if action.scope not in scopes or not action.palette or not self.allowed(action):
                continue
            keys = action.keys.split(",")[0] if action.keys else ""
            help_text = " · ".join(p for p in (f"key {keys}" if keys else "", action.help,
                                                action.cli or "") if p)
            yield SystemCommand(action.title, help_text, partial(self._run_registered, screen, action))
        yield from super().get_system_commands(screen)

    def _run_registered(self, screen: Screen, action: ConsoleAction) -> None:
        node = self if action.scope == "app" else screen
        if action.scope == "table":
            from console.widgets.runs_table import RunsTable

            node = screen.query_one(RunsTable)
        self.call_later(node.run_action, action.action)


def terminal_alive(fd: int | None = None) -> bool:
    """False once the controlling terminal is hung up (its attributes can no longer be read)."""
    try:
        termios.tcgetattr(sys.__stdin__.fileno() if fd is None else fd)
    except (OSError, termios.error, ValueError, AttributeError):
        return False
    return True


def run_app(cli: CliState, *, read_only: bool = False, mouse: bool = True) -> None:
    """Open the console on the workspace and config of ``cli`` (the ``rollout`` root command)."""
    RolloutApp.from_cli(cli, read_only=read_only, mouse=mouse).run(mouse=mouse)
