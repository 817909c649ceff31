"""``rollout demo``: a synthetic job to try the console and the run directory with."""

from __future__ import annotations

import typer

from console.jobrun import run_in_foreground
from console.output import CliState


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)


def demo_cmd(
    ctx: typer.Context,
    items: int = typer.Option(200, "--items", min=0, help="How many fake items."),
    delay: float = typer.Option(0.05, "--delay", min=0.0, help="Seconds per item."),
    fail_every: int = typer.Option(0, "--fail-every", min=0, help="Fail every Nth item (0: never)."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Items at a time."),
    plain: bool = typer.Option(False, "--plain", help="Plain progress lines even on a terminal."),
) -> None:
    """Run a synthetic job that writes a run directory (try the console or 'rollout watch' on it)."""
    from engine.demo import make_demo_job  # the job runner loads when a job runs

    cli: CliState = ctx.obj
    result = run_in_foreground(
        cli, "demo", make_demo_job(items, delay, fail_every, concurrency, tokens_per_item=500), plain=plain,
        title=f"demo {items} items",
    )
    raise typer.Exit(result.exit_code)
