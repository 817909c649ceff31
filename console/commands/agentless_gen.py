"""Stage 1 and 2 commands of ``rollout agentless`` (gen-step1, gen-step2, gen-repair, structure).

gen-step1, gen-step2 and gen-repair are generated from their option models
(engine/options/agentless.py: the seed's underscore flags plus hyphenated aliases,
``--instance_ids a b c`` as in the seed).
"""

from __future__ import annotations

from typing import Optional

import typer

from console.commands.agentless import agentless_app
from console.commands.jobcommand import job_command
from console.output import CliState
from engine.options.agentless import RepairJob, Stage1Job, Stage2Job

job_command(agentless_app, "gen-step1", Stage1Job,
            help="Stage 1: localization requests (which files to edit / which test files) for a dataset's instances.")
job_command(agentless_app, "gen-step2", Stage2Job,
            help="Stage 2: parse step-1 answers; repair requests (full found files) or reproduction-test requests.")
job_command(agentless_app, "gen-repair", RepairJob,
            help="Agentless repair in batch form: requests from localization outputs (sample 0 greedy).")


@agentless_app.command("structure")
def structure_cmd(
    ctx: typer.Context,
    repo_dir: str = typer.Option(..., "--repo-dir", "--repo_dir", help="A git checkout of the repository."),
    instance_id: str = typer.Option(..., "--instance-id", "--instance_id", help="Instance id stored in the file."),
    output: str = typer.Option(..., "--output", "-o", help="Structure JSON to write (e.g. <dir>/<instance_id>.json)."),
    commit: Optional[str] = typer.Option(None, "--commit", help="Read the files at this commit (git objects); default: the working tree."),
    repo: Optional[str] = typer.Option(None, "--repo", help="owner/name: the 'repo' field and the root-files key (default: the folder name)."),
    nested: bool = typer.Option(False, "--nested", help="List nested classes/functions too (upstream Agentless's ast.walk)."),
    no_git: bool = typer.Option(False, "--no-git", "--no_git", help="Read a folder that is not a git checkout, every file under it."),
) -> None:
    """Build an Agentless repo-structure JSON from a git checkout (no network)."""
    from engine.agentless.structure_build import build, write_structure

    cli: CliState = ctx.obj
    built = build(repo_dir, commit=commit, repo=repo, instance_id=instance_id, nested=nested, use_git=not no_git)
    for warning in built.warnings:
        cli.echo_err(f"warning: {warning}")
    out = write_structure(built.obj, output)
    cli.echo_err(f"wrote {out} ({built.obj['repo']} from the {built.source}: {built.files} files, "
                 f"{built.python_files} Python)")
