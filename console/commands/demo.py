"""``rollout demo``: a synthetic job to try the console and the run directory with."""

from __future__ import annotations

import typer

from console.commands.jobcommand import job_command
from engine.options.demo import DemoJob


def register(app: typer.Typer) -> None:
    job_command(app, "demo", DemoJob,
                help="Run a synthetic job that writes a run directory (try the console or 'rollout watch' on it).")
