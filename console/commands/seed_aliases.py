"""The replaced scripts' spellings: ``rollout bugfixer --stage gen_step1 ...`` and ``rollout testwriter ...``.

Each stage maps to one ``rollout agentless`` command with the role filled in; every other flag
is passed through unchanged, so the old command lines keep working.
"""

from __future__ import annotations

import typer
from typer.main import get_command

from console.output import CliState
from engine.errors import InputError

#: seed stage name → agentless sub-command
STAGES = {
    "gen_step1": "gen-step1",
    "proc_step1_gen_step2": "gen-step2",
    "gen_step2": "gen-step2",
    "proc_step2": "extract",
}

_PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def register(app: typer.Typer) -> None:
    for role in ("bugfixer", "testwriter"):
        app.command(
            role,
            context_settings=_PASSTHROUGH,
            help=f"Seed spelling: 'rollout {role} --stage gen_step1|proc_step1_gen_step2|proc_step2 ...' "
            f"runs 'rollout agentless <stage> --role {role} ...'.",
        )(_make_alias(app, role))


def _make_alias(app: typer.Typer, role: str):
    def alias(ctx: typer.Context) -> None:
        args = list(ctx.args)
        stage = _pop_stage(args)
        if stage is None:
            raise InputError(f"rollout {role}: --stage is required ({', '.join(STAGES)})")
        if stage not in STAGES:
            raise InputError(f"rollout {role}: unknown --stage {stage!r}: use one of {', '.join(STAGES)}")
        cli: CliState = ctx.obj
        argv: list[str] = []
        if cli.workspace_flag:
            argv += ["--workspace", cli.workspace_flag]
        if cli.config_path:
            argv += ["--config", cli.config_path]
        argv += ["--color", cli.color, "agentless", STAGES[stage], "--role", role, *args]
        code = get_command(app).main(argv, prog_name="rollout", standalone_mode=False)
        raise typer.Exit(int(code or 0))

    alias.__name__ = f"{role}_alias"
    return alias


def _pop_stage(args: list[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg == "--stage" and i + 1 < len(args):
            value = args[i + 1]
            del args[i:i + 2]
            return value
        if arg.startswith("--stage="):
            del args[i]
            return arg.split("=", 1)[1]
    return None
