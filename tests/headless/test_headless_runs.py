"""Reading commands pipe cleanly: whole ids in TSV, JSON Lines with schema_version, no SIGPIPE noise."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from headless_helpers import child_env, invoke, launcher, make_run

from console.commands.runs import TSV_COLUMNS


def test_runs_piped_prints_whole_ids_tab_separated(workspace: Path) -> None:
    long_kind = "a-very-long-job-kind-name-that-would-be-cut"
    runs = [make_run(workspace, long_kind, "running", done=3, total=9, cost=1.25, eta=12.0),
            make_run(workspace, "process", "lost", done=1, total=2)]
    result = invoke("runs")  # CliRunner's stdout is not a terminal: the piped form
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    rows = {line.split("\t")[0]: line.split("\t") for line in lines}
    assert set(rows) == {r.run_id for r in runs}  # whole ids, pasteable
    assert all(len(r) == len(TSV_COLUMNS) for r in rows.values())
    first = dict(zip(TSV_COLUMNS, rows[runs[0].run_id]))
    assert first["status"] == "running" and first["kind"] == long_kind and first["done"] == "3" and first["total"] == "9"
    assert first["cost_usd"] == "1.25" and first["eta_s"] == "12.0" and "T" in first["started"]
    assert dict(zip(TSV_COLUMNS, rows[runs[1].run_id]))["status"] == "lost"
    grep = [line for line in lines if "\tlost\t" in line]
    assert len(grep) == 1 and invoke("show", grep[0].split("\t")[0]).exit_code == 0


def test_runs_json_is_one_object_per_line(workspace: Path) -> None:
    for i in range(3):
        make_run(workspace, "process", "done", done=4, total=4, exit_code=0)
    result = invoke("runs", "--json", "--limit", "2")
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["schema_version"] == 1 and first["status"] == "done" and first["progress"] == 1.0
    assert first["exit_code"] == 0 and first["run_id"].startswith("process-")
    assert result.stderr == ""


def test_show_json_and_config_show_json(workspace: Path) -> None:
    run = make_run(workspace, "process", "done", done=2, total=2, cost=0.5)
    shown = json.loads(invoke("show", run.run_id, "--json").stdout)
    assert shown["schema_version"] == 1 and shown["run_id"] == run.run_id and shown["status"] == "done"
    assert shown["state"]["cost_usd"] == 0.5 and shown["run"]["kind"] == "process"
    cfg = invoke("config", "show", "--json")
    assert cfg.exit_code == 0
    data = json.loads(cfg.stdout)
    assert data["schema_version"] == 1 and data["workspace"] == str(workspace.resolve())
    assert "config file" in cfg.stderr  # the diagnostic stays off stdout


def test_monitor_json_has_schema_version(workspace: Path) -> None:
    result = invoke("monitor", "--once", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["schema_version"] == 1 and "metrics" in data


def test_sigpipe_is_quiet(workspace: Path) -> None:
    for i in range(150):
        run = make_run(workspace, "process", "done", done=i, total=150)
        run.update_run(title="t" * 8000)  # ~1.2 MB of JSON: far more than a pipe holds
    for args in (["runs", "--json", "--limit", "0"], ["runs", "--limit", "0"], ["history", "--json"]):
        # the reader takes one line and goes away, as `rollout runs --json | head -1` does
        proc = subprocess.Popen([sys.executable, "-m", "console.launcher", *args], env=child_env(workspace),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
        assert first.strip(), args
        assert err == "", (args, err)  # no traceback, no "BrokenPipeError", no "Exception ignored"
        # 141 (SIGPIPE, as any Unix tool) when output was still coming; 0 when it all fit the pipe
        assert code in (0, 128 + signal.SIGPIPE), (args, code)
        if "--json" in args:  # the pipe did break
            assert code == 128 + signal.SIGPIPE


def test_sigpipe_with_a_shell_pipeline(workspace: Path) -> None:
    for i in range(150):
        make_run(workspace, "process", "done", done=i, total=150)
    out = subprocess.run(f"{sys.executable} -m console.launcher runs --json --limit 0 | head -1", shell=True,
                         env=child_env(workspace), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == ""
    assert json.loads(out.stdout)["schema_version"] == 1


def test_completion_offers_run_ids(workspace: Path) -> None:
    runs = [make_run(workspace, "process", "done"), make_run(workspace, "serve", "running")]
    env = child_env(workspace) | {"_ROLLOUT_COMPLETE": "complete_bash", "COMP_WORDS": "rollout show proc", "COMP_CWORD": "2"}
    out = subprocess.run([sys.executable, "-m", "console.cli"], env=env, capture_output=True, text=True, timeout=60)
    offered = out.stdout.split()
    assert any(runs[0].run_id in o for o in offered) and not any(runs[1].run_id in o for o in offered), out.stdout


def test_completion_offers_checkpoint_folders(tmp_path: Path) -> None:
    from console.completion import complete_checkpoint_dir

    train = tmp_path / "train"
    for name in ("checkpoint-500", "global_step_98", "logs"):
        (train / name).mkdir(parents=True)
    (tmp_path / "other").mkdir()
    assert complete_checkpoint_dir(f"{train}/") == [f"{train}/checkpoint-500/", f"{train}/global_step_98/", f"{train}/logs/"]
    assert complete_checkpoint_dir(f"{tmp_path}/") == [f"{tmp_path}/train/", f"{tmp_path}/other/"]  # holders first


def test_help_lists_exit_codes_and_new_commands(workspace: Path) -> None:
    text = launcher(workspace, "--help").stdout
    for cmd in ("status", "watch", "history", "gc", "runs", "show"):
        assert f"\n  {cmd} " in text
    assert "Exit codes:" in text
    for code in ("0 ", "1 ", "2 ", "3 ", "130 "):
        assert f"\n    {code}" in text
    assert "\x1b" not in text
