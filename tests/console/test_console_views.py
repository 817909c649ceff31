"""The per-kind views embedded in the detail pane: eval (checkpoint table + learning curve),
server (phase, log tail, metric history), process (rates, latency history, failures by reason)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from console.app import RolloutApp
from console.widgets.eval_view import EvalView, LearningCurve
from console.widgets.process_view import ProcessView
from console.widgets.runs_table import RunsTable
from console.widgets.server_view import ServerView
from console_helpers import wait_until
from engine.evaluation.results import checkpoint_dir, write_metrics
from engine.runs import create_run


def make_app(workspace: Path, tmp_path: Path) -> RolloutApp:
    return RolloutApp(workspace, refresh_interval=0.2, user_themes_dir=tmp_path / "none", monitor=False)


def state(**extra) -> dict:
    base = {"status": "running", "phase": "working", "heartbeat": time.time(), "elapsed_s": 3.0,
            "counters": {"total": 10, "done": 4, "ok": 4, "failed": 0}, "rate": {"items_per_s": 1.0},
            "alerts": [], "figures": {}}
    base.update(extra)
    return base


def eval_metrics(out: Path, step: int, p1: float, p5: float, complete: bool = True) -> None:
    write_metrics(checkpoint_dir(out, str(step)), {
        "checkpoint": f"checkpoint-{step}", "step": step, "complete": complete, "evaluated_at": time.time(),
        "files": {"a.jsonl": {}, "b.jsonl": {}},
        "overall": {"problems": 164, "samples": 820, "passed": 300, "pass@1": p1, "pass@5": p5,
                    "status_counts": {"AC": 300, "WA": 500, "TLE": 20}, "per_problem": {"x": {}}},
    })


async def test_eval_view_lists_checkpoints_marks_the_best_and_plots_live(workspace: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval-out"
    eval_metrics(out, 100, 0.20, 0.35)
    eval_metrics(out, 200, 0.41, 0.60)
    run = create_run(workspace, "eval", ["rollout", "eval"], outputs={"output_dir": str(out)})
    run.update_run(pid=os.getpid())
    run.write_state(state(figures={"checkpoint": "checkpoint-300 (step 300)"}))
    app = make_app(workspace, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        view = app.screen.query_one(EvalView)
        await wait_until(pilot, lambda: view.display and len(view._cells) == 2, what="two checkpoints")
        curve = view.query_one(LearningCurve)
        assert curve.points == ((100, 0.20), (200, 0.41)) and curve.points_k == ((100, 0.35), (200, 0.60))
        best = view._cells["200:checkpoint-200"]
        assert best[0].plain == "★" and view._cells["100:checkpoint-100"][0].plain == ""
        assert [c.plain for c in best[3:8]] == ["2", "820", "41.0%", "60.0% @5", "WA 500 AC 300 TLE 20"]
        # a checkpoint finishes while we watch: its row and its point appear
        eval_metrics(out, 300, 0.55, 0.70)
        await wait_until(pilot, lambda: len(curve.points) == 3, what="the new point")
        assert view._cells["300:checkpoint-300"][0].plain == "★"
        plot = "\n".join(curve.render_line(y).text for y in range(curve.size.height))
        assert "learning curve" in plot and "★" in plot


async def test_server_view_keeps_metric_history_and_the_log_tail(workspace: Path, tmp_path: Path) -> None:
    run = create_run(workspace, "serve", ["rollout", "serve"])
    run.update_run(pid=os.getpid())
    (run.path / "server.log").write_text("".join(f"log line {i}\n" for i in range(30)) +
                                         "The server is fired up and ready to roll!\n")
    app = make_app(workspace, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        view = app.screen.query_one(ServerView)
        for i in range(4):
            run.write_state(state(status="serving", phase="serving", heartbeat=time.time() + i, figures={
                "url": "http://127.0.0.1:30000", "port": 30000,
                "metrics": {"running_reqs": 4.0 + i, "queued_reqs": 1.0, "token_usage": 0.5, "gen_throughput": 900.0,
                            "cache_hit_rate": 0.3}}))
            await wait_until(pilot, lambda i=i: view.display and view.histories.get(run.run_id)
                             and len(view.histories[run.run_id].get("running_reqs")) == i + 1, what=f"point {i}")
        history = view.histories[run.run_id]
        assert history.get("running_reqs") == [4.0, 5.0, 6.0, 7.0] and history.get("cache_hit_rate") == [0.3] * 4
        log = "\n".join(view.query_one("#server-log").render_line(y).text for y in range(8))
        assert "ready to roll" in log and "log line 29" in log and "log line 10" not in log
        head = view.query_one("#server-head").render_line(0).text
        assert "http://127.0.0.1:30000" in head and "phase serving" in head
        assert not app.screen.query_one(EvalView).display


async def test_process_view_rates_latency_history_and_failures_by_reason(workspace: Path, tmp_path: Path) -> None:
    run = create_run(workspace, "process", ["rollout", "process"])
    run.update_run(pid=os.getpid())
    app = make_app(workspace, tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        view = app.screen.query_one(ProcessView)
        for i in range(3):
            run.write_state(state(heartbeat=time.time() + i, counters={"total": 100, "done": 10, "ok": 7, "failed": 3},
                                  rate={"items_per_s": 2.0, "tokens_per_s": 100.0 + i}, figures={
                                      "endpoint": "http://127.0.0.1:8000/v1", "req_per_s": 2.5, "latency_p50_s": 0.3,
                                      "latency_p95_s": 1.2 + i, "error_rate_recent": 0.3,
                                      "failures_by_reason": {"timeout": 2, "http_500": 1}}))
            await wait_until(pilot, lambda i=i: view.display and view.histories.get(run.run_id)
                             and len(view.histories[run.run_id].get("latency_p95_s")) == i + 1, what=f"point {i}")
        assert view.histories[run.run_id].get("tokens_per_s") == [100.0, 101.0, 102.0]
        failures = view.query_one("#process-failures").render_line(0).text
        assert "failures 3" in failures and "timeout 2" in failures and "http_500 1" in failures
        assert app.screen.query_one(RunsTable).selected_run == run.run_id
