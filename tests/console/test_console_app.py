"""The Textual console, driven with App.run_test()/Pilot over real run directories and real job processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.app import RolloutApp
from console.output import CliState
from console.screens.confirm import ConfirmScreen
from console.screens.help import HelpScreen
from console.screens.runs import RunsScreen
from console.widgets.run_detail import EventsPane, RunDetail
from console.widgets.runs_table import RunsTable
from console_helpers import SIZE, wait_until
from engine.runs import RunDir, create_run, list_runs



def wait_for_run(workspace: Path, timeout: float = 60.0) -> RunDir:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in list_runs(workspace) if r.state_json.exists()]
        if runs:
            return runs[0]
        time.sleep(0.05)
    raise AssertionError(f"no run with a state.json appeared in {workspace}")


def make_app(workspace: Path, tmp_path: Path, **kwargs) -> RolloutApp:
    kwargs.setdefault("refresh_interval", 0.2)
    kwargs.setdefault("user_themes_dir", tmp_path / "no-user-themes")
    # these tests are about runs: no box sampler process (test_console_monitoring.py covers the box)
    kwargs.setdefault("monitor", False)
    return RolloutApp(workspace, **kwargs)


def cell(app: RolloutApp, run_id: str, column: str) -> str:
    table = app.screen.query_one(RunsTable)
    return str(table.get_cell(run_id, column))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def hand_made_run(workspace: Path, *, status: str, done: int, total: int, ok: int, failed: int = 0,
                  heartbeat: float | None = None, pid: int | None = None) -> RunDir:
    """A run directory written with the engine's own functions (what a job leaves behind)."""
    run = create_run(workspace, "demo", ["rollout", "demo"], title=f"{status} run")
    if pid is not None:
        run.update_run(pid=pid)
    run.write_state({
        "status": status, "phase": "counting", "heartbeat": heartbeat or time.time(), "elapsed_s": 3.0,
        "counters": {"total": total, "done": done, "ok": ok, "failed": failed, "retried": 0, "in_flight": 0},
        "tokens": {"prompt": 1000, "completion": 250}, "cost_usd": 0.5, "cost_projected_usd": 1.25,
        "rate": {"items_per_s": 2.0, "tokens_per_s": 100.0}, "eta_s": 30.0, "alerts": [],
        "figures": {"latency_p95_s": 1.5},
    })
    run.append_event({"type": "phase", "phase": "counting", "message": f"{total} items"})
    run.append_event({"type": "log", "level": "warning", "message": "slow endpoint"})
    return run


def _demo_process(rollout_cmd: list[str], child_env: dict[str, str], tmp_path: Path, *args: str):
    log = open(tmp_path / "demo.log", "wb")
    proc = subprocess.Popen(rollout_cmd + ["demo", *args, "--plain"], env=child_env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def long_demo_job(child_env: dict[str, str], rollout_cmd: list[str], tmp_path: Path, workspace: Path):
    """A real `rollout demo` job that runs for minutes (tests that stop it must not race its end)."""
    yield from _demo_process(rollout_cmd, child_env, tmp_path, "--items", "3000", "--delay", "0.05",
                             "--concurrency", "1")


@pytest.fixture
def demo_job(child_env: dict[str, str], rollout_cmd: list[str], workspace: Path, tmp_path: Path):
    """A real `rollout demo` job process writing into the workspace; killed at the end."""
    yield from _demo_process(rollout_cmd, child_env, tmp_path, "--items", "400", "--delay", "0.05")


async def test_lists_a_real_job_and_follows_its_state(demo_job, workspace: Path, tmp_path: Path) -> None:
    run = wait_for_run(workspace)
    app = RolloutApp.from_cli(CliState(workspace_flag=str(workspace)))
    app.refresh_interval = 0.2
    app.sampler_idle_exit_s = 3.0  # the box sampler the app starts exits soon after the test
    assert app.workspace == workspace
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, RunsScreen)
        table = app.screen.query_one(RunsTable)
        await wait_until(pilot, lambda: run.run_id in table.run_ids, what="the run's row")
        first_done = run.read_state()["counters"]["done"]
        first_cell = cell(app, run.run_id, "ok")
        # the job keeps writing state.json; the row must follow it
        await wait_until(
            pilot, lambda: run.read_state()["counters"]["done"] > first_done + 20, what="the job to progress"
        )
        await wait_until(pilot, lambda: cell(app, run.run_id, "ok") != first_cell, what="the ok cell to change")
        assert cell(app, run.run_id, "ok").strip().replace(",", "").isdigit()
        assert "%" in cell(app, run.run_id, "progress")
        # the only run is selected: its detail shows
        detail = app.screen.query_one(RunDetail)
        await wait_until(pilot, lambda: detail.data is not None and detail.data.run_id == run.run_id,
                         what="the detail pane")
        # ...and it ends done, with every item ok
        assert demo_job.wait(timeout=60) == 0
        await wait_until(pilot, lambda: cell(app, run.run_id, "status") == "done", what="status done")
        await wait_until(pilot, lambda: cell(app, run.run_id, "ok").strip() == "400", what="400 ok")
        assert "100.0%" in cell(app, run.run_id, "progress")


async def test_selecting_a_row_shows_its_detail_and_nothing_is_written(workspace: Path, tmp_path: Path) -> None:
    older = hand_made_run(workspace, status="done", done=50, total=50, ok=45, failed=5)
    time.sleep(1.05)  # run ids carry the second: keep the two apart so the order is certain
    newer = hand_made_run(workspace, status="running", done=10, total=40, ok=9, failed=1, pid=os.getpid())
    # (the box sampler's shared files live in <workspace>/monitor: that is the sampler's place, not the app's)
    before = {p: p.stat().st_mtime_ns for p in (workspace / "runs").rglob("*")}
    app = make_app(workspace, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        table = screen.query_one(RunsTable)
        detail = screen.query_one(RunDetail)
        await wait_until(pilot, lambda: table.run_ids == [newer.run_id, older.run_id], what="both rows, newest first")
        await wait_until(pilot, lambda: detail.data is not None and detail.data.run_id == newer.run_id,
                         what="detail of the newest run")
        assert detail.data.status == "running"
        assert cell(app, older.run_id, "failed").strip() == "5"
        await pilot.press("j")  # letter-key navigation for tmux users
        assert table.selected_run == older.run_id
        await wait_until(pilot, lambda: detail.data is not None and detail.data.run_id == older.run_id,
                         what="detail of the selected run")
        assert detail.data.status == "done"
        assert detail.data.state["counters"]["ok"] == 45
        assert detail.border_title == older.run_id
        events = screen.query_one(EventsPane)
        assert any("slow endpoint" in line for line, _style in events._shown or [])
        await pilot.press("g")
        assert table.selected_run == newer.run_id
        await pilot.press("G")
        assert table.selected_run == older.run_id
        await pilot.press("r")
        polls = screen.polls
        await wait_until(pilot, lambda: screen.polls > polls, what="a refresh")
    after = {p: p.stat().st_mtime_ns for p in (workspace / "runs").rglob("*")}
    assert after == before, "the console must not write into run directories"


async def test_rows_appear_and_vanish_by_key(workspace: Path, tmp_path: Path) -> None:
    first = hand_made_run(workspace, status="done", done=5, total=5, ok=5)
    app = make_app(workspace, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(RunsTable)
        await wait_until(pilot, lambda: table.run_ids == [first.run_id], what="the first row")
        time.sleep(1.05)
        second = hand_made_run(workspace, status="done", done=7, total=7, ok=7)
        await wait_until(pilot, lambda: table.run_ids == [second.run_id, first.run_id], what="the new row on top")
        # the cursor stays on the run it was on, even though a row was inserted above it
        assert table.selected_run == first.run_id
        import shutil

        shutil.rmtree(first.path)
        await wait_until(pilot, lambda: table.run_ids == [second.run_id], what="the vanished row to go")


async def test_polls_never_pile_up(workspace: Path, tmp_path: Path) -> None:
    hand_made_run(workspace, status="done", done=5, total=5, ok=5)
    app = make_app(workspace, tmp_path, refresh_interval=0.25)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.polls >= 1, what="a first poll")
        for _ in range(50):
            screen.poll_now()
        running = [w for w in app.workers if w.group == "poll" and not w.is_finished]
        assert len(running) <= 1
        polls = screen.polls
        await wait_until(pilot, lambda: screen.polls >= polls + 3, what="polling to go on")
        # 50 requests while one poll ran collapse into one follow-up poll, not 50
        assert screen.polls <= polls + 10


async def test_a_killed_job_shows_as_lost(workspace: Path, tmp_path: Path) -> None:
    run = hand_made_run(workspace, status="running", done=3, total=10, ok=3, pid=dead_pid(),
                        heartbeat=time.time() - 600)
    app = make_app(workspace, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: run.run_id in app.screen.query_one(RunsTable).run_ids, what="the row")
        assert cell(app, run.run_id, "status") == "lost"
        assert cell(app, run.run_id, "rate").strip() == "-"  # a dead job has no rate or ETA
        detail = app.screen.query_one(RunDetail)
        await wait_until(pilot, lambda: detail.data is not None, what="the detail")
        assert detail.data.status == "lost"
        # stopping a lost run is refused (nothing to signal)
        await pilot.press("s")
        assert not isinstance(app.screen, ConfirmScreen)


async def test_sigkilled_real_job_becomes_lost(demo_job, workspace: Path, tmp_path: Path) -> None:
    run = wait_for_run(workspace)
    app = make_app(workspace, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: cell_or_none(app, run.run_id, "status") == "running", what="running")
        demo_job.send_signal(signal.SIGKILL)
        demo_job.wait(timeout=10)
        await wait_until(pilot, lambda: cell(app, run.run_id, "status") == "lost", what="lost")


def cell_or_none(app: RolloutApp, run_id: str, column: str) -> str | None:
    table = app.screen.query_one(RunsTable)
    return cell(app, run_id, column) if run_id in table.run_ids else None


async def test_stop_asks_first_then_sends_sigterm(long_demo_job, workspace: Path, tmp_path: Path) -> None:
    demo_job = long_demo_job
    run = wait_for_run(workspace)
    app = make_app(workspace, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: cell_or_none(app, run.run_id, "status") == "running", what="running")
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("n")
        assert isinstance(app.screen, RunsScreen)
        assert demo_job.poll() is None  # "no" changed nothing
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        assert demo_job.wait(timeout=30) == 130  # SIGTERM: graceful stop, exit 130
        await wait_until(pilot, lambda: cell(app, run.run_id, "status") == "cancelled", what="cancelled")


async def test_help_lists_every_key_and_q_quits(workspace: Path, tmp_path: Path) -> None:
    app = make_app(workspace, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = dict((desc, keys) for keys, desc in app.screen.rows)
        for desc, key in [("Quit", "q"), ("Help", "?"), ("Refresh", "r"), ("Stop run", "s"),
                          ("First run", "g"), ("Last run", "G"), ("Down", "j"), ("Up", "k"),
                          ("Box panel", "m"), ("Refresh more often", "+"), ("Refresh less often", "-")]:
            assert key in rows[desc].split(" / "), (desc, rows.get(desc))
        assert "Home" in rows["First run"] and "End" in rows["Last run"]
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        # an empty workspace says how to start a run
        detail = app.screen.query_one(RunDetail)
        assert detail.data is None and "rollout demo" in str(detail.content)
        assert app.is_running
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0


def test_terminal_alive_detects_a_hung_up_pty() -> None:
    import os
    import pty

    from console.app import terminal_alive

    master, slave = pty.openpty()
    try:
        assert terminal_alive(slave)
        os.close(master)  # the other end goes away, as when tmux or sshd closes the pty
        assert not terminal_alive(slave)
    finally:
        os.close(slave)
