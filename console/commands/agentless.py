"""``rollout agentless ...``: the Agentless-style stages. Commands live in agentless_*.py."""

from __future__ import annotations

import typer

agentless_app = typer.Typer(
    help="Agentless-style SWE-bench stages: localization and repair/test requests, patch extraction.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    # importing the command modules attaches their commands to agentless_app
    from console.commands import agentless_extract, agentless_gen  # noqa: F401

    app.add_typer(agentless_app, name="agentless")
