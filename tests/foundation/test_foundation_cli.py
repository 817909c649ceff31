"""The headless CLI through typer's CliRunner: data on stdout, one-line errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from console.cli import app
from engine.runs import create_run

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


REQ = '{"custom_id": "%s", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m", "messages": [{"role": "user", "content": "x"}]}}'


@pytest.mark.parametrize(
    "content, fragment",
    [
        (REQ % "a" + "\n{not json\n", ":2: invalid JSON"),
        ('"just a string"\n', ":1: not a JSON object"),
        ('{"method": "POST", "url": "/v1/chat/completions", "body": {}}\n', ":1: missing 'custom_id'"),
        (REQ % "a" + "\n" + REQ % "a" + "\n", ":2: duplicate custom_id 'a'"),
        ('{"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m"}}\n', ":1: unsupported url"),
        ('{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}}\n', ":1: body has no 'messages'"),
        ("", ":1: empty file"),
    ],
)
def test_validate_prints_one_line_per_bad_input_and_exits_2(workspace: Path, content: str, fragment: str) -> None:
    f = workspace / "bad.jsonl"
    f.write_text(content)
    result = invoke("validate", str(f))
    assert result.exit_code == 2
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(str(f)) and fragment in lines[0], result.stdout


def test_validate_non_utf8(workspace: Path) -> None:
    f = workspace / "bad.jsonl"
    f.write_bytes(b'{"custom_id": "\xff"}\n')
    result = invoke("validate", str(f))
    assert result.exit_code == 2 and f"{f}:1: non-UTF-8" in result.stdout


def test_validate_good_file(workspace: Path) -> None:
    f = workspace / "good.jsonl"
    f.write_text(REQ % "a" + "\n" + REQ % "b" + "\n")
    result = invoke("validate", str(f))
    assert result.exit_code == 0 and result.stdout == "" and "OK" in result.stderr


def test_runs_json_and_show(workspace: Path) -> None:
    run = create_run(workspace, "demo", ["rollout", "demo"])
    run.write_state({"status": "done", "counters": {"total": 4, "done": 4, "ok": 4}, "cost_usd": 1.5})
    result = invoke("runs", "--json")
    assert result.exit_code == 0
    data = [json.loads(line) for line in result.stdout.splitlines()]  # JSON Lines, one object per run
    assert data[0]["run_id"] == run.run_id and data[0]["status"] == "done" and data[0]["progress"] == 1.0
    shown = invoke("show", run.run_id[:10], "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["state"]["cost_usd"] == 1.5
    table = invoke("runs")
    assert table.exit_code == 0 and "demo-" in table.stdout


def test_unknown_run_is_one_line_exit_2(workspace: Path) -> None:
    result = invoke("show", "nothing-like-this")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "no run matches 'nothing-like-this'" in result.stderr


def test_watch_once_prints_a_plain_line(workspace: Path) -> None:
    run = create_run(workspace, "demo")
    run.write_state({"status": "done", "counters": {"total": 10, "done": 10, "ok": 9, "failed": 1}})
    result = invoke("watch", run.run_id, "--once")
    assert "10/10 (100.0%)" in result.stdout and "failed=1" in result.stdout
    assert result.exit_code == 0


def test_stop_on_a_finished_run_is_an_input_error(workspace: Path) -> None:
    run = create_run(workspace, "demo")
    run.write_state({"status": "done"})
    result = invoke("stop", run.run_id)
    assert result.exit_code == 2 and "is not running" in result.stderr


def test_config_init_show_and_errors(workspace: Path) -> None:
    cfg = workspace / "rollout.toml"
    assert invoke("config", "init", str(cfg)).exit_code == 0
    assert invoke("config", "init", str(cfg)).exit_code == 2  # exists: --force needed
    shown = invoke("--config", str(cfg), "config", "show")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["theme"] == "rollout-dark"
    cfg.write_text('theme = "x"\n[prices.m]\ninput_per_1m = "cheap"\n')
    bad = invoke("--config", str(cfg), "config", "show")
    assert bad.exit_code == 2
    assert str(cfg) in bad.stderr and "prices.m.input_per_1m" in bad.stderr and bad.stderr.count("\n") == 1
    cfg.write_text("colour = 1\n")
    unknown = invoke("--config", str(cfg), "config", "show")
    assert unknown.exit_code == 2 and "unknown key 'colour'" in unknown.stderr
    cfg.write_text("theme = \n")
    syntax = invoke("--config", str(cfg), "config", "show")
    assert syntax.exit_code == 2 and "invalid TOML" in syntax.stderr


def test_environment_overrides_config_and_flags_override_both(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = workspace / "rollout.toml"
    cfg.write_text('theme = "from-file"\nrefresh_interval = 3\n')
    monkeypatch.setenv("ROLLOUT_REFRESH_INTERVAL", "5")
    data = json.loads(invoke("--config", str(cfg), "config", "show").stdout)
    assert data["theme"] == "from-file" and data["refresh_interval"] == 5.0
    other = workspace / "elsewhere"
    data = json.loads(invoke("--workspace", str(other), "--config", str(cfg), "config", "show").stdout)
    assert data["workspace"] == str(other.resolve())


def test_local_rollout_toml_is_found(workspace: Path) -> None:
    (Path.cwd() / "rollout.toml").write_text('theme = "rollout-light"\n')
    assert json.loads(invoke("config", "show").stdout)["theme"] == "rollout-light"


def test_version_and_help() -> None:
    assert invoke("version").stdout.startswith("rollout ")
    help_text = invoke("--help").stdout
    for cmd in ("runs", "show", "watch", "stop", "validate", "config"):
        assert cmd in help_text
