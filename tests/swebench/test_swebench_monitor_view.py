"""Seed 004's monitoring line: the figures behind it and how the console and plain lines show it."""

from __future__ import annotations

from rich.console import Console

from console.format import plain_state_line
from console.widgets.job_figures import job_figures_view
from engine.config import ScorecardSettings
from engine.report.monitor import live_figures
from engine.report.scorecard import score_instance
from engine.report.split import split_tests
from engine.swebench.failures import classify_instance_log
from engine.swebench.reports import parse_report
from swebench_helpers import LITE_TEST, harness_report, instances


def _render(renderable) -> str:
    con = Console(width=140, record=True, color_system=None)
    con.print(renderable)
    return con.export_text()


def test_live_figures_and_line_from_real_instances() -> None:
    data = instances(LITE_TEST)
    s = ScorecardSettings()
    a, b, c = (data[i] for i in sorted(data)[:3])
    scores = [score_instance(a, parse_report(harness_report(a, a.tests))[0], s, brs=1.0)]
    public = split_tests(b.instance_id, b.tests, s.public_ratio, s.split_seed).public
    scores.append(score_instance(b, parse_report(harness_report(b, public, resolved=False))[0], s, brs=0.0))
    scores[0].cost_usd, scores[1].cost_usd = 4.0, 6.0
    fail = classify_instance_log("t - INFO - attempting to pull\nt - ERROR - Error creating container: x", c.instance_id)
    scores.append(score_instance(c, None, s, failure=fail))
    f = live_figures(scores, total=10, eta_s=125.0)
    assert (f["instances_done"], f["instances_total"], f["success_rate"], f["success_rate_n"]) == (3, 10, 0.5, 2)
    assert f["brs_mean"] == 0.5 and f["crashes"] == 1 and f["cost_so_far_usd"] == 10.0 and f["cost_per_instance_usd"] == 5.0
    assert f["overfit_gap"] == round((scores[0].overfit_gap + scores[1].overfit_gap) / 2, 6)
    assert f["monitor_line"] == (f"progress 3/10 instances · success 50.0% · Overall {f['overall_mean']:.3f} · "
                                 f"BRS 0.500 · overfit gap {f['overfit_gap']:.3f} · ETA 2m05s · cost $10.00")
    state = {"status": "running", "kind": "swebench", "counters": {"total": 10, "done": 3, "ok": 2, "failed": 1},
             "figures": {**f, "harness_run_id": "phase-2", "stalled": ["x__y-1"], "last_error": fail.message}}
    text = _render(job_figures_view(state))
    assert f["monitor_line"] in text and "stalled: x__y-1" in text and "cannot be pulled" in text
    assert plain_state_line(state).endswith("| " + f["monitor_line"])
