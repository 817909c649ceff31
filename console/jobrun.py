"""Run an engine job in the foreground of a CLI command: live view on a TTY, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable

from console import format as fmt
from console.output import CliState
from console.stdio import stderr_is_terminal

if TYPE_CHECKING:  # the job runner and rich load when a job runs, not when `rollout --help` lists it
    from engine.jobs import JobContext, JobOutcome, JobResult, StateHook
    from engine.options.base import JobOptions
    from engine.runs import RunDir

#: a plain progress line is printed at most this often (seconds) when not on a TTY
PLAIN_EVERY_S = 1.0


def run_in_foreground(
    cli: CliState,
    kind: str,
    job: Callable[[JobContext], Awaitable[JobOutcome | None]],
    *,
    argv: list[str] | None = None,
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    title: str | None = None,
    plain: bool | None = None,
    hooks: Iterable[StateHook] = (),
    extra: dict[str, Any] | None = None,
    run: RunDir | None = None,
) -> JobResult:
    """Run ``job`` with a run directory; show progress on stderr; return the result.

    Live view when stderr is a terminal (unless ``plain``), else one plain line per second.
    ``extra`` goes into run.json (the job's name and equivalent command, for reruns).
    ``run`` continues an existing run (a batch followed from a later process).
    RolloutError propagates (the CLI prints it as one line with its exit code).
    """
    from engine.jobs import run_job

    use_live = (not plain) and stderr_is_terminal()
    holder: dict[str, Any] = {"run": None, "last_plain": 0.0}
    live = None
    if use_live:  # rich loads for the live view only: plain lines are written as they are
        from rich.live import Live

        from console.render import state_view

        live = Live(console=cli.err, auto_refresh=False, transient=False)

    def on_start(run: RunDir) -> None:
        holder["run"] = run
        cli.echo_err(f"run {run.run_id}: {run.path}")

    def on_state(state: dict[str, Any]) -> None:
        if live is not None:
            live.update(state_view(state.get("run_id", "?"), state), refresh=True)
            return
        now = time.monotonic()
        if now - holder["last_plain"] >= PLAIN_EVERY_S or state.get("status") in ("done", "failed", "cancelled"):
            holder["last_plain"] = now
            cli.echo_err(fmt.plain_state_line(state))

    def echo(line: str) -> None:
        if live is not None:
            live.console.print(line, markup=False, highlight=False)
        else:
            cli.echo_err(line)

    from engine.alerts import state_hooks  # the job's alert rules (engine.jobs knows none)

    hooks = [*hooks, *state_hooks(cli.config)]
    if live is not None:
        live.start()
    try:
        result = run_job(
            kind, job, workspace=cli.workspace, argv=argv if argv is not None else sys.argv, config=cli.config,
            inputs=inputs, outputs=outputs, title=title, echo=echo, on_state=on_state, on_start=on_start,
            hooks=hooks, extra=extra, run=run,
        )
    finally:
        if live is not None:
            live.stop()
    if result.message:
        cli.echo_err(result.message)
    cli.echo_err(f"{kind} {result.status} (exit {result.exit_code}): {fmt.plain_state_line(result.state)}")
    return result


def run_model(cli: CliState, model: JobOptions, plain: bool) -> int:
    """Run a resolved model in the foreground (live view or plain lines) and return its exit code."""
    notify = cli.echo_err if plain or not stderr_is_terminal() else None  # (rich loads for the live view only)
    launch = model.make_job(cli.config, warn=lambda line: cli.echo_err(f"warning: {line}"), notify=notify)
    result = run_in_foreground(
        cli, launch.kind, launch.job, plain=plain, title=launch.title, inputs=launch.inputs, outputs=launch.outputs,
        extra=job_record(cli, model),
    )
    if launch.summary is not None:
        line = launch.summary(result.state or {})
        if line:
            cli.echo_err(line)
    return result.exit_code


def job_record(cli: CliState, model: JobOptions) -> dict[str, Any]:
    """What run.json keeps about the job so the console can show, rerun and retry it."""
    from engine.runs import redact_argv

    return {"job": model.job_name, "command": redact_argv(model.argv()), "options": model.given_values(),
            "config_file": cli.config.source_file}
