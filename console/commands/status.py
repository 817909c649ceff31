"""``rollout status``: all active runs in one short line (also answered by console/launcher.py
without loading Typer; both print console.status_line's line)."""

from __future__ import annotations

import typer

from console.fastopts import typer_command
from console.output import CliState
from console.status_line import STATUS_OPTIONS

STATUS_HELP = """One short line for every active run: count, worst status, progress, ETA, cost, worst alert, GPU use,
and seed 004's monitoring line of a running SWE-bench evaluation (progress, success, Overall, BRS,
overfit gap, ETA, cost).

Reads the run directories and the box sampler's latest sample only. Prints 'rollout idle'
when nothing runs. In tmux: set -g status-right '#(rollout status --tmux)'.
"""


def register(app: typer.Typer) -> None:
    app.command("status")(typer_command(STATUS_OPTIONS, status, STATUS_HELP))


def status(ctx: typer.Context, *, tmux: bool, json: bool) -> None:
    from console.status_line import print_status

    cli: CliState = ctx.obj
    raise typer.Exit(print_status(cli.workspace, tmux=tmux, as_json=json))
