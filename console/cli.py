"""The ``rollout`` command line: Typer, headless, thin over engine/.

Data goes to stdout, diagnostics to stderr. Every RolloutError becomes one stderr line and its
exit code (0 ok, 1 items failed, 2 usage/input, 3 service unreachable, 130 interrupted).
Areas live in console/commands/<area>.py, each with ``register(app)``.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import Any, Optional

import click
import typer
from typer.core import TyperGroup

from console.output import CliState, make_console
from engine.errors import ExitCode, RolloutError


class ColorMode(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


class RolloutGroup(TyperGroup):
    """Turns engine errors into one clear stderr line and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RolloutError as exc:
            color = getattr(ctx.obj, "color", "auto") if ctx.obj else "auto"
            make_console(color, stderr=True).print(f"rollout: error: {exc}", markup=False, highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


app = typer.Typer(
    name="rollout",
    cls=RolloutGroup,
    help="Run, watch and evaluate large LLM batch jobs: rollouts, servers, checkpoints. "
    "With no command, opens the console.",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    workspace: Optional[str] = typer.Option(
        None, "--workspace", "-w", help="Workspace holding runs/ (default: ROLLOUT_HOME, config, or the per-user state dir).",
    ),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="Config file (default: ./rollout.toml, then the user config)."),
    color: ColorMode = typer.Option(ColorMode.auto, "--color", help="Colour output: auto, always or never (NO_COLOR is respected)."),
    read_only: bool = typer.Option(False, "--read-only", help="Console only: look, never launch or stop."),
    no_mouse: bool = typer.Option(False, "--no-mouse", help="Console only: leave the mouse to the terminal (select, copy)."),
) -> None:
    ctx.obj = CliState(workspace_flag=workspace, config_path=config, color=color.value)
    if ctx.invoked_subcommand is None:
        from console.app import run_app  # Textual loads only when the console opens

        run_app(ctx.obj, read_only=read_only, mouse=not no_mouse)


def _register() -> None:
    from console.commands import agentless, batch, config_cmd, demo, evaluate, monitor, process, runs, seed_aliases, serve
    from console.commands import report as report_cmd, select as select_cmd, swebench
    from console.commands import web

    for module in (runs, config_cmd, demo, agentless, seed_aliases, serve, process, evaluate, monitor, swebench,
                   report_cmd, select_cmd, batch, web):
        module.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="rollout")
    except KeyboardInterrupt:
        sys.exit(int(ExitCode.INTERRUPTED))


if __name__ == "__main__":  # pragma: no cover
    main()
