"""``rollout history`` from the SQLite index (updated by finishing runs, rebuilt from run dirs) and ``rollout gc``."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from headless_helpers import invoke, make_run

from engine.demo import make_demo_job
from engine.durations import parse_span
from engine.history import index_path
from engine.jobs import run_job


def history_json(*args: str) -> tuple[list[dict], dict]:
    result = invoke("history", "--json", *args)
    assert result.exit_code == 0, result.stderr
    objs = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(o["schema_version"] == 1 for o in objs)
    assert objs[-1]["type"] == "totals" and all(o["type"] == "run" for o in objs[:-1])
    return objs[:-1], objs[-1]


def indexed_ids(workspace: Path) -> set[str]:
    with sqlite3.connect(index_path(workspace)) as conn:
        return {r[0] for r in conn.execute("SELECT run_id FROM runs")}


def test_history_rows_totals_and_filters(workspace: Path) -> None:
    now = time.time()
    old = make_run(workspace, "process", "done", done=100, total=100, tokens=(5000, 700), cost=1.5,
                   started=now - 10 * 86400, finished=now - 10 * 86400 + 600, exit_code=0)
    recent = make_run(workspace, "eval", "failed", done=8, total=10, failed=2, cost=None, started=now - 7200,
                      finished=now - 3600, exit_code=1)
    lost = make_run(workspace, "serve", "lost", done=1, total=3)
    make_run(workspace, "process", "running", done=1, total=3)  # not over: not history
    rows, totals = history_json()
    assert [r["run_id"] for r in rows] == [lost.run_id, recent.run_id, old.run_id]  # newest first
    by_id = {r["run_id"]: r for r in rows}
    assert by_id[old.run_id] | {"items": 100, "failed": 0, "tokens_prompt": 5000, "tokens_completion": 700,
                                 "cost_usd": 1.5, "duration_s": 600.0, "status": "done"} == by_id[old.run_id]
    assert by_id[recent.run_id]["status"] == "failed" and by_id[recent.run_id]["duration_s"] == 3600.0
    assert by_id[lost.run_id]["status"] == "lost"
    assert totals == {**totals, "runs": 3, "items": 113, "failed": 2, "tokens_prompt": 5000, "cost_usd": 1.5}
    since, _ = history_json("--since", "7d")
    assert {r["run_id"] for r in since} == {recent.run_id, lost.run_id}
    kind, kind_totals = history_json("--kind", "process")
    assert [r["run_id"] for r in kind] == [old.run_id] and kind_totals["runs"] == 1
    piped = invoke("history")  # not a terminal: TSV lines on stdout, totals on stderr
    assert [line.split("\t")[0] for line in piped.stdout.splitlines()] == [lost.run_id, recent.run_id, old.run_id]
    assert "3 runs" in piped.stderr and "$1.50" in piped.stderr


def test_a_finishing_run_updates_the_index(workspace: Path) -> None:
    make_run(workspace, "process", "done", done=1, total=1)
    history_json()  # builds the index
    result = run_job("demo", make_demo_job(12, 0.0, 4, 4, tokens_per_item=10), workspace=workspace, argv=["rollout", "demo"],
                     install_signals=False)
    assert result.run.run_id in indexed_ids(workspace)  # written by the job itself, before any reader ran
    rows, _ = history_json("--kind", "demo")
    assert rows[0]["run_id"] == result.run.run_id and rows[0]["items"] == 12 and rows[0]["failed"] == 3
    assert rows[0]["exit_code"] == 1 and rows[0]["tokens_prompt"] == 120


def test_index_is_rebuilt_when_deleted_stale_or_corrupt(workspace: Path) -> None:
    runs = [make_run(workspace, "process", "done", done=i, total=9) for i in range(5)]
    first, _ = history_json()
    path = index_path(workspace)
    path.unlink()
    again, _ = history_json()
    assert again == first and path.is_file()
    # stale: a run dir the index does not know, and one that is gone
    added = make_run(workspace, "process", "cancelled", done=2, total=9)
    import shutil

    shutil.rmtree(runs[0].path)
    rows, totals = history_json()
    ids = {r["run_id"] for r in rows}
    assert added.run_id in ids and runs[0].run_id not in ids and totals["runs"] == 5
    assert indexed_ids(workspace) == ids
    path.write_bytes(b"this is not a database")
    rows_after, _ = history_json()
    assert rows_after == rows
    with sqlite3.connect(path) as conn:  # an index of another schema version
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'version'")
    assert history_json()[0] == rows


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("45m", 2700), ("12h", 43200), ("7d", 604800), ("2w", 1209600),
                                           ("1.5h", 5400)])
def test_spans(text: str, seconds: float) -> None:
    assert parse_span(text) == seconds


def test_bad_span_is_one_line_exit_2(workspace: Path) -> None:
    for args in (("history", "--since", "7"), ("gc", "--older-than", "soon")):
        result = invoke(*args)
        assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "e.g. 90s" in result.stderr


def test_gc_asks_first_and_removes_only_old_run_dirs(workspace: Path, tmp_path: Path) -> None:
    now = time.time()
    output = tmp_path / "answers.jsonl"  # a run's output lives outside its run dir
    output.write_text("{}\n")
    old = make_run(workspace, "process", "done", started=now - 40 * 86400, finished=now - 40 * 86400)
    old.update_run(outputs={"output": str(output)})
    (old.path / "output-link.jsonl").symlink_to(output)  # even linked from inside, it stays
    old_lost = make_run(workspace, "eval", "lost", started=now - 50 * 86400)
    old_lost.write_state({**old_lost.read_state(), "heartbeat": now - 50 * 86400})
    young = make_run(workspace, "process", "failed", started=now - 86400, finished=now - 86400)
    running = make_run(workspace, "serve", "running", started=now)
    history_json()

    declined = invoke("gc", "--older-than", "30d", input="n\n")
    assert declined.exit_code == 0 and "Remove 2 run dir(s)" in declined.stderr and "nothing removed" in declined.stderr
    assert old.path.is_dir() and old_lost.path.is_dir()
    no_answer = invoke("gc", "--older-than", "30d", input="")
    assert no_answer.exit_code == 2 and "--yes" in no_answer.stderr and old.path.is_dir()
    dry = invoke("gc", "--older-than", "30d", "--dry-run")
    assert set(dry.stdout.split()) == {old.run_id, old_lost.run_id} and old.path.is_dir()

    accepted = invoke("gc", "--older-than", "30d", input="y\n")
    removed = set(accepted.stdout.split()) - {"y"}  # CliRunner echoes the typed answer onto stdout
    assert accepted.exit_code == 0 and removed == {old.run_id, old_lost.run_id}
    assert not old.path.exists() and not old_lost.path.exists()
    assert young.path.is_dir() and running.path.is_dir() and output.read_text() == "{}\n"
    assert {r["run_id"] for r in history_json()[0]} == {young.run_id}

    forced = invoke("gc", "--older-than", "1h", "--yes")  # no question; the running job stays
    assert forced.stdout.split() == [young.run_id] and running.path.is_dir()
    assert "nothing to remove" in invoke("gc", "--older-than", "1h", "--yes").stderr
