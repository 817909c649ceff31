"""The live view (rollout watch / foreground jobs) shows the figures that matter first."""

from __future__ import annotations

from rich.console import Console

from console.format import plain_state_line
from console.render import figure_rows, state_view


def test_known_figures_first_with_units_and_server_metrics() -> None:
    rows = figure_rows({
        "zeta": 1, "written": 5, "failed_by_reason": {"x": 1}, "req_per_s": 12.5, "latency_p95_s": 2.25,
        "error_rate_recent": 0.06, "cost_per_instance_usd": 7.5,
        "server": {"running_reqs": 12, "queued_reqs": 3, "token_usage": 0.5},
    })
    labels = [label for label, _ in rows]
    assert labels[:4] == ["req/s", "latency p95 s", "error rate (last 200)", "cost / instance"]
    assert dict(rows)["error rate (last 200)"] == "6.0%" and dict(rows)["cost / instance"] == "$7.50"
    assert dict(rows)["server"] == "running 12  queued 3  KV usage 50.0%"
    assert "failed_by_reason" not in labels and labels[-2:] == ["written", "zeta"]


def test_state_view_and_plain_line_render_alerts_and_unknown_cost() -> None:
    state = {"status": "waiting", "counters": {"total": 10, "done": 4, "ok": 3, "failed": 1}, "cost_usd": None,
             "alerts": [{"name": "endpoint_down", "severity": "critical", "message": "no answer from http://x"}],
             "figures": {"req_per_s": 3.0}}
    console = Console(width=100, record=True, color_system=None)
    console.print(state_view("process-1", state))
    text = console.export_text()
    assert "ALERT endpoint_down: no answer from http://x" in text and "4/10 (40.0%)" in text
    line = plain_state_line(state)
    assert "[waiting]" in line and "cost=?" in line and "alerts=endpoint_down" in line
