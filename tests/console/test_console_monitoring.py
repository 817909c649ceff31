"""The console's box panel, alerts panel/notifications and job-specific figures, over real files and processes."""

from __future__ import annotations

import io
import os
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from rich.console import Console
from textual.app import App, ComposeResult

from console.app import RolloutApp
from console.screens.runs import RunsScreen
from console.widgets.alerts_panel import AlertsPanel
from console.widgets.box_panel import BoxPanel, Palette, gpu_line, level
from console.widgets.run_detail import RunDetail
from console.widgets.runs_table import RunsTable
from engine.monitor import GpuReading, GpuState
from console_helpers import SIZE, wait_until
from engine.runs import RunDir, create_run, list_runs



def make_app(workspace: Path, tmp_path: Path, **kwargs) -> RolloutApp:
    kwargs.setdefault("refresh_interval", 0.2)
    kwargs.setdefault("user_themes_dir", tmp_path / "no-user-themes")
    kwargs.setdefault("sampler_idle_exit_s", 3.0)  # the sampler goes soon after the test
    return RolloutApp(workspace, **kwargs)


def rendered(renderable: object, width: int = 120) -> str:
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def live_run(workspace: Path, kind: str = "demo", **state: object) -> RunDir:
    """A run of a live process (this test's), its state.json written the way a job writes it."""
    run = create_run(workspace, kind, ["rollout", kind], title=f"{kind} run")
    run.update_run(pid=os.getpid())
    write_state(run, **state)
    return run


def write_state(run: RunDir, **extra: object) -> None:
    state = {
        "status": "running", "phase": "working", "heartbeat": time.time(), "elapsed_s": 3.0,
        "counters": {"total": 10, "done": 4, "ok": 4, "failed": 0, "retried": 0, "in_flight": 1},
        "tokens": {"prompt": 100, "completion": 50}, "cost_usd": 0.25, "cost_projected_usd": 0.75,
        "rate": {"items_per_s": 1.0, "tokens_per_s": 42.0}, "eta_s": 6.0, "alerts": [], "figures": {},
    }
    state.update(extra)
    run.write_state(state)


def notes(app: RolloutApp) -> list[tuple[str, str, str]]:
    return [(n.title, n.message, n.severity) for n in app._notifications]


# -- box panel -------------------------------------------------------------------------------


async def test_box_panel_shows_real_figures_and_no_gpu(workspace: Path, tmp_path: Path) -> None:
    # a live run's output folder: the panel asks the sampler to watch its disk too
    run = create_run(workspace, "process", ["rollout", "process"], outputs={"output": str(tmp_path / "out.jsonl")})
    run.update_run(pid=os.getpid())
    write_state(run)
    app = make_app(workspace, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        box = app.screen.query_one(BoxPanel)
        assert box.display  # tall enough: shown by default
        # the app started the workspace's shared sampler; its samples reach the panel
        await wait_until(pilot, lambda: box.sample is not None, timeout=30, what="a monitor sample")
        text = box.plain
        assert "CPU" in text and "%" in text.splitlines()[0]
        total_gib = psutil.virtual_memory().total / 1024**3
        mem_line = next(line for line in text.splitlines() if line.startswith("MEM"))
        assert f"/{total_gib:.1f} GiB" in mem_line, (mem_line, total_gib)
        disk_line = next(line for line in text.splitlines() if line.startswith("DISK"))
        assert "GiB free" in disk_line and "workspace" in disk_line
        from engine.monitor.system import mount_point
        assert disk_line.split()[1] == mount_point(workspace)  # the file system's mount point, not a path list
        # same file system as the workspace here: one row for both, the output counted, not listed
        await wait_until(pilot, lambda: "workspace +1" in box.plain, timeout=15, what="the output's disk")
        assert sum(line.startswith("DISK") for line in box.plain.splitlines()) == 1
        assert "TOP " in text
        if not box.sample["gpu"]["available"]:  # this machine: one dim line with the reason, no error
            # the GPU rows are mounted, then filled after the next refresh
            await wait_until(pilot, lambda: len(box.gpu_lines) == 1, timeout=10, what="the GPU line")
            assert "no GPU" in box.gpu_lines[0]
        # history for the sparkline grows by one per new sample
        await wait_until(pilot, lambda: len(box.history.get("cpu", [])) >= 2, timeout=15, what="CPU history")
        await pilot.press("m")
        assert not box.display
        await pilot.press("m")
        assert box.display


async def test_box_panel_hidden_by_default_on_a_short_terminal(workspace: Path, tmp_path: Path) -> None:
    app = make_app(workspace, tmp_path, monitor=False)
    async with app.run_test(size=(100, 30)) as pilot:
        box = app.screen.query_one(BoxPanel)
        assert not box.display
        await pilot.press("m")
        assert box.display
        assert "waiting for the box sampler" in box.plain  # monitor off: nothing sampled, no error


async def test_gpu_rows_thresholds_and_sparklines(workspace: Path, tmp_path: Path) -> None:
    """Recorded GPU readings (as the sampler writes them) get rows, colours and histories."""
    gpus = GpuState(available=True, driver="550.54", gpus=[
        GpuReading(index=0, name="NVIDIA H100 80GB HBM3", util_pct=97.0, mem_used_mib=79000.0,
                   mem_total_mib=81559.0, power_w=650.0, power_limit_w=700.0, temp_c=71.0),
        GpuReading(index=1, name="NVIDIA H100 80GB HBM3", util_pct=3.0, mem_used_mib=1000.0,
                   mem_total_mib=81559.0, power_w=80.0, power_limit_w=700.0, temp_c=35.0),
    ]).to_dict()
    system = {"cpu_total_pct": 12.0, "cpu_per_core_pct": [10.0, 14.0], "cpu_count": 2, "load_1m": 0.5,
              "mem_total_gib": 16.0, "mem_used_gib": 15.5, "mem_used_pct": 96.9, "swap_total_gib": 0.0,
              "disks": [{"label": "workspace", "free_gib": 5.0, "free_pct": 4.0, "mount": "/data"},
                        {"label": "output", "free_gib": 5.0, "free_pct": 4.0, "mount": "/data"},
                        {"label": "output:b", "free_gib": 5.0, "free_pct": 4.0, "mount": "/data"},
                        {"label": "errors", "free_gib": 900.0, "free_pct": 60.0, "mount": "/scratch"}],
              "net_sent_bps": 2048.0, "net_recv_bps": 10.0}
    app = BoxApp()  # the panel alone: the runs screen's poll would bring this box's real sample
    async with app.run_test(size=SIZE) as pilot:
        box = app.query_one(BoxPanel)
        pal = Palette(warn="yellow", crit="red")
        for i in range(3):
            box.show({"time": 1000.0 + i, "host": "gpubox", "system": system, "gpu": gpus}, pal)
            await pilot.pause()
        await wait_until(pilot, lambda: len(box.gpu_lines) == 2, what="two GPU rows")
        assert box.gpu_lines[0].startswith("GPU0") and "97%" in box.gpu_lines[0] and "71°C" in box.gpu_lines[0]
        assert len(box.history["gpu0"]) == 3 and list(box.history["gpu1"]) == [3.0, 3.0, 3.0]
        assert list(app.query_one("#box-gpu0").spark.data) == [97.0, 97.0, 97.0]
        # memory, power and temperature keep their history too, shown as trends in the row
        assert list(box.history["gpu0.power"]) == [650.0] * 3 and list(box.history["gpu1.temp"]) == [35.0] * 3
        assert "GiB  97% ███" in box.gpu_lines[0] and "650/700 W ▇▇▇" in box.gpu_lines[0]
        assert "71°C ▆▆▆" in box.gpu_lines[0] and "35°C ▃▃▃" in box.gpu_lines[1]
        disks = [line for line in box.plain.splitlines() if line.startswith("DISK")]
        # one row per file system, whatever number of folders is on it
        assert disks == ["DISK /data    5.0 GiB free (4%)  workspace +2", "DISK /scratch 900.0 GiB free (60%)  errors"]
        assert "MEM" in box.plain
    # GPU memory 96.9% is critical, free disk 4% is critical, 35°C is fine
    assert level("gpu_mem", 96.9) == "crit" and level("gpu_mem", 92) == "warn" and level("gpu_mem", 50) == "ok"
    assert level("disk_free", 4.0) == "crit" and level("disk_free", 15.0) == "warn" and level("disk_free", 50) == "ok"
    line = gpu_line(gpus["gpus"][0], Palette(warn="yellow", crit="red"))
    assert any("red" in str(span.style) for span in line.spans)  # memory 97% shown in the error colour


class BoxApp(App[None]):
    def __init__(self, redraw_s: float = 0.0) -> None:
        super().__init__()
        self.redraw_s = redraw_s

    def compose(self) -> ComposeResult:
        yield BoxPanel(redraw_s=self.redraw_s)


async def test_box_redraws_at_its_own_pace_and_keeps_every_sample() -> None:
    system = {"cpu_total_pct": 12.0, "cpu_per_core_pct": [10.0, 14.0], "cpu_count": 2, "mem_total_gib": 16.0,
              "mem_used_gib": 4.0, "mem_used_pct": 25.0, "disks": []}
    app = BoxApp(redraw_s=3.0)
    async with app.run_test(size=SIZE) as pilot:
        box = app.query_one(BoxPanel)
        pal = Palette()
        for i in range(5):  # five samples a second apart
            box.show({"time": 1000.0 + i, "host": "h", "system": {**system, "cpu_total_pct": 10.0 + i},
                      "gpu": {}}, pal, now=50.0 + i)
            await pilot.pause()
        assert list(box.history["cpu"]) == [10.0, 11.0, 12.0, 13.0, 14.0]
        # drawn at the first sample and 3 s later, not at every one
        assert "13.0%" in box.text_lines[0] and "14.0%" not in box.text_lines[0]


# -- alerts ----------------------------------------------------------------------------------


async def test_alert_in_state_shows_in_panel_notifies_and_clears(workspace: Path, tmp_path: Path) -> None:
    run = live_run(workspace)
    app = make_app(workspace, tmp_path, monitor=False)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one(AlertsPanel)
        await wait_until(pilot, lambda: app.screen.polls >= 1, what="a first poll")
        assert panel.rows == [] and not notes(app)
        write_state(run, alerts=[{"name": "error_rate", "severity": "critical", "message": "error rate 12% > 5%",
                                  "value": 0.12, "threshold": 0.05, "since": time.time() - 65}])
        await wait_until(pilot, lambda: panel.rows, what="the alert in the panel")
        assert panel.rows[0].run_id == run.run_id and panel.rows[0].name == "error_rate"
        assert panel.has_class("-active") and "1 critical" in str(panel.border_title)
        text = rendered(panel.content)
        assert "CRIT" in text and "error_rate" in text and "error rate 12% > 5%" in text and "since " in text
        await wait_until(pilot, lambda: any(t == "alert error_rate" for t, _m, _s in notes(app)),
                         what="a notification")
        assert ("alert error_rate", f"{run.run_id}: error rate 12% > 5%", "error") in notes(app)
        write_state(run, alerts=[])
        await wait_until(pilot, lambda: not panel.rows, what="the alert to go")
        assert "no active alerts" in rendered(panel.content)
        polls = app.screen.polls
        await wait_until(pilot, lambda: app.screen.polls >= polls + 3, what="more polls")
        # one toast per raise, none per clear (toasts stacked over the panes when every clear had one)
        assert [t for t, _m, _s in notes(app) if t.startswith("alert")] == ["alert error_rate"]


async def test_stale_heartbeat_is_raised_by_the_viewer(workspace: Path, tmp_path: Path) -> None:
    run = live_run(workspace, heartbeat=time.time() - 120)  # its process lives, but it went silent

    class CountingBells(RolloutApp):  # the terminal bell itself cannot be heard from a test
        bells = 0

        def bell(self) -> None:
            CountingBells.bells += 1

    app = CountingBells(workspace, refresh_interval=0.2, user_themes_dir=tmp_path / "none", monitor=False, bell=True)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one(AlertsPanel)
        await wait_until(pilot, lambda: panel.rows, what="the stale alert")
        row = panel.rows[0]
        assert (row.run_id, row.name, row.severity, row.source) == (run.run_id, "heartbeat_stale", "critical", "viewer")
        assert "no heartbeat for" in row.message
        # Textual posts notifications as messages: they land after the panel's update
        await wait_until(pilot, lambda: any(t == "alert heartbeat_stale" for t, _m, _s in notes(app)),
                         what="the stale-heartbeat notification")
        # the message counts the silence in seconds: the panel's row may be a poll newer than the toast
        stale = [(m, sev) for t, m, sev in notes(app) if t == "alert heartbeat_stale"]
        assert len(stale) == 1 and stale[0][0].startswith(f"{run.run_id}: no heartbeat for ") and stale[0][1] == "error"
        assert CountingBells.bells == 1  # config.bell: one bell per newly raised alert, not per poll
        write_state(run)  # a fresh heartbeat
        await wait_until(pilot, lambda: not panel.rows, what="the stale alert to clear")


async def test_real_job_alert_rule_raises_in_the_console(child_env: dict[str, str], rollout_cmd: list[str],
                                                         workspace: Path, tmp_path: Path) -> None:
    """A config rule on counters.failed, evaluated by a real `rollout demo` job, reaches the console."""
    (tmp_path / "rollout.toml").write_text(  # cwd of the job (the workspace fixture chdirs to tmp_path)
        'use_default_alerts = false\n\n[[alerts]]\nname = "items_failing"\nmetric = "counters.failed"\n'
        'op = ">"\nthreshold = 0\nseverity = "warn"\n'
    )
    log = open(tmp_path / "demo.log", "wb")
    proc = subprocess.Popen(rollout_cmd + ["demo", "--items", "300", "--delay", "0.05", "--fail-every", "10",
                                           "--plain"], env=child_env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=tmp_path)
    try:
        app = make_app(workspace, tmp_path, monitor=False)
        async with app.run_test(size=SIZE) as pilot:
            panel = app.screen.query_one(AlertsPanel)
            await wait_until(pilot, lambda: any(r.name == "items_failing" for r in panel.rows), timeout=30,
                             what="the job's alert in the panel")
            run_id = list_runs(workspace)[0].run_id
            assert panel.rows[0].run_id == run_id and panel.rows[0].severity == "warn"
            await wait_until(pilot, lambda: any(t == "alert items_failing" for t, _m, _s in notes(app)),
                             what="the job's alert notification")
            assert any(t == "alert items_failing" and s == "warning" for t, _m, s in notes(app))
            proc.terminate()
            assert proc.wait(timeout=30) == 130
            # a finished run takes its alerts with it, without a misleading "cleared" note
            await wait_until(pilot, lambda: not panel.rows, what="the panel to empty")
            assert not any(t == "alert cleared" for t, _m, _s in notes(app))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        log.close()


# -- job-specific figures --------------------------------------------------------------------


async def detail_text(app: RolloutApp, pilot, run: RunDir) -> str:
    table = app.screen.query_one(RunsTable)
    detail = app.screen.query_one(RunDetail)
    await wait_until(pilot, lambda: run.run_id in table.run_ids, what="the row")
    table.move_cursor(row=table.get_row_index(run.run_id))
    await wait_until(pilot, lambda: detail.data is not None and detail.data.run_id == run.run_id, what="the detail")
    return rendered(detail.content)


async def test_eval_run_shows_its_learning_curve(workspace: Path, tmp_path: Path) -> None:
    run = live_run(workspace, kind="eval", figures={
        "checkpoint": "checkpoint-300 (step 300)", "tests_done": 42,
        "curve": [{"step": 100, "name": "checkpoint-100", "value": 0.25},
                  {"step": 200, "name": "checkpoint-200", "value": 0.5},
                  {"step": 300, "name": "checkpoint-300", "value": 0.625}],
    })
    app = make_app(workspace, tmp_path, monitor=False)
    async with app.run_test(size=SIZE) as pilot:
        text = await detail_text(app, pilot, run)
    assert "pass@1 by step" in text
    for step, value in (("100", "0.250"), ("200", "0.500"), ("300", "0.625")):
        assert any(f"step {step}" in line and value in line and "█" in line for line in text.splitlines()), text
    assert "best: step 300" in text
    assert "tests_done" in text and "checkpoint-300 (step 300)" in text  # the other scalars are listed


async def test_serve_run_shows_url_and_metrics(workspace: Path, tmp_path: Path) -> None:
    run = live_run(workspace, kind="serve", status="serving", phase="serving", figures={
        "url": "http://127.0.0.1:31234", "port": 31234, "server": {"engine": "sglang", "ready_after_s": 42.0},
        "metrics_ok": True, "running_reqs": 7.0, "queued_reqs": 2.0,
        "metrics": {"running_reqs": 7.0, "queued_reqs": 2.0, "token_usage": 0.8123, "gen_throughput": 1534.2,
                    "cache_hit_rate": 0.41, "ttft_p50_s": 0.12, "ttft_p95_s": 1.5},
    })
    app = make_app(workspace, tmp_path, monitor=False)
    async with app.run_test(size=SIZE) as pilot:
        text = await detail_text(app, pilot, run)
    assert "http://127.0.0.1:31234" in text and "sglang" in text
    for label, value in (("running", "7"), ("queued", "2"), ("token usage", "81.2%"), ("cache hit", "41.0%"),
                         ("gen throughput", "1,534 tok/s"), ("TTFT p50/p95", "120 ms / 1.50 s")):
        assert any(label in line and value in line for line in text.splitlines()), (label, value, text)


async def test_processor_run_shows_latency_and_error_rate(workspace: Path, tmp_path: Path) -> None:
    run = live_run(workspace, kind="process", figures={
        "endpoint": "http://127.0.0.1:8000/v1", "model": "gpt-4o-mini", "latency_p50_s": 0.35,
        "latency_p95_s": 2.25, "error_rate_recent": 0.08, "req_per_s": 12.5, "attempts": 400, "concurrency": 16,
    })
    app = make_app(workspace, tmp_path, monitor=False)
    async with app.run_test(size=SIZE) as pilot:
        text = await detail_text(app, pilot, run)
    assert "http://127.0.0.1:8000/v1" in text and "gpt-4o-mini" in text
    for label, value in (("latency p50", "350 ms"), ("latency p95", "2.25 s"), ("error rate", "8.0%"),
                         ("req/s", "12.5"), ("tokens/s", "42.0"), ("cost", "$0.25"), ("projected", "$0.75")):
        assert any(label in line and value in line for line in text.splitlines()), (label, value, text)


@pytest.mark.parametrize("size", [(160, 45), (100, 30)])
async def test_layout_fits(workspace: Path, tmp_path: Path, size: tuple[int, int]) -> None:
    """Every pane is on screen at the sizes people use (tmux splits included)."""
    run = live_run(workspace, alerts=[{"name": "gpu_idle", "severity": "warn", "message": "GPU idle",
                                       "since": time.time()}])
    app = make_app(workspace, tmp_path)
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await wait_until(pilot, lambda: screen.query_one(AlertsPanel).rows, what="the alert")
        box = screen.query_one(BoxPanel)
        assert box.display == (size[1] >= 36)  # a short terminal keeps its rows for the runs
        if not box.display:
            await pilot.press("m")
        await wait_until(pilot, lambda: box.sample is not None, timeout=30, what="a sample")
        await pilot.pause(0.2)
        for selector in ("BoxPanel", "RunsTable", "#run-detail-scroll", "AlertsPanel", "EventsPane"):
            region = screen.query_one(selector).region
            assert region.height >= 3 and region.bottom <= size[1] - 1 and region.right <= size[0], (selector, region)
        table = screen.query_one(RunsTable)
        assert table.region.height >= 5  # header and a few runs
        # the run id is drawn whole (DataTable once kept lines drawn before it measured the column)
        await wait_until(pilot, lambda: run.run_id in "".join(table.render_line(y).text for y in range(1, 4)),
                         timeout=5, what="the full run id on screen")


async def test_finished_eval_run_curve_comes_from_its_output_folder(workspace: Path, tmp_path: Path) -> None:
    """A run whose state has no curve: the console reads the evaluation's summary (engine.evaluation)."""
    from engine.evaluation.results import write_summary

    out = tmp_path / "eval-out"
    write_summary(out, {"checkpoints": [
        {"step": 50, "name": "checkpoint-50", "status": "done", "pass@1": 0.1},
        {"step": 150, "name": "checkpoint-150", "status": "done", "pass@1": 0.4},
        {"step": 250, "name": "checkpoint-250", "status": "incomplete", "pass@1": 0.9},  # partial: left out
    ]})
    run = create_run(workspace, "eval", ["rollout", "eval"], outputs={"output_dir": str(out)}, title="eval")
    write_state(run, status="done", figures={"tests_done": 7})
    app = make_app(workspace, tmp_path, monitor=False)
    async with app.run_test(size=SIZE) as pilot:
        text = await detail_text(app, pilot, run)
    assert any("step  50" in line and "0.100" in line for line in text.splitlines()), text
    assert any("step 150" in line and "0.400" in line for line in text.splitlines()), text
    assert "step 250" not in text and "best: step 150" in text
