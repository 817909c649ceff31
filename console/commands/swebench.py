"""``rollout eval swebench`` and ``rollout eval repro``: generated from their option models
(engine/options/swebench.py) by console/commands/jobcommand.py, like every job command."""

from __future__ import annotations

import typer

from console.commands.jobcommand import job_command, job_record
from console.output import CliState, print_json, versioned
from engine.options.base import JobOptions
from engine.options.swebench import ReproJob, SwebenchEvalJob


def register(app: typer.Typer) -> None:
    from console.commands.evaluate import eval_app

    job_command(eval_app, "swebench", SwebenchEvalJob, run=run_harness_job)
    job_command(eval_app, "repro", ReproJob, run=run_harness_job)


def run_harness_job(cli: CliState, model: JobOptions, plain: bool) -> int:
    """Run the job; then its final figures as JSON (``--json``) or its closing line on stdout."""
    from console.jobrun import run_in_foreground

    notify = cli.echo_err if plain or not cli.err.is_terminal else None
    launch = model.make_job(cli.config, warn=lambda line: cli.echo_err(f"warning: {line}"), notify=notify)
    result = run_in_foreground(cli, launch.kind, launch.job, plain=plain, title=launch.title, inputs=launch.inputs,
                               outputs=launch.outputs, extra=job_record(cli, model))
    state = result.state or {}
    if getattr(model, "json_out", False):
        figures = state.get("figures") or {}
        print_json(versioned({k: v for k, v in figures.items() if k != "errors_list"}))
    elif launch.summary is not None and launch.summary(state):
        typer.echo(launch.summary(state))
    return result.exit_code
