"""The installed ``rollout`` entry point.

Three commands are answered here without importing Typer or click, when their arguments are
plain (the global ``--workspace/--config/--color`` before the command, then only the command's
own options):

* ``rollout status [--tmux|--json]``: a tmux status line runs it every few seconds;
* ``rollout history [--since SPAN] [--kind K] [--limit N] [--json]``: 10,000 runs in ≤ 200 ms;
  both parsed from their option tuples (console/fastopts.py), without rich or pydantic either;
* ``rollout process`` against an endpoint, parsed from its option model (console/fastjob.py):
  its first request is out within 300 ms of exec.

Everything else (``--help``, a typo, a bad value, shell completion, a config that needs the full
loader to explain it) goes to the Typer app (console/cli.py), whose commands are built from the
same options and print the very same output.

A reader of stdout that goes away early (``rollout runs | head -1``) ends the command quietly
with 141, the shell's code for SIGPIPE, instead of a BrokenPipeError traceback.
"""

from __future__ import annotations

import os
import sys

#: exit code when stdout's reader closed the pipe (128 + SIGPIPE), as any Unix tool gives
EXIT_PIPE_CLOSED = 141
EXIT_INTERRUPTED = 130  # engine.errors.ExitCode.INTERRUPTED
_GLOBAL_VALUE_FLAGS = {"--workspace": "workspace", "-w": "workspace", "--config": "config", "-c": "config",
                       "--color": "color"}
_COLOR_CHOICES = ("auto", "always", "never")


def split_global_args(argv: list[str]) -> tuple[dict[str, str | None], str, list[str]] | None:
    """(the global options, the command, its arguments) of ``argv``, or None when anything before
    the command is not a plain global option with a value."""
    found: dict[str, str | None] = {"workspace": None, "config": None}
    i = 0
    while i < len(argv) and not (argv[i] and argv[i][0] != "-"):
        name, eq, value = argv[i].partition("=")
        if name not in _GLOBAL_VALUE_FLAGS or (eq and not name.startswith("--")):
            return None
        if not eq:
            if i + 1 >= len(argv):
                return None
            value = argv[i + 1]
            i += 1
        found[_GLOBAL_VALUE_FLAGS[name]] = value
        i += 1
    if i >= len(argv) or found.get("color", "auto") not in _COLOR_CHOICES:
        return None
    return found, argv[i], argv[i + 1:]


def fast_status_args(argv: list[str]) -> dict[str, str | bool | None] | None:
    """The options of a plain ``status`` invocation, or None when Typer should parse ``argv``."""
    from console.fastopts import parse_options

    split = split_global_args(argv)
    if split is None or split[1] != "status":
        return None
    from console.status_line import STATUS_OPTIONS

    opts = parse_options(STATUS_OPTIONS, split[2])
    return None if opts is None else {**split[0], **opts}


def _fast_status(opts: dict[str, str | bool | None]) -> int | None:
    from console.status_line import print_status
    from engine.errors import RolloutError
    from engine.locations import quick_workspace

    try:
        workspace = quick_workspace(opts["workspace"], opts["config"])  # type: ignore[arg-type]
    except RolloutError:
        return None  # let the full CLI load the config and explain the problem in one line
    return print_status(workspace, tmux=bool(opts["tmux"]), as_json=bool(opts["json"]))


def _fast_history(global_opts: dict[str, str | None], args: list[str]) -> int | None:
    from console.fastopts import parse_options
    from console.history_view import HISTORY_OPTIONS, colour_wanted, history_output, terminal_width

    opts = parse_options(HISTORY_OPTIONS, args)
    if opts is None:
        return None
    from console.stdio import stdout_is_terminal, write_bytes
    from engine.errors import RolloutError
    from engine.locations import quick_workspace

    terminal = stdout_is_terminal()
    try:
        workspace = quick_workspace(global_opts["workspace"], global_opts["config"])
        out = history_output(workspace, **opts, terminal=terminal, width=terminal_width(1) if terminal else 80,
                             colour=terminal and colour_wanted(global_opts.get("color") or "auto"))
    except (RolloutError, OSError):
        return None  # nothing is written yet: the Typer command says what is wrong, in its words
    if out.stdout:
        write_bytes(out.stdout)
    if out.stderr:
        sys.stderr.write(out.stderr)
        sys.stderr.flush()
    return out.exit_code


def fast_command(argv: list[str]) -> int | None:
    """Answer ``argv`` without Typer when it is a plain ``status``, ``history`` or ``process``:
    the exit code, or None when the Typer app must run it."""
    if os.environ.get("_ROLLOUT_COMPLETE"):  # Typer's shell completion (console.fastopts.COMPLETE_ENV)
        return None
    split = split_global_args(argv)
    if split is None:
        return None
    global_opts, command, args = split
    if command == "status":
        opts = fast_status_args(argv)
        return _fast_status(opts) if opts is not None else None
    if command == "history":
        return _fast_history(global_opts, args)
    if command == "process":
        from console.fastjob import fast_process

        return fast_process(global_opts, args)
    return None


def quiet_broken_pipe() -> None:
    # whatever is still buffered for the closed pipe would raise again at interpreter exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main() -> None:
    """Console-script entry point."""
    try:
        code = fast_command(sys.argv[1:])
        if code is None:
            from console.cli import main as typer_main

            typer_main()
            code = 0
    except BrokenPipeError:
        quiet_broken_pipe()
        code = EXIT_PIPE_CLOSED
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
