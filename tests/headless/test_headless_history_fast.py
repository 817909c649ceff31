"""``rollout history`` answered by console/launcher.py without Typer: the same output, options,
errors and completion as the Typer command; the index lists ``runs/`` only when it changed;
the terminal table fits its width (bench/bench_headless.py times all of it on 10,000 runs)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer.main
from headless_helpers import DEAD_PID, child_env, invoke, launcher, make_run

from console.cli import app
from console.fastopts import parse_options
from console.history_view import HISTORY_OPTIONS, history_output
from console.launcher import fast_command, split_global_args
from console.status_line import STATUS_OPTIONS
from engine import history_index as ix

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def busy(workspace: Path) -> Path:
    now = time.time()
    make_run(workspace, "process", "done", done=100, total=100, tokens=(5000, 700), cost=1.5,
             started=now - 10 * 86400, finished=now - 10 * 86400 + 600, exit_code=0)
    make_run(workspace, "eval", "failed", done=8, total=10, failed=2, started=now - 7200, finished=now - 3600,
             exit_code=1)
    make_run(workspace, "serve", "lost", done=1, total=3)
    make_run(workspace, "process", "running", done=1, total=3)
    return workspace


def loaded(result_stderr: str) -> set[str]:
    return {line.split("|")[-1].strip().split(".")[0] for line in result_stderr.splitlines()
            if line.startswith("import time:")}


@pytest.mark.parametrize("args", [("--json",), ("--kind", "process", "--json"), ("-n", "2", "--json"),
                                  ("--since=7d", "--json"), (), ("--limit", "1")])
def test_the_fast_path_prints_what_the_typer_command_prints(busy: Path, args: tuple[str, ...]) -> None:
    typer_result = invoke("history", *args)
    assert typer_result.exit_code == 0, typer_result.stderr
    fast = launcher(busy, "history", *args, extra=["-X", "importtime"])
    assert fast.returncode == 0
    assert fast.stdout == typer_result.stdout and fast.stdout
    assert [ln for ln in fast.stderr.splitlines() if not ln.startswith("import time:")] == \
        typer_result.stderr.splitlines()
    mods = loaded(fast.stderr)
    assert "console" in mods  # the trace is real
    assert not mods & {"typer", "click", "rich", "pydantic", "pydantic_settings", "dataclasses"}, sorted(mods)


def test_json_lines_are_whole_objects_newest_first(busy: Path) -> None:
    lines = launcher(busy, "history", "--json").stdout.splitlines()
    objs = [json.loads(line) for line in lines]
    assert [o["type"] for o in objs] == ["run", "run", "run", "totals"]
    assert [o["status"] for o in objs[:-1]] == ["lost", "failed", "done"]
    assert all(o["schema_version"] == 1 for o in objs) and objs[-1]["runs"] == 3


@pytest.mark.parametrize("args, expected", [
    ([], {"since": None, "kind": None, "limit": 0, "json": False}),
    (["--json", "--since", "7d", "--kind=eval", "-n", "5"], {"since": "7d", "kind": "eval", "limit": 5, "json": True}),
    (["--limit=3", "--limit", "4"], {"since": None, "kind": None, "limit": 4, "json": False}),  # the last wins, as in click
    (["--help"], None), (["-h"], None), (["--bogus"], None), (["extra"], None), (["--kind"], None),
    (["--kind", "--json"], None), (["--limit", "x"], None), (["-n=3"], None), (["-n3"], None), (["--json=1"], None),
    (["--"], None),
])
def test_only_plain_options_take_the_fast_path(args: list[str], expected: dict | None) -> None:
    assert parse_options(HISTORY_OPTIONS, args) == expected


def test_global_options_and_what_goes_to_typer(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert split_global_args(["-w", "/x", "--color=never", "history", "--json"]) == (
        {"workspace": "/x", "config": None, "color": "never"}, "history", ["--json"])
    assert split_global_args(["--color", "pink", "history"]) is None  # Typer explains the bad value
    assert split_global_args(["--version"]) is None and split_global_args([]) is None
    for argv in (["history", "--help"], ["history", "--since", "7"], ["runs"], ["--help"]):
        assert fast_command(argv) is None, argv  # nothing printed: Typer takes over
    monkeypatch.setenv("_ROLLOUT_COMPLETE", "complete_bash")
    assert fast_command(["history"]) is None  # shell completion is Typer's


@pytest.mark.parametrize("command, options", [("history", HISTORY_OPTIONS), ("status", STATUS_OPTIONS)])
def test_the_typer_command_is_built_from_the_same_options(command: str, options: tuple) -> None:
    group = typer.main.get_command(app)
    cmd = group.get_command(typer.Context(group), command)
    params = {p.name: p for p in cmd.params if p.name != "help"}
    assert list(params) == [o.name for o in options]
    for opt in options:
        param = params[opt.name]
        assert set(param.opts) | set(param.secondary_opts) == set(opt.flags)
        assert param.default == opt.default and param.help == opt.help
        assert param.is_flag == (opt.type is bool)


def test_errors_help_and_completion_stay_the_typer_commands(busy: Path) -> None:
    bad_span = launcher(busy, "history", "--since", "7")
    assert bad_span.returncode == 2 and bad_span.stdout == ""
    assert bad_span.stderr.count("\n") == 1 and "e.g. 90s" in bad_span.stderr
    for args, words in ((("--bogus",), "No such option"), (("--limit", "x"), "--limit")):
        result = launcher(busy, "history", *args)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    helped = launcher(busy, "history", "--help")
    assert helped.returncode == 0 and all(f in helped.stdout for f in ("--since", "--kind", "--limit", "--json"))
    env = {**child_env(busy), "_ROLLOUT_COMPLETE": "complete_bash", "COMP_WORDS": "rollout history --", "COMP_CWORD": "2"}
    completed = subprocess.run([sys.executable, "-m", "console.launcher"], env=env, capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0 and {"--since", "--kind", "--limit", "--json"} <= set(completed.stdout.split())


def test_a_broken_config_is_left_to_the_full_cli(workspace: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("workspace = \n")
    result = launcher(workspace, "--config", str(bad), "history", unset=("ROLLOUT_HOME",))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "invalid TOML" in result.stderr


# -- the index lists runs/ only when it changed -----------------------------------------------------


def meta(workspace: Path) -> dict[str, str]:
    with sqlite3.connect(ix.index_file(workspace)) as conn:
        return dict(conn.execute("SELECT key, value FROM meta"))


def listed_ids(workspace: Path) -> list[str]:
    conn = ix.connect(workspace)
    try:
        ix.sync(conn, workspace)
        return [r[0] for r in ix.rows(conn)]
    finally:
        conn.close()


def age_runs_folder(workspace: Path, seconds: float = 60.0) -> None:
    """As if the last run dir was made a while ago: the listing may be remembered."""
    past = time.time() - seconds
    os.utime(workspace / "runs", (past, past))


def test_a_listing_is_remembered_only_once_the_folder_is_still(workspace: Path) -> None:
    done = make_run(workspace, "process", "done", done=1, total=1)
    assert listed_ids(workspace) == [done.run_id]
    assert meta(workspace)["listing"] == ""  # runs/ changed just now: a change in the same tick could hide
    age_runs_folder(workspace)
    listed_ids(workspace)
    assert meta(workspace)["listing"] != ""


def test_what_the_remembered_listing_still_sees(workspace: Path) -> None:
    done = make_run(workspace, "process", "done", done=1, total=1)
    running = make_run(workspace, "serve", "running", done=1, total=3)
    age_runs_folder(workspace)
    assert listed_ids(workspace) == [done.run_id]
    assert json.loads(meta(workspace)["pending"]) == [running.run_id] and meta(workspace)["listing"]
    # the running job dies without a word: runs/ does not change, its pending entry is re-read
    running.update_run(pid=DEAD_PID)
    running.write_state({**running.read_state(), "pid": DEAD_PID})
    assert set(listed_ids(workspace)) == {done.run_id, running.run_id}
    assert json.loads(meta(workspace)["pending"]) == []
    # a new run dir and a removed one change runs/: the next read lists it again
    age_runs_folder(workspace)
    listed_ids(workspace)
    added = make_run(workspace, "eval", "cancelled", done=2, total=2)
    shutil.rmtree(done.path)
    assert set(listed_ids(workspace)) == {running.run_id, added.run_id}


def test_an_index_of_the_old_version_is_rebuilt(busy: Path) -> None:
    first = launcher(busy, "history", "--json").stdout
    with sqlite3.connect(ix.index_file(busy)) as conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'version'")
        conn.execute("DELETE FROM runs")
    assert launcher(busy, "history", "--json").stdout == first
    assert meta(busy)["version"] == str(ix.INDEX_VERSION)


# -- the terminal table -----------------------------------------------------------------------------


def test_the_table_fits_the_terminal_and_keeps_ids_whole(busy: Path) -> None:
    wide = history_output(busy, terminal=True, width=200).stdout.decode()
    narrow = history_output(busy, terminal=True, width=70).stdout.decode()
    ids = [o["run_id"] for o in map(json.loads, launcher(busy, "history", "--json").stdout.splitlines()[:-1])]
    for text in (wide, narrow):
        lines = text.splitlines()
        assert [line.split()[0] for line in lines[1:-1]] == ids  # whole ids, newest first
        assert lines[-1].startswith("total 3 runs") and not ANSI.search(text)
    assert lines[0].split() == ["RUN", "STATUS", "ITEMS", "FAILED", "COST", "DURATION"]
    assert max(len(line) for line in narrow.splitlines()[:-1]) <= 70
    assert "KIND" in wide and "FINISHED" in wide and "5,000/700" in wide


def test_the_table_colours_statuses_only_when_asked(busy: Path) -> None:
    coloured = history_output(busy, terminal=True, width=200, colour=True).stdout.decode()
    assert "\x1b[1;31mfailed\x1b[0m" in coloured and "\x1b[1;32mdone\x1b[0m" in coloured
    plain = ANSI.sub("", coloured)
    assert plain == history_output(busy, terminal=True, width=200).stdout.decode()


def test_no_finished_runs_is_said_on_stderr(workspace: Path) -> None:
    out = history_output(workspace, terminal=True, since="1h")
    assert out.stdout == b"" and out.stderr == f"no finished runs in {workspace / 'runs'} in the last 1h\n"
    assert launcher(workspace, "history").stdout == ""  # piped: no lines, the totals on stderr
