"""The Textual console that ``rollout`` with no arguments opens.

Thin over engine/: it reads run directories (never writes them) and renders them. The only thing
it does to a run is send SIGTERM to its process when asked to stop it (after a confirmation).
"""

from __future__ import annotations

import sys
import termios
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from console.output import CliState
from console.screens.job_actions import JOB_BINDINGS, JobActions
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
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("t", "next_theme", "Theme", show=False),
        *JOB_BINDINGS,
    ]
    COMMANDS = App.COMMANDS | {LaunchCommands}

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
    ) -> None:
        super().__init__()
        self.workspace = Path(workspace)
        self.refresh_interval = refresh_interval
        self.bell_on_alert = bell
        #: show the box panel, keeping the workspace's shared sampler alive (engine.monitor)
        self.monitor = monitor
        self.sampler_idle_exit_s = sampler_idle_exit_s
        found = load_themes(user_themes_dir)
        self.startup_problems = list(found.problems)
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
    def from_cli(cls, cli: CliState) -> "RolloutApp":
        cfg = cli.config
        app = cls(cli.workspace, theme_name=cfg.theme, refresh_interval=cfg.refresh_interval, bell=cfg.bell)
        app.config = cfg  # the launch forms resolve job options with it
        return app

    def on_mount(self) -> None:
        self.sub_title = str(self.workspace)
        poller = WorkspacePoller(self.workspace, monitor=self.monitor, sampler_idle_exit_s=self.sampler_idle_exit_s)
        self.push_screen(RunsScreen(self.workspace, self.refresh_interval, bell=self.bell_on_alert, poller=poller))
        for problem in self.startup_problems:
            self.notify(problem, severity="warning", timeout=8)
        if not self.is_headless:
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


def terminal_alive(fd: int | None = None) -> bool:
    """False once the controlling terminal is hung up (its attributes can no longer be read)."""
    try:
        termios.tcgetattr(sys.__stdin__.fileno() if fd is None else fd)
    except (OSError, termios.error, ValueError, AttributeError):
        return False
    return True


def run_app(cli: CliState) -> None:
    """Open the console on the workspace and config of ``cli`` (the ``rollout`` root command)."""
    RolloutApp.from_cli(cli).run()
