"""``rollout history`` (finished runs with totals, from the workspace's SQLite index) and
``rollout gc`` (remove old run directories, asking first)."""

from __future__ import annotations

import sys

import typer

from console.fastopts import typer_command
from console.history_view import HISTORY_HELP, HISTORY_OPTIONS, colour_wanted, history_output, terminal_width
from console.output import CliState, stdout_is_terminal, write_bytes
from engine.errors import ExitCode, InputError


def register(app: typer.Typer) -> None:
    app.command("history")(typer_command(HISTORY_OPTIONS, history, HISTORY_HELP))
    app.command("gc")(gc_cmd)


def history(ctx: typer.Context, *, since: str | None, kind: str | None, limit: int, json: bool) -> None:
    """``rollout history`` when Typer parsed it (console/launcher.py answers plain uses itself,
    with the same console.history_view.history_output)."""
    cli: CliState = ctx.obj
    terminal = stdout_is_terminal()
    out = history_output(cli.workspace, since=since, kind=kind, limit=limit, json=json, terminal=terminal,
                         width=terminal_width(sys.stdout.fileno()) if terminal else 80,
                         colour=terminal and colour_wanted(cli.color))
    if out.stdout:
        write_bytes(out.stdout)
    if out.stderr:
        sys.stderr.write(out.stderr)
        sys.stderr.flush()
    if out.exit_code:
        raise typer.Exit(out.exit_code)


def gc_cmd(
    ctx: typer.Context,
    older_than: str = typer.Option(..., "--older-than", metavar="SPAN", help="Remove runs that ended more than SPAN ago (30d, 2w, 12h)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed; remove nothing."),
) -> None:
    """Remove the run directories of runs that ended long ago (asks first).

    Only folders under <workspace>/runs/ go: the outputs a run wrote elsewhere (--output files,
    save dirs) stay, as do running jobs. Prints the removed ids on stdout.
    """
    from engine.durations import parse_span
    from engine.gc import plan_gc, remove_runs

    cli: CliState = ctx.obj
    span = parse_span(older_than, "--older-than")
    candidates = plan_gc(cli.workspace, span)
    if not candidates:
        cli.echo_err(f"nothing to remove: no run in {cli.workspace / 'runs'} ended more than {older_than} ago")
        return
    size = sum(c.size_bytes for c in candidates)
    what = f"{len(candidates)} run dir(s), {size / 1e6:.1f} MB, that ended more than {older_than} ago, from {cli.workspace / 'runs'}"
    if dry_run:
        for c in candidates:
            sys.stdout.write(f"{c.run_id}\n")
        cli.echo_err(f"would remove {what}")
        return
    if not yes:
        try:
            if not typer.confirm(f"Remove {what}? (outputs outside the run dirs stay)", default=False, err=True):
                cli.echo_err("nothing removed")
                return
        except typer.Abort:
            raise InputError("gc: no answer on stdin: nothing removed (pass --yes to remove without asking)") from None
    removed = remove_runs(cli.workspace, candidates)
    for run_id in removed:
        sys.stdout.write(f"{run_id}\n")
    sys.stdout.flush()
    cli.echo_err(f"removed {len(removed)} run dir(s)")
    if len(removed) < len(candidates):
        cli.echo_err(f"{len(candidates) - len(removed)} could not be removed (started again, or not writable)")
        raise typer.Exit(int(ExitCode.ITEMS_FAILED))
