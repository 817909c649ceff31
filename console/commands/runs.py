"""Commands over run directories: runs, show, stop; plus validate and version.

Reading commands print data on stdout and diagnostics on stderr. On a terminal they print
tables; piped, ``runs`` prints tab-separated lines with whole ids; ``--json`` prints objects
that each carry ``schema_version`` (JSON Lines for lists). Engine and rich imports happen inside
the commands (start-up time, see console/cli.py).
"""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any, Optional

import typer

from console import format as fmt
from console.completion import complete_run_id
from console.output import CliState, print_json, print_jsonl_many, stdout_is_terminal, versioned, write_bytes
from engine import __version__
from engine.errors import ExitCode, InputError
from engine.runs import ACTIVE_STATUSES, RunSummary, find_run, iter_runs, signal_run

RUN_HELP = "Run id, unique prefix, folder, or 'last'."
#: the columns of `rollout runs` when piped (tab-separated, no header, whole values)
TSV_COLUMNS = ("run_id", "status", "kind", "done", "total", "ok", "failed", "items_per_s", "eta_s", "cost_usd", "started")


def register(app: typer.Typer) -> None:
    app.command("runs")(runs_cmd)
    app.command("show")(show_cmd)
    app.command("stop")(stop_cmd)
    app.command("validate")(validate_cmd)
    app.command("version")(version_cmd)


def run_record(s: RunSummary) -> dict[str, Any]:
    """One run as ``runs --json`` prints it."""
    return versioned({**s.__dict__, "progress": s.progress})


def _iso(ts: float | None) -> str:
    return _dt.datetime.fromtimestamp(ts).isoformat(timespec="seconds") if ts else ""


def _tsv_value(value: Any) -> str:
    if value is None:
        return ""
    return str(value).replace("\t", " ").replace("\n", " ")


def tsv_line(s: RunSummary) -> str:
    c = s.counters
    values = (s.run_id, s.status, s.kind, c.get("done", 0), c.get("total", 0), c.get("ok", 0), c.get("failed", 0),
              s.rate.get("items_per_s"), s.eta_s, s.cost_usd, _iso(s.started))
    return "\t".join(_tsv_value(v) for v in values)


def runs_cmd(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="JSON Lines: one object per run (with schema_version)."),
    limit: int = typer.Option(30, "--limit", "-n", help="Show at most N runs (newest first); 0 = all."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Only runs of this kind (process, serve, ...)."),
    active: bool = typer.Option(False, "--active", help="Only runs that are still going."),
) -> None:
    """List the runs of the workspace, newest first.

    On a terminal: a table. Piped: one tab-separated line per run, whole ids, no header, columns
    run_id status kind done total ok failed items_per_s eta_s cost_usd started (ISO time).
    """
    cli: CliState = ctx.obj
    rows = []
    for s in iter_runs(cli.workspace):
        if kind and s.kind != kind:
            continue
        if active and s.status not in ACTIVE_STATUSES:
            continue
        rows.append(s)
        if limit and len(rows) >= limit:
            break
    if as_json:
        print_jsonl_many(run_record(s) for s in rows)
        return
    if not rows:
        cli.echo_err(f"no runs in {cli.workspace / 'runs'}")
        return
    out = cli.out
    if not stdout_is_terminal():
        write_bytes("".join(tsv_line(s) + "\n" for s in rows).encode())
        return
    from rich.table import Table

    from console.render import STATUS_STYLE

    table = Table(box=None, header_style="bold")
    table.add_column("RUN", no_wrap=True, min_width=max(len(s.run_id) for s in rows))  # ids are never cut
    for col in ("STATUS", "PROGRESS", "OK", "FAILED", "RATE", "ETA", "COST", "STARTED"):
        table.add_column(col, no_wrap=True, overflow="fold")
    for s in rows:
        c = s.counters
        table.add_row(
            s.run_id, f"[{STATUS_STYLE.get(s.status, '')}]{s.status}[/]", fmt.progress_text(c), str(c.get("ok", 0)),
            str(c.get("failed", 0)), fmt.rate(s.rate.get("items_per_s")), fmt.duration(s.eta_s),
            fmt.cost(s.cost_usd), fmt.timestamp(s.started),
        )
    out.print(table)


def show_cmd(
    ctx: typer.Context,
    run_ref: str = typer.Argument(..., metavar="RUN", help=RUN_HELP, autocompletion=complete_run_id),
    as_json: bool = typer.Option(False, "--json", help="One JSON object: run.json, state.json, status, events."),
    events: int = typer.Option(10, "--events", "-e", help="How many recent events to show."),
) -> None:
    """Show one run: what it is, its figures, its last events."""
    cli: CliState = ctx.obj
    run = find_run(cli.workspace, run_ref)
    info, state, evs = run.read_run(), run.read_state(), run.read_events(last=events)
    status = run.effective_status(state=state, run=info)
    if as_json:
        print_json(versioned({"run_id": run.run_id, "run": info, "state": state, "status": status, "events": evs,
                              "path": str(run.path)}))
        return
    from console.render import STATUS_STYLE, state_view

    out = cli.out
    out.print(f"[bold]{run.run_id}[/]  kind={info.get('kind')}  status=[{STATUS_STYLE.get(status, '')}]{status}[/]")
    out.print(f"path     {run.path}", markup=False)
    out.print(f"command  {' '.join(info.get('argv') or [])}", markup=False)
    out.print(f"started  {fmt.timestamp(info.get('started'))}   finished {fmt.timestamp(info.get('finished'))}   pid {info.get('pid')}@{info.get('host')}")
    for label, data in (("inputs", info.get("inputs")), ("outputs", info.get("outputs"))):
        for k, v in (data or {}).items():
            out.print(f"{label:<8} {k} = {v}", markup=False)
    figures = dict(state.get("figures") or {}) if state else {}
    monitor = figures.pop("monitor_line", None)
    if monitor:
        # seed 004's monitoring line (SWE-bench evaluations), whole and once: the figures grid
        # below would wrap it, and drop it past its row limit
        out.print(f"monitor  {monitor}", markup=False, highlight=False, soft_wrap=True)
    if state:
        out.print(state_view(run.run_id, {**state, "status": status, "figures": figures}, evs))


def stop_cmd(
    ctx: typer.Context,
    run_ref: str = typer.Argument(..., metavar="RUN", help=RUN_HELP, autocompletion=complete_run_id),
    now: bool = typer.Option(False, "--now", help="Stop at once (a second SIGTERM) instead of gracefully."),
    wait: float = typer.Option(0.0, "--wait", help="Wait up to S seconds for the run to end."),
) -> None:
    """Ask a running job to stop (SIGTERM: finish or abandon in-flight items, flush, mark cancelled)."""
    cli: CliState = ctx.obj
    run = find_run(cli.workspace, run_ref)
    if (run.path / "server.json").exists():
        # a server run: stop the job and make sure its whole process tree is gone, even when
        # the job itself was killed and left the server running
        from engine.server import stop_server_run

        cli.echo_err(stop_server_run(run).message)
        return
    pid = signal_run(run, now=now)
    cli.echo_err(f"sent SIGTERM{' twice' if now else ''} to {run.run_id} (pid {pid})")
    deadline = time.monotonic() + wait
    while wait and time.monotonic() < deadline and run.effective_status() in ACTIVE_STATUSES:
        time.sleep(0.2)
    if wait:
        cli.echo_err(f"{run.run_id}: {run.effective_status()}")


def validate_cmd(
    ctx: typer.Context,
    path: str = typer.Argument(..., metavar="FILE", help="A request or response JSONL file."),
    kind: Optional[str] = typer.Option(None, "--kind", help="request or response (default: detected from the first line)."),
    allow_duplicates: bool = typer.Option(False, "--allow-duplicates", help="Do not report repeated custom_ids."),
    max_problems: int = typer.Option(50, "--max-problems", help="Stop after N problems (0 = all)."),
) -> None:
    """Check an OpenAI Batch request or response file; print each problem as file:line; exit 2 if any."""
    from engine.batchio import validate_file

    cli: CliState = ctx.obj
    if kind not in (None, "request", "response"):
        raise InputError(f"--kind must be request or response, not {kind!r}")
    count = 0
    for problem in validate_file(path, kind, allow_duplicates=allow_duplicates):  # type: ignore[arg-type]
        count += 1
        cli.out.print(str(problem), markup=False, highlight=False)
        if max_problems and count >= max_problems:
            cli.echo_err(f"stopped after {count} problems (--max-problems)")
            break
    if count:
        raise typer.Exit(int(ExitCode.USAGE))
    cli.echo_err(f"{path}: OK")


def version_cmd() -> None:
    """Print the version."""
    typer.echo(f"rollout {__version__}")
