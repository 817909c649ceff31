"""The console drives jobs: launch forms from the option models, real launches that outlive the
app, the run view's actions on real jobs, and the log view."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input, Select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: `fakes` importable
from console_helpers import wait_until  # noqa: E402
from fakes.batch_files import check_exactly_once, write_requests  # noqa: E402
from fakes.openai_server import fake_openai  # noqa: E402,F401  (a fixture)

from console.app import RolloutApp  # noqa: E402
from console.screens.confirm import ConfirmScreen  # noqa: E402
from console.screens.launch import LaunchScreen  # noqa: E402
from console.screens.launch_form import FieldRow, JobForm, complete_path, form_fields  # noqa: E402
from console.screens.logs import LogsScreen  # noqa: E402
from console.screens.run_view import RunViewScreen  # noqa: E402
from console.widgets.runs_table import RunsTable  # noqa: E402
from engine.options.registry import jobs  # noqa: E402
from engine.recent import load_recent  # noqa: E402
from engine.runs import RunDir, list_runs, pid_alive  # noqa: E402

SIZE = (100, 40)


def make_app(workspace: Path) -> RolloutApp:
    app = RolloutApp(workspace, monitor=False)
    app.refresh_interval = 0.2
    return app


async def open_form(app: RolloutApp, pilot, job: str) -> LaunchScreen:
    await pilot.press("n")
    await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen), what="the launch screen")
    screen = app.screen
    assert isinstance(screen, LaunchScreen)
    await screen.show_form(next(s for s in jobs() if s.name == job))
    await pilot.pause()
    return screen


async def fill(pilot, screen: LaunchScreen, **values: str) -> None:
    for name, value in values.items():
        # a freshly shown form mounts its fields over a few refreshes (more of them on a busy box)
        await wait_until(pilot, lambda: bool(screen.query(f"#field-{name}")), what=f"the field {name}")
        widget = screen.query_one(f"#field-{name}")
        if isinstance(widget, Input):
            widget.value = value
        elif isinstance(widget, Select):
            widget.value = value
        elif isinstance(widget, Checkbox):
            widget.value = value in ("1", "true", "True", True)
    await pilot.pause()
    screen.revalidate()  # what the debounce timer does after the last key
    await pilot.pause()


def state_of(run: RunDir) -> dict:
    return run.read_state() or {}


def wait_status(run: RunDir, wanted: tuple[str, ...], timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = run.effective_status()
        if status in wanted:
            return status
        time.sleep(0.1)
    raise AssertionError(f"{run.run_id} did not reach {wanted} (now {run.effective_status()})")


# -- the forms ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [s.name for s in jobs()])
async def test_every_form_is_made_from_its_model(name: str, workspace: Path) -> None:
    spec = next(s for s in jobs() if s.name == name)
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot, name)
        form = screen.query_one(JobForm)
        rows = [r.meta.name for r in form.query(FieldRow)]
        assert rows == [o.name for o in form_fields(spec.model)]
        for o in form_fields(spec.model):
            widget = form.editor(o.name)
            if o.choices or o.tristate:
                assert isinstance(widget, Select), o.name
            elif o.is_bool:
                assert isinstance(widget, Checkbox), o.name
            else:
                assert isinstance(widget, Input), o.name
                assert (widget.suggester is not None) == bool(o.path), o.name
        # nothing typed: the preview is the bare command, and the required fields are named
        assert str(screen.query_one("#launch-command").render()).startswith("$ " + spec.command)


async def test_inline_errors_while_typing_and_the_live_command(workspace: Path, tmp_path: Path) -> None:
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot, "demo")
        await fill(pilot, screen, items="-4")
        row = screen.query_one("#row-items", FieldRow)
        assert row.has_class("-invalid")
        assert "--items '-4'" in str(row.query_one(".field-error").render())
        assert str(screen.query_one("#launch-command").render()) == "$ rollout demo --items -4"
        await fill(pilot, screen, items="12", delay="0.01")
        assert not row.has_class("-invalid")
        assert str(screen.query_one("#launch-command").render()) == "$ rollout demo --items 12 --delay 0.01"
        await pilot.press("ctrl+y")
        assert app.clipboard == "rollout demo --items 12 --delay 0.01"

        await screen.show_form(next(s for s in jobs() if s.name == "serve-process"))
        assert not screen.query("#field-url")  # --serve has its own server: no --url in its form
        await fill(pilot, screen, input=str(tmp_path / "missing.jsonl"), mem_fraction_static="1.5")
        errors = {r.meta.name: str(r.query_one(".field-error").render()) for r in screen.query(FieldRow)
                  if r.has_class("-invalid")}
        assert "file not found: check --input" in errors["input"]
        assert "less than or equal to 1" in errors["mem_fraction_static"]
        await pilot.press("ctrl+r")  # a launch attempt shows every problem, the required ones too
        await wait_until(pilot, lambda: {"input", "output", "mem_fraction_static"}
                         <= {r.meta.name for r in screen.query(FieldRow) if r.has_class("-invalid")},
                         what="every problem shown")
        assert isinstance(app.screen, LaunchScreen) and not list_runs(workspace)


def test_path_completion(tmp_path: Path) -> None:
    (tmp_path / "requests-stage1.jsonl").write_text("")
    (tmp_path / "structures").mkdir()
    assert complete_path(str(tmp_path / "req")) == str(tmp_path / "requests-stage1.jsonl")
    assert complete_path(str(tmp_path / "str")) == str(tmp_path / "structures") + "/"
    assert complete_path(str(tmp_path / "re"), dirs_only=True) is None


async def test_world_checks_catch_a_dead_endpoint_before_launch(workspace: Path, tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 3)
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot, "process")
        await fill(pilot, screen, input=str(inp), output=str(tmp_path / "out.jsonl"), url="http://127.0.0.1:9")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.checks is not None, what="the checks")
        status = str(screen.query_one("#launch-status").render())
        assert "✗ endpoint" in status and "unreachable" in status
        assert screen.query_one("#row-url", FieldRow).has_class("-invalid")
        assert not list_runs(workspace)  # nothing was started


# -- real launches --------------------------------------------------------------------------------
async def test_launch_a_demo_job_that_outlives_the_app(workspace: Path) -> None:
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot, "demo")
        await fill(pilot, screen, items="40", delay="0.1", concurrency="2")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: not isinstance(app.screen, LaunchScreen), timeout=30, what="the run")
        runs = list_runs(workspace)
        assert len(runs) == 1
        run = runs[0]
        await wait_until(pilot, lambda: app.screen.query_one(RunsTable).selected_run == run.run_id,
                         what="the new run selected")
        info = run.read_run()
        assert info["command"] == ["rollout", "demo", "--items", "40", "--delay", "0.1", "--concurrency", "2"]
        pid = info["pid"]
        app.exit()
    assert pid_alive(pid), "the job died with the app"
    assert os.getsid(pid) == pid  # its own session: a closed terminal does not reach it
    assert wait_status(run, ("done", "failed", "cancelled")) == "done"
    assert state_of(run)["counters"]["ok"] == 40
    recent = load_recent(workspace)
    assert recent[0].job == "demo" and recent[0].run_id == run.run_id and recent[0].given["items"] == 40


async def test_launch_a_process_job_against_the_stand_in(workspace: Path, tmp_path: Path, fake_openai) -> None:
    server = fake_openai(delay=0.15)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 30)
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot, "process")
        await fill(pilot, screen, input=str(inp), output=str(out), url=server.url, concurrency="2")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: not isinstance(app.screen, LaunchScreen), timeout=30, what="the run")
        run = list_runs(workspace)[0]
        pid = run.read_run()["pid"]
        app.exit()
    assert pid_alive(pid)
    assert wait_status(run, ("done", "failed", "cancelled")) == "done"
    check_exactly_once(ids, out, out.with_name(out.name + ".errors.jsonl"))
    assert sum(server.stats()["attempts"].values()) == 30


async def test_a_launch_that_fails_before_its_run_shows_the_error(workspace: Path, tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_text("not json\n")
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_form(app, pilot, "process")
        await fill(pilot, screen, input=str(inp), output=str(tmp_path / "o.jsonl"), no_preflight="1")
        screen._spawn(screen.model)  # past the checks: the command itself rejects the input
        await wait_until(pilot, lambda: screen.last_error is not None, timeout=30, what="the error")
        assert screen.last_error.startswith("exit 2: ") and "in.jsonl" in screen.last_error
        assert "\n" not in screen.last_error
        assert isinstance(app.screen, LaunchScreen)


# -- the run view and its actions ---------------------------------------------------------------
async def open_run_view(app: RolloutApp, pilot, run_id: str) -> RunViewScreen:
    await wait_until(pilot, lambda: run_id in app.screen.query_one(RunsTable).run_ids, what="the run listed")
    app.select_run(run_id)
    await wait_until(pilot, lambda: app.screen.query_one(RunsTable).selected_run == run_id, what="the selection")
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, RunViewScreen) and app.screen.polls > 0, what="run view")
    return app.screen  # type: ignore[return-value]


def start_cli(rollout_cmd: list[str], child_env: dict, *args: str):
    import subprocess

    return subprocess.Popen([*rollout_cmd, *args, "--plain"], env=child_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def wait_run(workspace: Path, n: int = 1, timeout: float = 30.0) -> RunDir:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = list_runs(workspace)
        if len(runs) >= n:
            return runs[0]
        time.sleep(0.05)
    raise AssertionError("no run appeared")


async def test_stop_now_from_the_run_view(workspace: Path, rollout_cmd: list[str], child_env: dict) -> None:
    proc = start_cli(rollout_cmd, child_env, "demo", "--items", "2000", "--delay", "0.05")
    try:
        run = wait_run(workspace)
        wait_status(run, ("running",))  # its signal handlers are in place
        app = make_app(workspace)
        async with app.run_test(size=SIZE) as pilot:
            view = await open_run_view(app, pilot, run.run_id)
            assert "$ rollout demo --items 2000 --delay 0.05\n" in str(view.query_one("#run-command").render())
            await pilot.press("S")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
            await pilot.press("y")
            assert proc.wait(timeout=30) == 130
            await wait_until(pilot, lambda: "cancelled" in str(view.query_one("#run-head").render()), what="cancelled")
        assert state_of(run)["counters"]["done"] < 2000
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_rerun_resumes_a_stopped_process_run(workspace: Path, tmp_path: Path, fake_openai,
                                                   rollout_cmd: list[str], child_env: dict) -> None:
    server = fake_openai(delay=0.25)  # 120 requests, 2 at a time: 15 s, long enough to stop it midway
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 120)
    proc = start_cli(rollout_cmd, child_env, "process", "--input", str(inp), "--output", str(out), "--url", server.url,
                     "--concurrency", "2")
    first = wait_run(workspace)
    deadline = time.monotonic() + 30
    while (state_of(first).get("counters") or {}).get("ok", 0) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    # the processor publishes its oldest requests in flight (the run view's stragglers)
    stragglers = state_of(first)["figures"]["stragglers"]
    assert 1 <= len(stragglers) <= 2 and set(stragglers[0]) == {"id", "age_s", "attempts"}
    assert stragglers[0]["id"] in ids and stragglers[0]["attempts"] == 1
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_run_view(app, pilot, first.run_id)
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        assert proc.wait(timeout=30) == 130
        done_first = state_of(first)["counters"]["ok"]
        assert 0 < done_first < 120
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the rerun confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, RunViewScreen) and app.screen.run_id != first.run_id
                         and app.screen.polls > 0, timeout=30, what="the new run's view")
        second = RunDir(workspace / "runs" / app.screen.run_id)
    assert wait_status(second, ("done", "failed", "cancelled")) == "done"
    counters = state_of(second)["counters"]
    assert counters["skipped"] == done_first and counters["ok"] == 120 - done_first
    check_exactly_once(ids, out, out.with_name(out.name + ".errors.jsonl"))
    assert view is not None


async def test_retry_failures_only_sends_exactly_the_errored_ids(workspace: Path, tmp_path: Path, fake_openai,
                                                                 rollout_cmd: list[str], child_env: dict) -> None:
    server = fake_openai(mode="400", match=r"^id-(3|7|11)$", fail_times=100)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 20)
    proc = start_cli(rollout_cmd, child_env, "process", "--input", str(inp), "--output", str(out), "--url", server.url)
    assert proc.wait(timeout=60) == 1  # three permanent failures
    first = wait_run(workspace)
    server.control(mode="ok")
    before = server.stats()["attempts"]
    assert before == {cid: 1 for cid in ids}
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        view = await open_run_view(app, pilot, first.run_id)
        await wait_until(pilot, lambda: view.snapshot is not None and view.snapshot.failures, what="the failures")
        groups = view.snapshot.failures
        assert sum(g.count for g in groups) == 3 and len(groups) == 1
        assert groups[0].example.startswith("id-3: ") and groups[0].source.endswith("out.jsonl.errors.jsonl")
        await pilot.press("f")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the retry confirmation")
        assert "retry 3 failed request(s)" in app.screen.detail
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, RunViewScreen) and app.screen.run_id != first.run_id
                         and app.screen.polls > 0, timeout=30, what="the retry run's view")
        retry = RunDir(workspace / "runs" / app.screen.run_id)
    assert wait_status(retry, ("done", "failed", "cancelled")) == "done"
    after = server.stats()["attempts"]
    sent_again = {cid: after[cid] - before.get(cid, 0) for cid in after if after[cid] != before.get(cid, 0)}
    assert sent_again == {"id-3": 1, "id-7": 1, "id-11": 1}
    ok = [json.loads(x)["custom_id"] for x in out.read_text().splitlines()]
    assert sorted(ok) == sorted(ids)


async def test_logs_follow_events_as_sentences(workspace: Path, rollout_cmd: list[str], child_env: dict) -> None:
    proc = start_cli(rollout_cmd, child_env, "demo", "--items", "30", "--delay", "0.01")
    assert proc.wait(timeout=60) == 0
    run = wait_run(workspace)
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: run.run_id in app.screen.query_one(RunsTable).run_ids, what="the run")
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, LogsScreen), what="the logs")
        screen = app.screen
        from textual.widgets import Log

        log = screen.query_one("#log-events", Log)
        await wait_until(pilot, lambda: any("finished done (exit 0)" in ln for ln in log.lines), what="events")
        assert any("demo job started" in ln for ln in log.lines)
        assert not any("{'" in ln for ln in log.lines)  # sentences, not dict dumps
        n = len(log.lines)
        run.append_event({"type": "log", "level": "warning", "message": "disk nearly full"})
        await wait_until(pilot, lambda: len(log.lines) == n + 1, what="the new event")
        assert log.lines[-1].endswith("warning: disk nearly full")
        assert screen.followers["events"].offset == run.events_jsonl.stat().st_size  # read by offset


async def test_every_job_is_in_the_command_palette(workspace: Path) -> None:
    from console.screens.launch import LaunchCommands

    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        names = [name for name, _help, _cb in LaunchCommands(app.screen)._entries()]
        assert [n for n in names if n.startswith("Launch ")] == [f"Launch {s.name}" for s in jobs()]
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        for ch in "Launch demo":
            await pilot.press("space" if ch == " " else ch)
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.spec is not None,
                         what="the demo form")
        assert app.screen.spec.name == "demo"


def test_retry_of_a_stage_run_takes_its_failed_instances(workspace: Path, tmp_path: Path, shared_data: Path,
                                                         rollout_cmd: list[str], child_env: dict) -> None:
    import shutil
    import subprocess

    from console.cli import app as cli_app
    from console.commands.jobcommand import parse_job_argv
    from engine.retry import retry_plan

    fixtures = shared_data / "swe-lite-fixtures"
    structures = tmp_path / "structures"
    structures.mkdir()
    kept = sorted(p for p in (fixtures / "structures").glob("*.json"))[:5]
    for p in kept:
        shutil.copy(p, structures / p.name)
    res = subprocess.run([*rollout_cmd, "agentless", "gen-step1", "--dataset", str(fixtures / "instances.jsonl"),
                          "--repostructure_dir", str(structures), "--output_file", str(tmp_path / "req.jsonl"),
                          "--model_name", "m", "--num_workers", "1", "--plain"],
                         env=child_env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stderr  # the instances without a structure failed
    run = list_runs(workspace)[0]
    plan = retry_plan(run)
    missing = sorted(json.loads(x)["instance_id"] for x in (fixtures / "instances.jsonl").read_text().splitlines()
                     if not (structures / f"{json.loads(x)['instance_id']}.json").exists())
    assert plan.count == len(missing) and len(missing) == 4
    ids_file = Path(plan.argv[plan.argv.index("--instances_file") + 1])
    assert sorted(ids_file.read_text().split()) == missing
    model = parse_job_argv(cli_app, plan.argv)
    assert model.instances_file == str(ids_file) and model.output_file == str(tmp_path / "req.jsonl")


async def test_a_recent_launch_reopens_pre_filled(workspace: Path) -> None:
    from engine.recent import RecentLaunch, add_recent

    add_recent(workspace, RecentLaunch(job="demo", given={"items": 7, "delay": 0.5}, command=["rollout", "demo"]))
    app = make_app(workspace)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen), what="the launch screen")
        picker = app.screen.query_one("#job-picker")
        picker.highlighted = [o.id for o in picker.options].index("recent:0")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.spec is not None, what="the form")
        screen = app.screen
        assert screen.query_one("#field-items", Input).value == "7"
        assert screen.query_one("#field-delay", Input).value == "0.5"
        await fill(pilot, screen, concurrency="3")
        assert str(screen.query_one("#launch-command").render()) == "$ rollout demo --items 7 --delay 0.5 --concurrency 3"
