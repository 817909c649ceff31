"""``rollout select``: instances for a phase (stratified, representative, random; baseline kept).

Written by hand from engine/selection/options.py's model (help and defaults from the model)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Optional

import typer

from console.output import CliState
from engine.errors import InputError
from engine.selection.options import STRATEGIES, SelectOptions

M = SelectOptions


def _h(name: str) -> str:
    return str(M.model_fields[name].description)


def register(app: typer.Typer) -> None:
    app.command("select")(select_cmd)


def select_cmd(
    ctx: typer.Context,
    dataset: str = typer.Option(..., "--dataset", help=_h("dataset")),
    split: str = typer.Option(M.model_fields["split"].default, "--split", help=_h("split")),
    strategy: str = typer.Option(M.model_fields["strategy"].default, "--strategy", help=_h("strategy")),
    n: int = typer.Option(..., "--n", "-n", min=1, help=_h("n")),
    ensure_baseline: Optional[Path] = typer.Option(None, "--ensure-baseline", help=_h("ensure_baseline")),
    seed: int = typer.Option(M.model_fields["seed"].default, "--seed", help=_h("seed")),
    size_bins: int = typer.Option(M.model_fields["size_bins"].default, "--size-bins", min=1, max=10, help=_h("size_bins")),
    output: Path = typer.Option(..., "--output", "-o", help=_h("output")),
) -> None:
    """Choose N instances of a dataset for a scale-up phase and write their ids."""
    from engine.agentless.dataset import read_ids_file
    from engine.selection.strategies import select
    from engine.swebench.dataset import load_eval_instances

    cli: CliState = ctx.obj
    if strategy not in STRATEGIES:
        raise InputError(f"unknown --strategy {strategy!r}: use {', '.join(STRATEGIES)}")
    opts = SelectOptions(dataset=dataset, split=split, strategy=strategy, n=n, ensure_baseline=ensure_baseline,
                         seed=seed, size_bins=size_bins, output=output)
    instances = load_eval_instances(opts.dataset, opts.split)
    baseline = read_ids_file(opts.ensure_baseline) if opts.ensure_baseline else []
    result = select(instances, opts.strategy, opts.n, seed=opts.seed, baseline=baseline, size_bins=opts.size_bins)
    for w in result.warnings:
        cli.echo_err(f"warning: {w}")
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    if opts.output.suffix == ".json":
        opts.output.write_text(json.dumps({"dataset": opts.dataset, "split": opts.split, "strategy": opts.strategy,
                                           "n": len(result.ids), "seed": opts.seed, "baseline": result.baseline,
                                           "command": opts.argv(), "ids": result.ids}, indent=2) + "\n")
    else:
        opts.output.write_text("".join(i + "\n" for i in result.ids))
    repos = Counter(instances[i].repo for i in result.ids)
    everyone = Counter(i.repo for i in instances.values())
    typer.echo(f"{len(result.ids)} instance(s) ({opts.strategy}, seed {opts.seed}, {len(result.baseline)} baseline) -> {opts.output}")
    typer.echo(f"{'repo':<28} {'selected':>8} {'share':>7} {'dataset':>8} {'share':>7}")
    for repo, c in sorted(repos.items(), key=lambda kv: (-kv[1], kv[0])):
        typer.echo(f"{repo:<28} {c:>8} {100 * c / len(result.ids):>6.1f}% {everyone[repo]:>8} "
                   f"{100 * everyone[repo] / len(instances):>6.1f}%")
