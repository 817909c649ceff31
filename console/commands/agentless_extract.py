"""Stage 3 commands of ``rollout agentless``: ``extract`` (the seed's proc_step2) and ``validate-preds``.

``extract`` is generated from its option model (engine/options/agentless.py: the seed's
underscore flags plus hyphenated aliases).
"""

from __future__ import annotations


import typer

from console.commands.agentless import agentless_app
from console.commands.jobcommand import job_command
from console.output import CliState
from engine.errors import ExitCode
from engine.options.agentless import ExtractJob


job_command(agentless_app, "extract", ExtractJob,
            help="Turn step-2 answers into patches or reproduction tests, and one voted prediction per instance.")


@agentless_app.command("validate-preds")
def validate_preds_cmd(
    ctx: typer.Context,
    file: str = typer.Argument(..., help="Predictions file (JSONL or a JSON list)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only problems, no warnings or summary."),
) -> None:
    """Check a SWE-bench predictions file: fields, diffs that parse, no file or hunk twice."""
    from engine.agentless.predictions import validate_predictions

    cli: CliState = ctx.obj
    report = validate_predictions(file)
    if not quiet:
        for w in report.warnings:
            cli.echo_err(f"warning: {w}")
    for p in report.problems:
        cli.out.print(str(p), markup=False, highlight=False, soft_wrap=True)
    if not quiet:
        verdict = "ok" if report.ok else f"{len(report.problems)} problem(s)"
        cli.echo_err(f"{file}: {report.predictions} predictions, {report.files_in_patches} file diffs, "
                     f"{report.empty_patches} empty patches: {verdict}")
    # problems in the file are input problems: exit 2, as `rollout validate` does
    raise typer.Exit(int(ExitCode.OK) if report.ok else int(ExitCode.USAGE))
