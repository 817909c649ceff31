"""``rollout agentless ...``: the Agentless-style stages. Commands live in agentless_*.py."""

from __future__ import annotations

from enum import Enum
from typing import Any

import typer

agentless_app = typer.Typer(
    help="Agentless-style SWE-bench stages: localization and repair/test requests, patch extraction.",
    no_args_is_help=True,
)


class Role(str, Enum):
    bugfixer = "bugfixer"
    testwriter = "testwriter"


def seed_option(default: Any, *names: str, **kw: Any) -> Any:
    """An option under the seed's underscore spelling (``--output_file``) plus the hyphenated alias."""
    flags = list(names)
    for n in names:
        if "_" in n and n.startswith("--"):
            flags.append(n.replace("_", "-"))
    return typer.Option(default, *dict.fromkeys(flags), **kw)


def register(app: typer.Typer) -> None:
    # importing the command modules attaches their commands to agentless_app
    from console.commands import agentless_extract, agentless_gen  # noqa: F401

    app.add_typer(agentless_app, name="agentless")
