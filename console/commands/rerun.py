"""``rollout rerun RUN`` and ``rollout retry RUN``: the run view's rerun and retry-failures, headless.

Both run the command in the foreground, in the job's own working directory (its relative paths
are the job's), with this workspace; ``--print`` only prints it (for scripts, or to edit it).
"""

from __future__ import annotations

import os
import shlex
from typing import Any, NoReturn

import typer

from console.completion import complete_run_id
from console.output import CliState

RUN_HELP = "Run id, unique prefix, folder, or 'last'."


def register(app: typer.Typer) -> None:
    app.command("rerun")(rerun_cmd)
    app.command("retry")(retry_cmd)


def rerun_cmd(
    ctx: typer.Context,
    run_ref: str = typer.Argument(..., metavar="RUN", help=RUN_HELP, autocompletion=complete_run_id),
    print_only: bool = typer.Option(False, "--print", help="Print the command instead of running it."),
) -> None:
    """Run a run's recorded command again: it resumes, skipping what is already done."""
    from engine.retry import rerun_plan
    from engine.runs import find_run

    cli: CliState = ctx.obj
    _go(cli, rerun_plan(find_run(cli.workspace, run_ref)), print_only)


def retry_cmd(
    ctx: typer.Context,
    run_ref: str = typer.Argument(..., metavar="RUN", help=RUN_HELP, autocompletion=complete_run_id),
    print_only: bool = typer.Option(False, "--print", help="Print the command instead of running it."),
) -> None:
    """Retry only what failed in a run (process: the errors file's requests; stages 1-2: the failed
    instances; other jobs: the rerun, which redoes only what is incomplete)."""
    from engine.retry import retry_plan
    from engine.runs import find_run

    cli: CliState = ctx.obj
    _go(cli, retry_plan(find_run(cli.workspace, run_ref), cli.config), print_only)


def _go(cli: CliState, plan: Any, print_only: bool) -> NoReturn:
    from engine.launcher import rollout_program

    if print_only:
        typer.echo(shlex.join(plan.argv))
        raise typer.Exit(0)
    cli.echo_err(f"{plan.what}: {shlex.join(plan.argv)}" + (f" (in {plan.cwd})" if plan.cwd else ""))
    words = list(plan.argv[1:] if plan.argv and plan.argv[0] == "rollout" else plan.argv)
    source = getattr(cli.config, "source_file", None)
    if source:  # the same config, wherever the job ran
        words = ["--config", os.path.abspath(str(source)), *words]
    os.environ["ROLLOUT_HOME"] = str(cli.workspace)  # the same workspace, wherever the job ran
    if plan.cwd and os.path.isdir(plan.cwd):
        os.chdir(plan.cwd)
    program = rollout_program()
    os.execv(program[0], [*program, *words])  # the job owns this process from here: signals, exit code
