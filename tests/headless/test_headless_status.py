"""``rollout status``: one line for all active runs, for tmux and scripts; fast path without Typer."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from headless_helpers import invoke, launcher, make_run

from console.launcher import fast_status_args
from engine.monitor.sampler import monitor_dir
from engine.runs import atomic_write_json
from engine.status import latest_sample_path

#: modules a status line must not pay for (the issue names the first four)
HEAVY = ("textual", "aiohttp", "datasets", "pydantic_settings", "typer", "rich", "pydantic", "psutil")


@pytest.fixture
def busy(workspace: Path) -> Path:
    """200 runs: 160 finished long ago, 30 running (one waiting), 6 lost and 4 failed just now."""
    now = time.time()
    for i in range(160):
        make_run(workspace, "process", "done", done=10, total=10, started=now - 86400 * 3, finished=now - 86400 * 3 + 50)
    for i in range(29):
        make_run(workspace, "process", "running", done=25, total=100, cost=0.5, eta=60.0 + i)
    make_run(workspace, "serve", "waiting", done=10, total=100, cost=2.0, eta=7200.0,
             alerts=[{"name": "endpoint_down", "severity": "warn", "message": "x"},
                     {"name": "error_rate_high", "severity": "critical", "message": "y"}])
    for i in range(6):
        make_run(workspace, "eval", "lost", done=1, total=5)
    for i in range(4):
        make_run(workspace, "process", "failed", done=3, total=9, finished=now - 120, exit_code=1)
    # the box sampler's newest sample, where engine.monitor.sampler writes it
    path = Path(latest_sample_path(workspace))
    path.parent.mkdir(parents=True)
    atomic_write_json(path, {"time": now, "metrics": {"gpu": {"count": 8, "mean_util": 87.4}}})
    return workspace


def test_tmux_line_on_200_runs(busy: Path) -> None:
    result = launcher(busy, "status", "--tmux")
    assert result.returncode == 0 and result.stderr == ""
    line = result.stdout
    assert line.endswith("\n") and line.count("\n") == 1
    assert "\x1b" not in line  # never ANSI: tmux would print the escapes
    # count and worst status (coloured), overall progress, ETA, cost, worst alert, problems, GPU
    assert line.startswith("#[fg=yellow]30 runs waiting#[default] ")
    assert " 24% " in line  # (29*25 + 10) / (29*100 + 100)
    assert " eta 2h00m " in line and " $16.50 " in line
    assert "#[fg=red]⚠ error_rate_high +1#[default]" in line
    assert "#[fg=red]✖ 10 failed/lost#[default]" in line
    assert line.rstrip().endswith("gpu 87%")
    assert re.sub(r"#\[[^\]]*\]", "", line) == launcher(busy, "status").stdout  # the plain line, styles removed


def test_status_json_shape(busy: Path) -> None:
    result = launcher(busy, "status", "--json")
    data = json.loads(result.stdout)
    assert data["schema_version"] == 1
    assert data["active"] == 30 and data["worst_status"] == "waiting" and data["recent_problems"] == 10
    assert (data["done"], data["total"]) == (29 * 25 + 10, 3000) and data["progress"] == pytest.approx(0.2450, abs=1e-4)
    assert data["eta_s"] == 7200.0 and data["cost_usd"] == pytest.approx(16.5)
    assert data["worst_alert"]["name"] == "error_rate_high" and data["alert_count"] == 2
    assert (data["gpu_util_pct"], data["gpu_count"]) == (87.4, 8)
    assert {r["status"] for r in data["runs"]} == {"running", "waiting", "lost", "failed"} and len(data["runs"]) == 40
    # the Typer command prints the same summary
    typer_data = json.loads(invoke("status", "--json").stdout)
    assert {k: v for k, v in typer_data.items() if k != "runs"} == {k: v for k, v in data.items() if k != "runs"}


def test_status_imports_no_heavy_library(busy: Path) -> None:
    result = launcher(busy, "status", "--tmux", extra=["-X", "importtime"])
    loaded = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "engine" in loaded and "console" in loaded  # the trace is real
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_idle_fallback_and_stale_sample(workspace: Path) -> None:
    assert launcher(workspace, "status").stdout == "rollout idle\n"
    assert launcher(workspace, "status", "--tmux").stdout == "#[fg=colour244]rollout idle#[default]\n"
    make_run(workspace, "process", "done", done=5, total=5)
    path = Path(latest_sample_path(workspace))
    path.parent.mkdir(parents=True)
    atomic_write_json(path, {"time": time.time() - 3600, "metrics": {"gpu": {"count": 1, "mean_util": 50}}})
    data = json.loads(launcher(workspace, "status", "--json").stdout)
    assert data["active"] == 0 and data["gpu_util_pct"] is None  # an hour-old sample is not shown


def test_sample_path_is_the_samplers(workspace: Path) -> None:
    assert Path(latest_sample_path(workspace)) == monitor_dir(workspace) / "latest.json"


def test_index_lets_status_skip_finished_runs(busy: Path) -> None:
    before = json.loads(launcher(busy, "status", "--json").stdout)
    assert invoke("history", "--json").exit_code == 0  # builds the index
    assert (busy / "history.sqlite3").is_file()
    after = json.loads(launcher(busy, "status", "--json").stdout)
    assert {k: v for k, v in after.items() if k != "runs"} == {k: v for k, v in before.items() if k != "runs"}


@pytest.mark.parametrize("argv, expected", [
    (["status"], {"workspace": None, "config": None, "tmux": False, "json": False}),
    (["status", "--tmux"], {"workspace": None, "config": None, "tmux": True, "json": False}),
    (["-w", "/x", "--config=c.toml", "status", "--json"], {"workspace": "/x", "config": "c.toml", "tmux": False, "json": True}),
    (["--color", "never", "status"], {"workspace": None, "config": None, "tmux": False, "json": False, "color": "never"}),
    (["status", "--help"], None), (["status", "--bogus"], None), (["runs"], None), (["-w"], None), ([], None),
    (["--version", "status"], None),
])
def test_fast_path_takes_only_plain_status(argv: list[str], expected: dict | None) -> None:
    assert fast_status_args(argv) == expected


def test_fast_path_leaves_a_broken_config_to_the_cli(workspace: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("workspace = \n")
    assert launcher(workspace, "--config", str(bad), "status").returncode == 0  # ROLLOUT_HOME wins: no config read
    result = launcher(workspace, "--config", str(bad), "status", unset=("ROLLOUT_HOME",))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "invalid TOML" in result.stderr and str(bad) in result.stderr


def test_workspace_from_the_config_file(workspace: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    make_run(elsewhere, "process", "running", done=1, total=4)
    cfg = tmp_path / "rollout.toml"
    cfg.write_text(f'workspace = "{elsewhere}"\n')
    result = launcher(workspace, "status", unset=("ROLLOUT_HOME",), cwd=tmp_path)
    assert result.stdout.startswith("1 run 25%"), result.stdout
