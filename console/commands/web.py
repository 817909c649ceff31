"""``rollout web``: the same console, served to a browser by textual-serve.

Each browser tab gets its own console process (``rollout`` with this workspace and config),
started by textual-serve and talking to the page over a websocket. It binds 127.0.0.1 unless told
otherwise: there is no login, so a wider address is only for a network you trust (or an SSH
tunnel: ``ssh -L 8000:127.0.0.1:8000 box``).
"""

from __future__ import annotations

import shlex
import sys

import typer

from console.output import CliState
from engine.errors import InputError


def register(app: typer.Typer) -> None:
    app.command("web")(web_cmd)


def web_cmd(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (no login: keep it local)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    read_only: bool = typer.Option(False, "--read-only", help="The served console cannot launch or stop runs."),
) -> None:
    """Serve the console to a web browser (textual-serve)."""
    cli: CliState = ctx.obj
    try:
        from textual_serve.server import Server
    except ImportError:
        raise InputError("rollout web needs the textual-serve package: pip install textual-serve") from None
    argv = [sys.executable, "-m", "console.cli", "--workspace", str(cli.workspace)]
    if cli.config_path:
        argv += ["--config", cli.config_path]
    if read_only:
        argv.append("--read-only")
    if host not in ("127.0.0.1", "localhost", "::1"):
        cli.echo_err(f"rollout web: listening on {host} with no login: anyone who reaches it controls the console")
    cli.echo_err(f"rollout web: http://{host}:{port}/ (Ctrl+C stops)")
    Server(shlex.join(argv), host=host, port=port, title="rollout").serve()
