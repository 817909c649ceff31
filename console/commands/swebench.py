"""``rollout eval swebench`` and ``rollout eval repro``: the SWE-bench harness as a watched job.

Written by hand from the option models in engine/swebench/options.py (help and defaults come
from the models, so nothing is declared twice).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List, Optional

import typer

from console.jobrun import run_in_foreground
from console.output import CliState, print_json
from engine.swebench.options import ReproOptions, SwebenchEvalOptions


def _h(model: type, name: str) -> str:
    return str(model.model_fields[name].description)


def _d(model: type, name: str) -> Any:
    return model.model_fields[name].default


def register(app: typer.Typer) -> None:
    from console.commands.evaluate import eval_app

    eval_app.command("swebench")(swebench_cmd)
    eval_app.command("repro")(repro_cmd)


S, R = SwebenchEvalOptions, ReproOptions


def swebench_cmd(
    ctx: typer.Context,
    predictions: Path = typer.Option(..., "--predictions", help=_h(S, "predictions")),
    dataset: str = typer.Option(_d(S, "dataset"), "--dataset", help=_h(S, "dataset")),
    split: str = typer.Option(_d(S, "split"), "--split", help=_h(S, "split")),
    run_id: Optional[str] = typer.Option(None, "--run-id", help=_h(S, "run_id")),
    max_workers: int = typer.Option(_d(S, "max_workers"), "--max-workers", min=1, help=_h(S, "max_workers")),
    timeout: int = typer.Option(_d(S, "timeout"), "--timeout", min=1, help=_h(S, "timeout")),
    instance_ids: Optional[List[str]] = typer.Option(None, "--instance-ids", help=_h(S, "instance_ids") + " Repeat or comma-separate."),
    work_dir: Path = typer.Option(_d(S, "work_dir"), "--work-dir", help=_h(S, "work_dir")),
    stall_after: float = typer.Option(_d(S, "stall_after"), "--stall-after", help=_h(S, "stall_after")),
    repro: Optional[List[str]] = typer.Option(None, "--repro", help=_h(S, "repro")),
    rollout_runs: Optional[List[str]] = typer.Option(None, "--rollout-runs", help=_h(S, "rollout_runs")),
    json_out: bool = typer.Option(False, "--json", help="The final figures as JSON on stdout."),
    plain: bool = typer.Option(False, "--plain", help="Plain progress lines even on a terminal."),
    harness_python: Optional[str] = typer.Option(None, "--harness-python", envvar="ROLLOUT_SWEBENCH_PYTHON", help=_h(S, "harness_python")),
    harness_args: Optional[List[str]] = typer.Argument(None, help=_h(S, "harness_args"), show_default=False),
) -> None:
    """Run the official SWE-bench harness on a predictions file as a child job; follow, score and report it."""
    from engine.swebench.driver import make_swebench_job, prepare_eval
    from engine.swebench.preflight import check_docker, check_harness

    cli: CliState = ctx.obj
    opts = SwebenchEvalOptions(
        predictions=predictions, dataset=dataset, split=split, run_id=run_id, max_workers=max_workers, timeout=timeout,
        instance_ids=_split_ids(instance_ids), work_dir=work_dir, stall_after=stall_after, repro=list(repro or []),
        rollout_runs=list(rollout_runs or []), harness_python=harness_python, harness_args=list(harness_args or []),
    )
    check_harness(opts.harness_python or sys.executable)
    check_docker()
    plan = prepare_eval(opts, cli.config.scorecard, workspace=cli.workspace, prices=cli.config.prices)
    note = plan.resume_note()
    if note:
        cli.echo_err(note)
    result = run_in_foreground(
        cli, "swebench", make_swebench_job(plan), plain=plain,
        inputs=opts.to_inputs(plan.harness_run_id, plan.logs_dir),
        outputs={"logs_dir": str(plan.logs_dir)},
        title=f"swebench {plan.harness_run_id} ({plan.total} instance(s))",
    )
    figures = result.state.get("figures") or {}
    if json_out:
        print_json({k: v for k, v in figures.items() if k != "errors_list"})
    elif figures.get("monitor_line"):
        typer.echo(figures["monitor_line"])
    raise typer.Exit(result.exit_code)


def repro_cmd(
    ctx: typer.Context,
    tests: Path = typer.Option(..., "--tests", help=_h(R, "tests")),
    predictions: Path = typer.Option(..., "--predictions", help=_h(R, "predictions")),
    dataset: str = typer.Option(_d(R, "dataset"), "--dataset", help=_h(R, "dataset")),
    split: str = typer.Option(_d(R, "split"), "--split", help=_h(R, "split")),
    run_id: Optional[str] = typer.Option(None, "--run-id", help=_h(R, "run_id")),
    max_workers: int = typer.Option(_d(R, "max_workers"), "--max-workers", min=1, help=_h(R, "max_workers")),
    timeout: int = typer.Option(_d(R, "timeout"), "--timeout", min=1, help=_h(R, "timeout")),
    instance_ids: Optional[List[str]] = typer.Option(None, "--instance-ids", help=_h(R, "instance_ids")),
    work_dir: Path = typer.Option(_d(R, "work_dir"), "--work-dir", help=_h(R, "work_dir")),
    stall_after: float = typer.Option(_d(R, "stall_after"), "--stall-after", help=_h(R, "stall_after")),
    output: Optional[Path] = typer.Option(None, "--output", help=_h(R, "output")),
    json_out: bool = typer.Option(False, "--json", help="The results summary as JSON on stdout."),
    plain: bool = typer.Option(False, "--plain", help="Plain progress lines even on a terminal."),
    harness_python: Optional[str] = typer.Option(None, "--harness-python", envvar="ROLLOUT_SWEBENCH_PYTHON", help=_h(R, "harness_python")),
    harness_args: Optional[List[str]] = typer.Argument(None, help=_h(R, "harness_args"), show_default=False),
) -> None:
    """Run reproduction tests before and after each patch in the harness's images: the inputs of BRS."""
    from engine.swebench.preflight import check_docker, check_harness
    from engine.swebench.repro import make_repro_job, prepare_repro

    cli: CliState = ctx.obj
    opts = ReproOptions(tests=tests, predictions=predictions, dataset=dataset, split=split, run_id=run_id,
                        max_workers=max_workers, timeout=timeout, instance_ids=_split_ids(instance_ids),
                        work_dir=work_dir, stall_after=stall_after, output=output, harness_python=harness_python,
                        harness_args=list(harness_args or []))
    check_harness(opts.harness_python or sys.executable)
    check_docker()
    plan = prepare_repro(opts)
    result = run_in_foreground(
        cli, "repro", make_repro_job(plan), plain=plain, inputs=plan.inputs(), outputs={"results": str(plan.output)},
        title=f"repro {plan.run_id} ({len(plan.ids)} instance(s))",
    )
    figures = result.state.get("figures") or {}
    if json_out:
        print_json({k: v for k, v in figures.items() if k != "errors_list"})
    raise typer.Exit(result.exit_code)


def _split_ids(values: Optional[List[str]]) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out += [p for p in v.replace(",", " ").split() if p]
    return out
