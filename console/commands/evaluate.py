"""``rollout eval``: evaluate checkpoints' solutions in a sandbox and show the learning curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from console import format as fmt
from console.commands.jobcommand import job_command
from console.output import CliState, print_json, print_jsonl, versioned
from engine.errors import InputError
from engine.options.base import JobOptions
from engine.options.evaluate import CheckpointEvalJob

eval_app = typer.Typer(help="Evaluate checkpoints: run their solutions against tests in a sandbox.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


def run_eval(cli: CliState, model: JobOptions, plain: bool) -> int:
    """``eval checkpoints``: --dry-run prints the plan; otherwise run, then print the summary."""
    from console.commands.jobcommand import job_record
    from console.jobrun import run_in_foreground
    from engine.evaluation.results import read_summary

    assert isinstance(model, CheckpointEvalJob)
    if model.dry_run:
        _, _, plan = model.eval_plan()
        if model.json_out:
            print_json(versioned(plan.to_dict()))
        else:
            _print_plan(cli, plan)
        return 0
    launch = model.make_job(cli.config)
    result = run_in_foreground(cli, launch.kind, launch.job, plain=plain, inputs=launch.inputs, outputs=launch.outputs,
                               title=launch.title, extra=job_record(cli, model))
    summary = read_summary(Path(model.output_dir))
    if summary:
        if model.json_out:
            print_json(versioned(summary))
        else:
            _print_summary(cli, summary)
    return result.exit_code


job_command(eval_app, "checkpoints", CheckpointEvalJob, run=run_eval,
            help="Discover checkpoints under --solutions-dir, evaluate every solution file, write metrics and a "
            "learning curve.")


@eval_app.command("curve")
def curve_cmd(
    ctx: typer.Context,
    output_dir: Path = typer.Option(..., "--output-dir", help="The --output-dir of an evaluation."),
    metric: str = typer.Option("pass@1", "--metric", help="pass@1 or pass@K."),
    json_out: bool = typer.Option(False, "--json", help="The curve as JSON Lines: one object per checkpoint."),
) -> None:
    """Print the learning curve (metric by checkpoint step) of a finished evaluation."""
    from engine.evaluation.curve import curve_from_output, text_chart
    from engine.evaluation.results import SUMMARY_NAME

    if not (output_dir / SUMMARY_NAME).is_file():
        raise InputError(f"{output_dir / SUMMARY_NAME} not found: run 'rollout eval checkpoints --output-dir {output_dir}' first")
    points = curve_from_output(output_dir, metric)
    if json_out:
        for point in points:  # JSON Lines, one object per checkpoint
            print_jsonl(versioned({"metric": metric, **point}))
    else:
        typer.echo(text_chart(points, metric))


def _print_plan(cli: CliState, plan: Any) -> None:
    d = plan.to_dict()
    typer.echo(f"plan: suite {d['suite']}, executor {d['executor']}, {d['max_workers'] or 'auto'} worker(s)")
    typer.echo(f"{'step':>10}  {'checkpoint':<28} {'scheme':<11} {'files':>5} {'solutions':>9} {'tests':>8}  state")
    for c, cp in zip(d["checkpoints"], plan.checkpoints):
        state = "done, skipped" if c["already_evaluated"] else (
            f"resume ({sum(f['done'] for f in c['files'])} done)" if any(f["done"] for f in c["files"]) else "pending")
        if not c["files"]:
            state = "no solution files"
        typer.echo(f"{c['step']:>10}  {c['name']:<28} {c['scheme']:<11} {len(c['files']):>5} {cp.samples:>9} {cp.tests:>8}  {state}")
        for f in c["files"]:
            bad = f", {f['bad_lines']} bad line(s)" if f["bad_lines"] else ""
            typer.echo(f"{'':>12}{f['file']}: {f['samples']} solution(s), {f['tests']} test(s){bad}")
    typer.echo(f"to run: {d['pending_samples']} solution(s), {d['pending_tests']} test run(s); "
               f"estimate ~{fmt.duration(d['estimate_s'])} (rough)")


def _print_summary(cli: CliState, summary: dict[str, Any]) -> None:
    from engine.evaluation.curve import text_chart

    cps = summary.get("checkpoints", [])
    ks = sorted({k for c in cps for k in c if k.startswith("pass@")}, key=lambda k: int(k.split("@")[1]))
    header = f"{'step':>10}  {'checkpoint':<28} {'status':<13} {'samples':>7} " + " ".join(f"{k:>8}" for k in ks)
    typer.echo(header)
    for c in cps:
        vals = " ".join(f"{c[k]:>8.4f}" if isinstance(c.get(k), (int, float)) else f"{'-':>8}" for k in ks)
        typer.echo(f"{c['step']:>10}  {c['name']:<28} {c['status']:<13} {c.get('samples', 0):>7} {vals}")
    typer.echo("")
    typer.echo(text_chart(summary.get("curve", [])))
