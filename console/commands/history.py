"""``rollout history`` (finished runs with totals, from the workspace's SQLite index) and
``rollout gc`` (remove old run directories, asking first)."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from console import format as fmt
from console.output import SCHEMA_VERSION, CliState, orjson_line, stdout_is_terminal, versioned, write_bytes
from engine.errors import ExitCode, InputError



def register(app: typer.Typer) -> None:
    app.command("history")(history_cmd)
    app.command("gc")(gc_cmd)


def history_cmd(
    ctx: typer.Context,
    since: Optional[str] = typer.Option(None, "--since", metavar="SPAN", help="Only runs that finished in the last SPAN (90m, 12h, 7d, 2w)."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Only runs of this kind (process, serve, eval, ...)."),
    limit: int = typer.Option(0, "--limit", "-n", help="At most N runs (newest first); 0 = all."),
    as_json: bool = typer.Option(False, "--json", help="JSON Lines: one 'run' object per run, then one 'totals' object."),
) -> None:
    """Finished runs, newest first: items, failures, tokens, cost, duration, with totals.

    Served from an index in the workspace (history.sqlite3) that every finishing run updates and
    that is rebuilt from the run directories when missing or stale. Piped: tab-separated lines
    (run_id kind status items failed tokens_prompt tokens_completion cost_usd duration_s finished),
    totals on stderr.
    """
    from engine.durations import parse_span
    from engine.history import HistoryFilter, open_history

    cli: CliState = ctx.obj
    flt = HistoryFilter(parse_span(since, "--since") if since else None, kind, limit or None)
    with open_history(cli.workspace) as index:
        totals = index.totals(flt)
        if as_json:  # JSON and TSV lines come straight from SQLite (fast on 10,000 runs)
            lines = index.json_lines(flt, SCHEMA_VERSION)
            lines.append(orjson_line(versioned({"type": "totals", **totals.to_dict()})))
            write_bytes(("\n".join(lines) + "\n").encode())
            return
        piped = not stdout_is_terminal()
        rows = [] if piped else index.rows(flt)
        tsv = index.tsv_lines(flt) if piped else []
    total_line = (f"{totals.runs} runs, {fmt.count(totals.items)} items, {fmt.count(totals.failed)} failed, "
                  f"tokens {fmt.count(totals.tokens_prompt)} in / {fmt.count(totals.tokens_completion)} out, "
                  f"cost {fmt.cost(totals.cost_usd)}, {fmt.duration(totals.duration_s)} of run time")
    if piped:
        if tsv:
            write_bytes(("\n".join(tsv) + "\n").encode())
        cli.echo_err(total_line)
        return
    if not rows:
        cli.echo_err(f"no finished runs in {cli.workspace / 'runs'}" + (f" in the last {since}" if since else ""))
        return
    from rich.table import Table

    from console.render import STATUS_STYLE

    out = cli.out
    table = Table(box=None, header_style="bold", show_footer=False)
    table.add_column("RUN", no_wrap=True, min_width=max(len(r.run_id) for r in rows))
    for col in ("KIND", "STATUS", "ITEMS", "FAILED", "TOKENS IN/OUT", "COST", "DURATION", "FINISHED"):
        table.add_column(col, no_wrap=True, overflow="fold")
    for r in rows:
        table.add_row(r.run_id, r.kind, f"[{STATUS_STYLE.get(r.status, '')}]{r.status}[/]", fmt.count(r.items),
                      fmt.count(r.failed), f"{fmt.count(r.tokens_prompt)}/{fmt.count(r.tokens_completion)}",
                      fmt.cost(r.cost_usd), fmt.duration(r.duration_s), fmt.timestamp(r.finished))
    out.print(table)
    out.print(f"[bold]total[/] {total_line}", highlight=False)


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
