"""The ``rollout`` command line: Typer, headless, thin over engine/.

Data goes to stdout, diagnostics to stderr. Every RolloutError becomes one stderr line and its
exit code (0 ok, 1 items failed, 2 usage/input, 3 service unreachable, 130 interrupted).
Areas live in console/commands/<area>.py, each with ``register(app)``.

Start-up is part of the interface (``rollout status --tmux`` runs every few seconds in a status
line; ``--help`` must answer at once): command modules import engine pieces inside the command
bodies, never at module level, and help is click's plain formatter (Typer's rich help loads
markdown-it, pygments and rich's traceback, ~90 ms). console/launcher.py is the entry point.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Any, NoReturn, Optional

import click  # already loaded by typer; the usage-error classes below need it
import typer
from typer.core import TyperGroup

from console.output import CliState, error_line
from engine.errors import ExitCode, RolloutError


#: usage errors from click and from the copy of click that newer Typer releases vendor
_click_impl = getattr(typer.core, "_click", click)
USAGE_ERRORS: tuple[type[Exception], ...] = tuple({click.UsageError, _click_impl.exceptions.UsageError})


class ColorMode(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


@dataclass(frozen=True)
class LazyCommand:
    """A command whose module loads on first use: the modules whose ``register(app)`` build it
    (several when one adds to another's group: swebench adds `eval swebench`) and the line
    ``rollout --help`` lists for it, so that listing loads none of them."""

    modules: tuple[str, ...]
    summary: str


def _lazy(modules: str | tuple[str, ...], summary: str) -> LazyCommand:
    return LazyCommand(modules if isinstance(modules, tuple) else (modules,), summary)


#: command name → how to load it. `rollout history` imports one command module, not twenty, and
#: `rollout --help` none (their option models load pydantic). Modules registered in _register()
#: below load with the app instead (both work; a test checks every command of either kind).
LAZY_COMMANDS: dict[str, LazyCommand] = {
    "runs": _lazy("runs", "List the runs of the workspace, newest first."),
    "show": _lazy("runs", "Show one run: what it is, its figures, its last events."),
    "stop": _lazy("runs", "Ask a running job to stop (gracefully; --now: at once)."),
    "validate": _lazy("runs", "Check an OpenAI Batch file; exit 2 on any problem."),
    "version": _lazy("runs", "Print the version."),
    "status": _lazy("status", "All active runs in one short line (--tmux, --json)."),
    "watch": _lazy("watch", "Follow a run (or --all) to its end; exit with its code."),
    "history": _lazy("history", "Finished runs: items, failures, tokens, cost, totals."),
    "gc": _lazy("history", "Remove the run dirs of runs that ended long ago (asks first)."),
    "demo": _lazy("demo", "Run a synthetic job that writes a run directory."),
    "process": _lazy("process", "Send an OpenAI Batch file to an endpoint: streamed, resumable."),
    "monitor": _lazy("monitor", "The box: CPU, memory, disks, network, GPUs, processes."),
    "config": _lazy("config_cmd", "Show or create the configuration."),
    "agentless": _lazy("agentless", "Agentless SWE-bench stages: localize, repair, extract."),
    "serve": _lazy("serve", "Launch an SGLang/vLLM/custom server as a job; watch it."),
    "eval": _lazy(("evaluate", "swebench"), "Evaluate checkpoints, SWE-bench predictions, repro tests."),
    "report": _lazy("report", "Score phases from harness reports; write the report."),
    "batch": _lazy("batch", "Hosted Batch APIs: submit a file, detach, fetch the results later."),
    "select": _lazy("select", "Choose N instances of a dataset for a scale-up phase."),
    "rerun": _lazy("rerun", "Run a run's recorded command again (it resumes)."),
    "retry": _lazy("rerun", "Retry only what failed in a run."),
    "web": _lazy("web", "Serve the console to a web browser (textual-serve)."),
}


class RolloutGroup(TyperGroup):
    """Loads command modules on first use, and turns engine errors into one clear stderr line
    and the documented exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(dict.fromkeys([*LAZY_COMMANDS, *super().list_commands(ctx)]))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in LAZY_COMMANDS:
            found = _load_commands(LAZY_COMMANDS[cmd_name].modules).get(cmd_name)
        return found

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        """The command list of ``--help``, lazy commands by their summary (nothing is imported)."""
        from typer.core import TyperCommand

        rows = []
        for name in self.list_commands(ctx):
            eager = super().get_command(ctx, name)
            cmd = eager if eager is not None or name not in LAZY_COMMANDS else TyperCommand(
                name=name, help=LAZY_COMMANDS[name].summary)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except USAGE_ERRORS as exc:  # a bad root option: one line too
            _usage_line(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USAGE_ERRORS as exc:  # a bad flag or value: one line, not a Rich box
            _usage_line(exc)
        except RolloutError as exc:
            _error_line(ctx, str(exc))
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:  # before OSError, its base class
            # the reader of stdout went away (`rollout runs | head -1`): end quietly, as `ls` would
            from console.launcher import EXIT_PIPE_CLOSED, quiet_broken_pipe

            quiet_broken_pipe()
            raise typer.Exit(EXIT_PIPE_CLOSED) from None
        except OSError as exc:  # a path that cannot be used, a full disk: one line (engine/oserrors)
            from engine.oserrors import explain

            err = explain(exc)
            if err is None:
                raise
            _error_line(ctx, str(err))
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


#: the exit codes of DESIGN.md, shown under ``rollout --help`` (\b keeps click from re-flowing it)
EXIT_CODES_EPILOG = """\b
Exit codes:
  0    ok
  1    the job ran and some items failed (watch: the run failed or was lost)
  2    usage or input error (bad flag, file, config)
  3    a service (endpoint, server, docker, Piston) could not be reached
  130  interrupted (Ctrl-C, SIGTERM; watch: the run was cancelled)
  141  stdout was closed early (SIGPIPE, as for `rollout runs | head -1`)
Data goes to stdout, diagnostics to stderr; every reading command has --json."""

def _error_line(ctx: click.Context, message: str) -> None:
    error_line(getattr(ctx.obj, "color", "auto") if ctx.obj else "auto", message)


def _usage_line(exc: Any) -> NoReturn:
    """``rollout CMD: error: <what> (rollout CMD -h for help)`` on stderr, exit 2."""
    command = exc.ctx.command_path if exc.ctx is not None else "rollout"
    message = " ".join(exc.format_message().split())
    sys.stderr.write(f"{command}: error: {message} ({command} -h for help)\n")
    sys.exit(int(ExitCode.USAGE))


app = typer.Typer(
    name="rollout",
    cls=RolloutGroup,
    help="Run, watch and evaluate large LLM batch jobs: rollouts, servers, checkpoints. "
    "With no command, opens the console.",
    epilog=EXIT_CODES_EPILOG,
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=True,
    rich_markup_mode=None,
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
    from console.commands import seed_aliases  # its aliases dispatch through the whole app

    for module in (seed_aliases,):
        module.register(app)
    _plain_help(app)


@functools.cache  # once per process, like an import: register() must not run twice
def _load_commands(module_names: tuple[str, ...]) -> dict[str, click.Command]:
    """The click commands some console.commands modules register, built as Typer builds them."""
    import importlib

    from typer.main import get_group

    sub = typer.Typer(add_completion=False, rich_markup_mode=None)
    for name in module_names:
        importlib.import_module(f"console.commands.{name}").register(sub)
    _plain_help(sub)
    return dict(get_group(sub).commands)


def _plain_help(typer_app: typer.Typer) -> None:
    """Click's plain help and usage errors for every sub-app too (each Typer keeps its own mode)."""
    typer_app.rich_markup_mode = None
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _plain_help(group.typer_instance)


_register()


def main() -> None:
    """Run the Typer app (console/launcher.py is the installed entry point; it comes here)."""
    try:
        app(prog_name="rollout")
    except KeyboardInterrupt:
        sys.exit(int(ExitCode.INTERRUPTED))


if __name__ == "__main__":  # pragma: no cover
    main()
