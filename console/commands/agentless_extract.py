"""Stage 3 commands of ``rollout agentless``: ``extract`` (the seed's proc_step2) and ``validate-preds``.

Flags keep the seed's underscore spellings (``--input_file``) and take hyphenated aliases
(``--input-file``).
"""

from __future__ import annotations


import typer

from console.commands.agentless import Role, agentless_app, seed_option
from console.jobrun import run_in_foreground
from console.output import CliState
from engine.errors import ExitCode


@agentless_app.command("extract")
def extract_cmd(
    ctx: typer.Context,
    role: Role = seed_option(Role.bugfixer, "--role", help="bugfixer (SEARCH/REPLACE → patches) or testwriter (reproduction tests)."),  # noqa: B008
    input_file: str = seed_option(..., "--input_file", help="Step-2 responses (OpenAI Batch output JSONL)."),
    repostructure_dir: str = seed_option(..., "--repostructure_dir", help="Folder of Agentless structure files <instance_id>.json."),
    save_dir: str = seed_option(..., "--save_dir", help="Output folder (samples/, output_<pass>_processed.jsonl, predictions.jsonl, failures.jsonl)."),
    dataset: str | None = seed_option(None, "--dataset", help="Only instances of this dataset (hub name, parquet/JSON/JSONL file, saved folder)."),
    split: str = seed_option("test", "--split", help="Dataset split."),
    step1_file: str | None = seed_option(None, "--step1_file", help="Test writer: the step-1 responses naming the test file to edit."),
    passk: int | None = seed_option(None, "--passk", min=1, help="Passes per instance: output files for passes 0..K-1; later passes are skipped."),
    num_workers: int = seed_option(2, "--num_workers", min=0, help="Worker processes (0: in this process)."),
    item_timeout: float = seed_option(30.0, "--item_timeout", min=0.0, help="Seconds allowed per sample (0: no limit)."),
    model_name: str | None = seed_option(None, "--model_name", help="model_name_or_path in predictions (default: the responses' model)."),
    plain: bool = typer.Option(False, "--plain", help="Plain progress lines even on a terminal."),
) -> None:
    """Turn step-2 answers into patches or reproduction tests, and one voted prediction per instance."""
    from engine.agentless.extract.stage3 import ExtractOptions, make_extract_job  # heavy: loaded when run

    cli: CliState = ctx.obj
    opts = ExtractOptions(
        role=role.value, input_file=input_file, repostructure_dir=repostructure_dir, save_dir=save_dir,
        dataset=dataset, split=split, step1_file=step1_file, passk=passk, num_workers=num_workers,
        item_timeout_s=item_timeout, model_name=model_name,
    )
    job = make_extract_job(opts)
    result = run_in_foreground(
        cli, "extract", job, plain=plain, title=f"extract {role.value} {input_file}",
        inputs={"input_file": input_file, "repostructure_dir": repostructure_dir, "dataset": dataset, "step1_file": step1_file},
        outputs={"save_dir": save_dir},
    )
    raise typer.Exit(result.exit_code)


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
