"""Shared fixtures. ../shared/data holds the real data the tests read (never copied here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"{SHARED_DATA} is missing: the tests read the shared data beside the repo")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test's per-user state dir (the default workspace, the config and price memos) is its
    own, never the user's (a ROLLOUT_HOME of the shell running the tests is set aside too)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
    monkeypatch.delenv("ROLLOUT_HOME", raising=False)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh workspace; ROLLOUT_HOME points at it so child processes use it too."""
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.setenv("ROLLOUT_HOME", str(ws))
    monkeypatch.setenv("NO_COLOR", "1")
    # keep user config files on this machine out of the tests
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.chdir(tmp_path)
    return ws


@pytest.fixture
def rollout_cmd() -> list[str]:
    """The argv prefix that runs the real CLI in a child process: the installed entry point
    (console/launcher.py), with its Typer-free paths for status, history and process."""
    return [sys.executable, "-m", "console.launcher"]


@pytest.fixture
def child_env(workspace: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["ROLLOUT_HOME"] = str(workspace)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env
