"""Parity: every console action (console/actions.py) has a CLI command, and rerun/retry work headless."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from typer.main import get_command

from console.actions import ACTIONS
from console.cli import app
from engine.options.registry import jobs

#: actions that only change the console itself (navigation, look, its own notifications)
CONSOLE_ONLY = {
    "app.quit", "app.help", "app.theme", "runs.pause", "runs.faster", "runs.slower",
    "table.sort", "table.sort_reverse", "table.first", "table.last", "table.down", "table.up",
    # acknowledging and muting silence the console's toasts and bell; the alert itself stays in state
    "alerts.ack", "alerts.mute", "alerts.mute_everywhere", "alerts.unmute",
    "alerts.close", "run.back", "logs.back", "help.close", "help.down", "help.up", "help.top", "help.bottom",
}


def command_path(cli: str) -> list[str]:
    """``rollout stop --now RUN`` → ["stop"]: the words before the first flag or placeholder."""
    words = cli.split()[1:]
    out = []
    for w in words:
        if w.startswith("-") or w.isupper() or w == "...":
            break
        out.append(w)
    return out


def resolve(path: list[str]) -> Any:
    """The command ``rollout <path>`` names, or None (Typer vendors click: duck-typed groups)."""
    cmd: Any = get_command(app)
    ctx = cmd.make_context("rollout", ["--help"], resilient_parsing=True)
    for word in path:
        if not hasattr(cmd, "get_command"):
            return None
        cmd = cmd.get_command(ctx, word)
        if cmd is None:
            return None
    return cmd


def test_every_console_action_has_a_cli_command_or_is_console_only() -> None:
    without = {a.id for a in ACTIONS if a.cli is None}
    assert without == CONSOLE_ONLY, "an action without a CLI command must be console-only, listed here"
    for action in ACTIONS:
        if action.cli is None:
            continue
        assert action.cli.startswith("rollout "), action
        if action.id == "app.launch":
            continue  # one action, every job: checked below
        path = command_path(action.cli)
        assert path and resolve(path) is not None, f"{action.id}: {action.cli!r} is not a rollout command"
    assert all(a.cli for a in ACTIONS if a.mutates), "what changes runs must be doable headless"


def test_every_launchable_job_is_a_cli_command() -> None:
    found = {spec.name: resolve(list(spec.cli_path)) for spec in jobs()}
    assert found and all(found.values()), {k for k, v in found.items() if v is None}


def _finished_demo(rollout_cmd: list[str], child_env: dict[str, str], workspace: Path, cwd: Path) -> str:
    r = subprocess.run(rollout_cmd + ["demo", "--items", "12", "--delay", "0", "--fail-every", "4", "--plain"],
                       env=child_env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr  # the demo fails every 4th item
    runs = sorted((workspace / "runs").iterdir())
    return runs[-1].name


def test_rerun_prints_and_runs_the_recorded_command(tmp_path: Path, workspace: Path, rollout_cmd: list[str],
                                                    child_env: dict[str, str]) -> None:
    run_id = _finished_demo(rollout_cmd, child_env, workspace, tmp_path)
    recorded = json.loads((workspace / "runs" / run_id / "run.json").read_text())["command"]
    printed = subprocess.run(rollout_cmd + ["rerun", "--print", run_id], env=child_env, capture_output=True,
                             text=True, timeout=60)
    assert printed.returncode == 0 and printed.stdout.split() == recorded
    again = subprocess.run(rollout_cmd + ["rerun", run_id], env=child_env, cwd="/", capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 1 and "rerun" in again.stderr  # the same job, the same failures
    runs = sorted((workspace / "runs").iterdir())
    assert len(runs) == 2
    info = json.loads((runs[-1] / "run.json").read_text())
    assert info["command"] == recorded and info["cwd"] == str(tmp_path)  # ran where the job ran


def test_retry_and_rerun_of_an_unknown_run_are_one_line(workspace: Path, rollout_cmd: list[str],
                                                        child_env: dict[str, str]) -> None:
    for verb in ("rerun", "retry"):
        r = subprocess.run(rollout_cmd + [verb, "nope-nothing"], env=child_env, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
