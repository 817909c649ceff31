"""``rollout report``: seed 004's scorecard report (Markdown/JSON, criteria, phases, plots).

Written by hand from engine/report/options.py's model (help text from the model)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from console.output import CliState
from engine.errors import InputError
from engine.report.options import ReportOptions

M = ReportOptions


def _h(name: str) -> str:
    return str(M.model_fields[name].description)


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)


def report_cmd(
    ctx: typer.Context,
    runs: List[str] = typer.Option(..., "--runs", help=_h("runs") + " Repeat for phases side by side."),
    criteria: Optional[str] = typer.Option(None, "--criteria", help=_h("criteria")),
    phase: Optional[str] = typer.Option(None, "--phase", help=_h("phase")),
    formats: str = typer.Option("md", "--format", help=_h("formats")),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help=_h("output")),
    plots: Optional[Path] = typer.Option(None, "--plots", help=_h("plots")),
    dataset: Optional[str] = typer.Option(None, "--dataset", help=_h("dataset")),
    split: Optional[str] = typer.Option(None, "--split", help=_h("split")),
    predictions: Optional[Path] = typer.Option(None, "--predictions", help=_h("predictions")),
    repro: Optional[List[str]] = typer.Option(None, "--repro", help=_h("repro")),
    rollout_runs: Optional[List[str]] = typer.Option(None, "--rollout-runs", help=_h("rollout_runs")),
) -> None:
    """Score phases from harness reports and write seed 004's report; exit 1 when a phase fails its criteria."""
    from pydantic import ValidationError

    from engine.report.make import build_report, verdict_exit

    cli: CliState = ctx.obj
    try:
        opts = ReportOptions(runs=[r for v in runs for r in v.split(",") if r], criteria=criteria, phase=phase,
                             formats=[formats], output=output, plots=plots, dataset=dataset, split=split,
                             predictions=predictions, repro=list(repro or []), rollout_runs=list(rollout_runs or []))
    except ValidationError as exc:
        raise InputError(f"--{exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None
    out = build_report(opts, cli.config, cli.workspace)
    if opts.output is None:
        for fmt in opts.formats:
            sys.stdout.write(out.texts[fmt])
    for path in out.files:
        cli.echo_err(f"wrote {path}")
    raise typer.Exit(verdict_exit(out.report))
