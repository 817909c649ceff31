"""``rollout watch RUN|--all``: follow runs until they end, then exit with their outcome.

Three ways to show it: a live panel on a terminal; plain lines (no ANSI) when piped or with
``--plain``; JSON Lines with ``--jsonl`` (a ``tick`` object per run and interval, an ``event``
object per new event, an ``end`` object per run as it ends), for scripts.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import typer

from console import format as fmt
from console.completion import complete_run_id
from console.output import CliState, print_jsonl, stdout_is_terminal, versioned
from engine.errors import ExitCode, InputError
from engine.runs import ACTIVE_STATUSES, RunDir, find_run, list_runs

#: exit code for a final status when run.json holds none (a lost job never wrote one)
STATUS_EXIT = {"done": int(ExitCode.OK), "failed": int(ExitCode.ITEMS_FAILED),
               "cancelled": int(ExitCode.INTERRUPTED), "lost": int(ExitCode.ITEMS_FAILED)}
#: event types worth a line in plain mode (progress is already in the tick line)
PLAIN_EVENT_TYPES = ("alert", "phase", "log", "finish", "status", "error", "stopping")


def register(app: typer.Typer) -> None:
    app.command("watch")(watch_cmd)


def run_exit_code(run: RunDir, status: str) -> int:
    """The exit code the run's own command ended with (run.json), else the one its status means."""
    code = run.read_run().get("exit_code")
    if status != "lost" and isinstance(code, int):
        return code
    return STATUS_EXIT.get(status, int(ExitCode.OK))


def overall_exit_code(codes: list[int]) -> int:
    """One code for several runs: the worst error (3 > 2 > 1), else 130 if any was cancelled, else 0."""
    errors = [c for c in codes if c not in (0, int(ExitCode.INTERRUPTED))]
    if errors:
        return max(errors)
    return int(ExitCode.INTERRUPTED) if int(ExitCode.INTERRUPTED) in codes else int(ExitCode.OK)


@dataclass
class _Watched:
    run: RunDir
    last_event_ts: float = 0.0
    ended: bool = False
    exit_code: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    status: str = "starting"

    def refresh(self) -> None:
        info, state = self.run.read_run(), self.run.read_state()
        self.status = self.run.effective_status(state=state, run=info)
        self.state = {**state, "status": self.status}

    def new_events(self) -> list[dict[str, Any]]:
        fresh = [e for e in self.run.read_events(last=50) if float(e.get("ts") or 0) > self.last_event_ts]
        if fresh:
            self.last_event_ts = max(float(e.get("ts") or 0) for e in fresh)
        return fresh


def watch_cmd(
    ctx: typer.Context,
    run_ref: Optional[str] = typer.Argument(None, metavar="[RUN]", help="Run id, unique prefix, folder, or 'last' "
                                            "(default: last).", autocompletion=complete_run_id),
    all_runs: bool = typer.Option(False, "--all", "-a", help="Every run active now, until all have ended."),
    plain: bool = typer.Option(False, "--plain", help="One plain line per interval, even on a terminal."),
    jsonl: bool = typer.Option(False, "--jsonl", help="JSON Lines for scripts: tick, event and end objects."),
    interval: float = typer.Option(1.0, "--interval", "-i", min=0.1, help="Seconds between refreshes."),
    once: bool = typer.Option(False, "--once", help="Print the current state once and exit."),
) -> None:
    """Follow a run live until it ends; exit with the run's exit code (0 done, 1 failed or lost, 130 cancelled).

    Plain lines (no colour codes) when stdout is not a terminal. With --all, the exit code is the
    worst of the runs' codes.
    """
    cli: CliState = ctx.obj
    if all_runs and run_ref:
        raise InputError("give a RUN or --all, not both")
    if all_runs:
        runs = [r for r in list_runs(cli.workspace) if r.effective_status() in ACTIVE_STATUSES]
        if not runs:
            cli.echo_err(f"no active runs in {cli.workspace / 'runs'}")
            return
    else:
        runs = [find_run(cli.workspace, run_ref or "last")]
    watched = [_Watched(r) for r in runs]
    live_mode = not (plain or jsonl or once) and stdout_is_terminal()
    if live_mode:
        _watch_live(cli, watched, interval)
    else:
        _watch_lines(cli, watched, interval, jsonl=jsonl, once=once)
    if once and any(not w.ended for w in watched):
        return
    raise typer.Exit(overall_exit_code([w.exit_code for w in watched]))


def _settle(w: _Watched) -> bool:
    """Mark a run that has ended; True the first time."""
    if not w.ended and w.status not in ACTIVE_STATUSES:
        w.ended = True
        w.exit_code = run_exit_code(w.run, w.status)
        return True
    return False


def _watch_live(cli: CliState, watched: list[_Watched], interval: float) -> None:
    from rich.console import Group
    from rich.live import Live

    from console.render import state_view

    with Live(console=cli.out, auto_refresh=False) as live:
        while True:
            for w in watched:
                w.refresh()
                _settle(w)
            live.update(Group(*(state_view(w.run.run_id, w.state, w.run.read_events(last=5 if len(watched) == 1 else 1))
                                for w in watched)), refresh=True)
            if all(w.ended for w in watched):
                break
            time.sleep(interval)


def _watch_lines(cli: CliState, watched: list[_Watched], interval: float, *, jsonl: bool, once: bool) -> None:
    from console.render import event_line

    while True:
        for w in watched:
            if w.ended:
                continue
            w.refresh()
            events = w.new_events()
            if jsonl:
                for ev in events:
                    print_jsonl(versioned({"type": "event", "run_id": w.run.run_id, "event": ev}))
                print_jsonl(tick_record(w))
            else:
                for ev in events:
                    if ev.get("type") in PLAIN_EVENT_TYPES:
                        cli.echo_err(f"{w.run.run_id} {event_line(ev)}")
                print_line(f"{w.run.run_id} {fmt.plain_state_line(w.state)}")
            if _settle(w):
                if jsonl:
                    print_jsonl(versioned({"type": "end", "ts": round(time.time(), 3), "run_id": w.run.run_id,
                                           "status": w.status, "exit_code": w.exit_code}))
                else:
                    print_line(f"{w.run.run_id} ended: {w.status} (exit {w.exit_code})")
        if once or all(w.ended for w in watched):
            return
        time.sleep(interval)


def print_line(text: str) -> None:
    """A plain stdout line, flushed (a script tailing the pipe sees it at once), never styled."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def tick_record(w: _Watched) -> dict[str, Any]:
    s = w.state
    return versioned({
        "type": "tick", "ts": round(time.time(), 3), "run_id": w.run.run_id, "status": w.status,
        "phase": s.get("phase"), "counters": s.get("counters") or {}, "tokens": s.get("tokens") or {},
        "rate": s.get("rate") or {}, "eta_s": s.get("eta_s"), "cost_usd": s.get("cost_usd"),
        "alerts": s.get("alerts") or [],
    })
