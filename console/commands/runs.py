"""Commands over run directories: runs, show, watch, stop; plus validate and version."""

from __future__ import annotations

import time
from typing import Optional

import typer
from rich.live import Live
from rich.table import Table

from console import format as fmt
from console.output import CliState, print_json
from console.render import STATUS_STYLE, event_line, state_view
from engine import __version__
from engine.batchio import validate_file
from engine.errors import ExitCode, InputError
from engine.runs import ACTIVE_STATUSES, find_run, iter_runs, signal_run

#: exit code of ``watch`` for each final status
STATUS_EXIT = {"done": 0, "failed": 1, "cancelled": 130, "lost": 1}


def register(app: typer.Typer) -> None:
    app.command("runs")(runs_cmd)
    app.command("show")(show_cmd)
    app.command("watch")(watch_cmd)
    app.command("stop")(stop_cmd)
    app.command("validate")(validate_cmd)
    app.command("version")(version_cmd)


def runs_cmd(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON (one object per run) instead of a table."),
    limit: int = typer.Option(30, "--limit", "-n", help="Show at most N runs (newest first); 0 = all."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Only runs of this kind (process, serve, ...)."),
    active: bool = typer.Option(False, "--active", help="Only runs that are still going."),
) -> None:
    """List the runs of the workspace, newest first."""
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
        print_json([s.__dict__ | {"progress": s.progress} for s in rows])
        return
    if not rows:
        cli.echo_err(f"no runs in {cli.workspace / 'runs'}")
        return
    table = Table(box=None, header_style="bold")
    for col in ("RUN", "STATUS", "PROGRESS", "OK", "FAILED", "RATE", "ETA", "COST", "STARTED"):
        table.add_column(col, no_wrap=True)
    for s in rows:
        c = s.counters
        table.add_row(
            s.run_id, f"[{STATUS_STYLE.get(s.status, '')}]{s.status}[/]", fmt.progress_text(c), str(c.get("ok", 0)),
            str(c.get("failed", 0)), fmt.rate(s.rate.get("items_per_s")), fmt.duration(s.eta_s),
            fmt.cost(s.cost_usd), fmt.timestamp(s.started),
        )
    cli.out.print(table)


def show_cmd(
    ctx: typer.Context,
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run id, unique prefix, folder, or 'last'."),
    as_json: bool = typer.Option(False, "--json", help="Print run.json, state.json and events as JSON."),
    events: int = typer.Option(10, "--events", "-e", help="How many recent events to show."),
) -> None:
    """Show one run: what it is, its figures, its last events."""
    cli: CliState = ctx.obj
    run = find_run(cli.workspace, run_ref)
    info, state, evs = run.read_run(), run.read_state(), run.read_events(last=events)
    status = run.effective_status()
    if as_json:
        print_json({"run": info, "state": state, "status": status, "events": evs, "path": str(run.path)})
        return
    out = cli.out
    out.print(f"[bold]{run.run_id}[/]  kind={info.get('kind')}  status=[{STATUS_STYLE.get(status, '')}]{status}[/]")
    out.print(f"path     {run.path}", markup=False)
    out.print(f"command  {' '.join(info.get('argv') or [])}", markup=False)
    out.print(f"started  {fmt.timestamp(info.get('started'))}   finished {fmt.timestamp(info.get('finished'))}   pid {info.get('pid')}@{info.get('host')}")
    for label, data in (("inputs", info.get("inputs")), ("outputs", info.get("outputs"))):
        for k, v in (data or {}).items():
            out.print(f"{label:<8} {k} = {v}", markup=False)
    if state:
        out.print(state_view(run.run_id, {**state, "status": status}, evs))


def watch_cmd(
    ctx: typer.Context,
    run_ref: str = typer.Argument("last", metavar="RUN", help="Run id, unique prefix, folder, or 'last'."),
    plain: bool = typer.Option(False, "--plain", help="One plain line per interval, even on a terminal."),
    interval: float = typer.Option(1.0, "--interval", "-i", min=0.1, help="Seconds between refreshes."),
    once: bool = typer.Option(False, "--once", help="Print the current state once and exit."),
) -> None:
    """Follow a run live until it ends; exit with the run's outcome (0 done, 1 failed, 130 cancelled)."""
    cli: CliState = ctx.obj
    run = find_run(cli.workspace, run_ref)
    err = cli.err
    live_mode = err.is_terminal and not plain and not once

    def snapshot() -> tuple[str, dict]:
        status = run.effective_status()
        return status, {**run.read_state(), "status": status}

    if live_mode:
        with Live(console=err, auto_refresh=False) as live:
            while True:
                status, state = snapshot()
                live.update(state_view(run.run_id, state, run.read_events(last=5)), refresh=True)
                if status not in ACTIVE_STATUSES:
                    break
                time.sleep(interval)
    else:
        last_event_ts = 0.0
        while True:
            status, state = snapshot()
            for ev in run.read_events(last=20):
                if ev.get("ts", 0) > last_event_ts and ev.get("type") in ("alert", "phase", "log", "finish", "status"):
                    cli.echo_err(event_line(ev))
            last_event_ts = max([last_event_ts] + [e.get("ts", 0) for e in run.read_events(last=1)])
            cli.out.print(f"{run.run_id} {fmt.plain_state_line(state)}", markup=False, highlight=False)
            if once or status not in ACTIVE_STATUSES:
                break
            time.sleep(interval)
    status = run.effective_status()
    if status not in ACTIVE_STATUSES:
        raise typer.Exit(STATUS_EXIT.get(status, 0))


def stop_cmd(
    ctx: typer.Context,
    run_ref: str = typer.Argument(..., metavar="RUN", help="Run id, unique prefix, folder, or 'last'."),
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
