"""The installed ``rollout`` entry point.

``rollout status [--tmux|--json]`` (with the global ``--workspace/--config/--color`` before it)
is answered here without importing Typer, rich or pydantic: a tmux status line runs it every few
seconds. Everything else, ``rollout status --help`` included, goes to the Typer app
(console/cli.py), whose ``status`` command prints the very same line.

A reader of stdout that goes away early (``rollout runs | head -1``) ends the command quietly
with 141, the shell's code for SIGPIPE, instead of a BrokenPipeError traceback.
"""

from __future__ import annotations

import os
import sys

#: exit code when stdout's reader closed the pipe (128 + SIGPIPE), as any Unix tool gives
EXIT_PIPE_CLOSED = 141
_GLOBAL_VALUE_FLAGS = {"--workspace": "workspace", "-w": "workspace", "--config": "config", "-c": "config",
                       "--color": "color"}
_STATUS_FLAGS = {"--tmux", "--json"}


def fast_status_args(argv: list[str]) -> dict[str, str | bool | None] | None:
    """The options of a plain ``status`` invocation, or None when Typer should parse ``argv``."""
    found: dict[str, str | bool | None] = {"workspace": None, "config": None, "tmux": False, "json": False}
    i = 0
    while i < len(argv) and argv[i] != "status":
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name not in _GLOBAL_VALUE_FLAGS or (eq and name.startswith("-") and not name.startswith("--")):
            return None
        if not eq:
            if i + 1 >= len(argv):
                return None
            value = argv[i + 1]
            i += 1
        found[_GLOBAL_VALUE_FLAGS[name]] = value
        i += 1
    if i >= len(argv):
        return None
    rest = argv[i + 1:]
    if any(a not in _STATUS_FLAGS for a in rest):
        return None
    found["tmux"] = "--tmux" in rest
    found["json"] = "--json" in rest
    return found


def _fast_status(opts: dict[str, str | bool | None]) -> int | None:
    from console.status_line import print_status
    from engine.errors import RolloutError
    from engine.locations import quick_workspace

    try:
        workspace = quick_workspace(opts["workspace"], opts["config"])  # type: ignore[arg-type]
    except RolloutError:
        return None  # let the full CLI load the config and explain the problem in one line
    return print_status(workspace, tmux=bool(opts["tmux"]), as_json=bool(opts["json"]))


def quiet_broken_pipe() -> None:
    # whatever is still buffered for the closed pipe would raise again at interpreter exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main() -> None:
    """Console-script entry point."""
    try:
        opts = fast_status_args(sys.argv[1:])
        code = _fast_status(opts) if opts is not None else None
        if code is None:
            from console.cli import main as typer_main

            typer_main()
            code = 0
    except BrokenPipeError:
        quiet_broken_pipe()
        code = EXIT_PIPE_CLOSED
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
