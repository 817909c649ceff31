"""Start-up stays cheap: what `rollout --help` and a command's --help load (bench/bench_headless.py times them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from headless_helpers import launcher

#: loaded only by the commands that use them, never to print help
NOT_FOR_HELP = ("aiohttp", "httpx", "textual", "datasets", "pydantic_settings", "docker", "psutil", "markdown_it",
                "pygments", "orjson", "unidiff", "prometheus_client")


def loaded_modules(workspace: Path, *args: str) -> set[str]:
    result = launcher(workspace, *args, extra=["-X", "importtime"])
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}


def test_top_level_help_loads_no_command_module(workspace: Path) -> None:
    mods = loaded_modules(workspace, "--help")
    assert not {m for m in mods if m.startswith("console.commands.")} - {"console.commands", "console.commands.seed_aliases"}
    assert "pydantic" not in {m.split(".")[0] for m in mods}  # option models load with their command


def test_every_listed_command_loads() -> None:
    import typer
    import typer.main

    from console.cli import LAZY_COMMANDS, app

    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    names = group.list_commands(ctx)
    assert set(LAZY_COMMANDS) <= set(names)
    for name in names:
        cmd = group.get_command(ctx, name)
        assert cmd is not None and cmd.name == name, name


@pytest.mark.parametrize("args", [("--help",), ("process", "--help"), ("serve", "--help"), ("agentless", "--help"),
                                  ("eval", "checkpoints", "--help"), ("runs", "--help")])
def test_help_loads_no_engine_heavyweights(workspace: Path, args: tuple[str, ...]) -> None:
    tops = {m.split(".")[0] for m in loaded_modules(workspace, *args)}
    assert "typer" in tops  # the trace is real
    assert not tops & set(NOT_FOR_HELP), sorted(tops & set(NOT_FOR_HELP))


def test_reading_commands_load_no_job_machinery(workspace: Path) -> None:
    mods = loaded_modules(workspace, "runs", "--json")
    assert not {m.split(".")[0] for m in mods} & {"aiohttp", "httpx", "textual", "datasets", "pydantic_settings"}
    assert "engine.jobs" not in mods and "engine.processor.job" not in mods
