"""``rollout config``: show the merged config, write a commented starter file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from console.output import CliState, print_json, versioned
from engine.locations import CONFIG_FILENAME, user_config_path
from engine.errors import InputError

config_app = typer.Typer(help="Show or create the configuration.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


@config_app.command("show")
def show(
    ctx: typer.Context,
    as_json: bool = typer.Option(True, "--json", hidden=True, help="JSON (the only form; accepted for scripts)."),
) -> None:
    """Print the merged configuration (file < environment < flags) as JSON, secrets redacted."""
    cli: CliState = ctx.obj
    cfg = cli.config
    cli.echo_err(f"config file: {cfg.source_file or '(none: defaults)'}; workspace: {cli.workspace}")
    print_json(versioned(cfg.redacted() | {"workspace": str(cli.workspace)}))


@config_app.command("init")
def init(
    ctx: typer.Context,
    path: Optional[str] = typer.Argument(None, help=f"Where to write (default: ./{CONFIG_FILENAME}; --user for the user config)."),
    user: bool = typer.Option(False, "--user", help=f"Write the per-user config ({user_config_path()})."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented config file with every key."""
    cli: CliState = ctx.obj
    target = Path(path) if path else (user_config_path() if user else Path.cwd() / CONFIG_FILENAME)
    if target.exists() and not force:
        raise InputError(f"{target} already exists: pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    from engine.config import CONFIG_TEMPLATE

    target.write_text(CONFIG_TEMPLATE)
    cli.echo_err(f"wrote {target}")


@config_app.command("path")
def path_cmd(ctx: typer.Context) -> None:
    """Print the config file in use (empty when none)."""
    cli: CliState = ctx.obj
    typer.echo(cli.config.source_file or "")
