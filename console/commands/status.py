"""``rollout status``: all active runs in one short line (also answered by console/launcher.py
without loading Typer; both print console.status_line's line)."""

from __future__ import annotations

import typer

from console.output import CliState


def register(app: typer.Typer) -> None:
    app.command("status")(status_cmd)


def status_cmd(
    ctx: typer.Context,
    tmux: bool = typer.Option(False, "--tmux", help="tmux #[fg=...] styles, for status-right (never ANSI codes)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object (schema_version, totals, one entry per run)."),
) -> None:
    """One short line for every active run: count, worst status, progress, ETA, cost, worst alert, GPU use,
    and seed 004's monitoring line of a running SWE-bench evaluation (progress, success, Overall, BRS,
    overfit gap, ETA, cost).

    Reads the run directories and the box sampler's latest sample only. Prints 'rollout idle'
    when nothing runs. In tmux: set -g status-right '#(rollout status --tmux)'.
    """
    from console.status_line import print_status

    cli: CliState = ctx.obj
    raise typer.Exit(print_status(cli.workspace, tmux=tmux, as_json=as_json))
