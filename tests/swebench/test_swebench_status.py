"""Seed 004's monitoring line in ``rollout status`` (plain, --tmux, --json) and ``rollout show``.

The run directories are real: figures scored from real SWE-bench Lite instances with
harness-shaped reports (engine.report), written as the eval driver writes them, read back by
the installed entry point's fast path and by the Typer commands.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import psutil
from headless.headless_helpers import invoke, launcher, make_run

from engine.config import ScorecardSettings
from engine.report.monitor import live_figures
from engine.report.scorecard import score_instance
from engine.report.split import split_tests
from engine.runs import RunDir
from engine.swebench.reports import parse_report
from swebench_helpers import LITE_TEST, harness_report, instances


def _eval_run(workspace: Path, status: str, *, resolved: int, graded: int, total: int, started: float) -> tuple[RunDir, str]:
    """An eval run with ``graded`` of ``total`` real instances scored (the first ``resolved`` pass
    every test, the others only their public tests); returns the run and its monitoring line."""
    data = instances(LITE_TEST)
    s = ScorecardSettings()
    scores = []
    for k, iid in enumerate(sorted(data)[:graded]):
        inst = data[iid]
        passed = inst.tests if k < resolved else split_tests(iid, inst.tests, s.public_ratio, s.split_seed).public
        sc = score_instance(inst, parse_report(harness_report(inst, passed))[0], s, brs=1.0 if k < resolved else 0.0)
        sc.cost_usd = 2.5
        scores.append(sc)
    figures = live_figures(scores, total=total, eta_s=90.0 * (total - graded))
    run = make_run(workspace, "swebench", status, done=graded, total=total, cost=figures["cost_so_far_usd"],
                   eta=figures["eta_s"], started=started)
    state = run.read_state()
    state["figures"] = {**figures, "harness_run_id": f"phase-{total}", "stalled": [], "last_error": None}
    run.write_state(state)
    return run, figures["monitor_line"]


def test_status_and_show_carry_the_monitoring_line(workspace: Path) -> None:
    # an active run's pid is this test's: it must have started after this process (else: lost)
    began, now = psutil.Process().create_time(), time.time()
    older, older_line = _eval_run(workspace, "running", resolved=1, graded=2, total=4, started=began + 0.01)
    newer, newer_line = _eval_run(workspace, "running", resolved=2, graded=3, total=10, started=now)
    _eval_run(workspace, "done", resolved=1, graded=1, total=1, started=now - 86400)  # over: never shown
    make_run(workspace, "process", "running", done=5, total=10, cost=1.0, eta=30.0)  # no monitoring line
    # 2 of 3 graded succeed, BRS (1 + 1 + 0) / 3, 3 x $2.50, 7 left at 90 s each
    assert newer_line.startswith("progress 3/10 instances · success 66.7% · Overall ")
    assert " · BRS 0.667 · overfit gap " in newer_line and newer_line.endswith(" · ETA 10m30s · cost $7.50")

    plain = launcher(workspace, "status")
    assert plain.returncode == 0 and plain.stderr == ""
    # the summary of the three active runs first, then the newest evaluation's line, whole
    assert plain.stdout == f"3 runs 42% eta 10m30s $13.50 | {newer_line} (+1 more)\n"

    tmux = launcher(workspace, "status", "--tmux").stdout
    assert "\x1b" not in tmux and tmux.startswith("#[fg=green]3 runs#[default] ")
    assert re.sub(r"#\[[^\]]*\]", "", tmux) == plain.stdout  # tmux styles only, same text

    data = json.loads(launcher(workspace, "status", "--json").stdout)
    assert data["schema_version"] == 1
    assert (data["monitor_line"], data["monitor_run_id"], data["monitor_runs"]) == (newer_line, newer.run_id, 2)
    lines = {r["run_id"]: r["monitor_line"] for r in data["runs"]}
    assert lines[newer.run_id] == newer_line and lines[older.run_id] == older_line
    assert sorted(v is None for v in lines.values()) == [False, False, True]  # the processing run has none
    # the Typer command prints the very same line
    assert invoke("status").stdout == plain.stdout

    shown = invoke("show", older.run_id).stdout
    assert f"monitor  {older_line}\n" in shown and shown.count("progress 2/4 instances") == 1
    assert json.loads(invoke("show", older.run_id, "--json").stdout)["state"]["figures"]["monitor_line"] == older_line


def test_no_monitoring_line_without_an_active_evaluation(workspace: Path) -> None:
    run, line = _eval_run(workspace, "done", resolved=1, graded=2, total=2, started=time.time() - 60)
    assert launcher(workspace, "status").stdout == "rollout idle\n"
    data = json.loads(launcher(workspace, "status", "--json").stdout)
    assert (data["monitor_line"], data["monitor_run_id"], data["monitor_runs"]) == (None, None, 0)
    assert f"monitor  {line}\n" in invoke("show", run.run_id).stdout  # a finished run still shows its last line
