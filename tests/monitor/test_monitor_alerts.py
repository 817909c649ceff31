"""Alert rules: hysteresis, minimum samples, the default rules, and on_alert delivery."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import psutil
import pytest

from engine.alerts import (
    AlertEvaluator,
    AlertHook,
    OnAlertRunner,
    build_metrics,
    default_rules,
    rules_from_config,
    stale_alert,
)
from engine.config import AlertRule, Config
from engine.jobs import Alert, JobContext
from engine.runs import create_run


class Clock:
    """A hand-driven monotonic clock: series are replayed without sleeping."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def rule(**kw) -> AlertRule:
    base = dict(name="r", metric="figures.x", op=">", threshold=1.0)
    base.update(kw)
    return AlertRule(**base)


def feed(ev: AlertEvaluator, clock: Clock, series: list[tuple[float, float | None]]) -> list[tuple[float, str]]:
    """Feed (time, value) points as figures.x; return (time, 'raise'|'clear') transitions."""
    out = []
    for t, v in series:
        clock.t = t
        ns = {"figures": {} if v is None else {"x": v}}
        for tr in ev.evaluate(ns):
            out.append((t, "raise" if tr.raised else "clear"))
    return out


def test_hysteresis_raise_after_hold_and_clear_after_hold() -> None:
    clock = Clock()
    ev = AlertEvaluator([rule(hold_s=10)], clock=clock)
    series = [(0, 0.5), (1, 2.0), (5, 2.0), (10.9, 2.0), (11, 2.0), (12, 3.0),  # raise at 11
              (13, 0.5), (20, 0.5), (22, 2.0),   # a dip shorter than hold does not clear
              (23, 0.1), (30, 0.1), (33, 0.1)]    # cleared 10 s after it stopped holding (t=33)
    assert feed(ev, clock, series) == [(11, "raise"), (33, "clear")]
    assert ev.active == set()


def test_short_spike_never_raises_with_hold() -> None:
    clock = Clock()
    ev = AlertEvaluator([rule(hold_s=5)], clock=clock)
    assert feed(ev, clock, [(0, 9.0), (3, 9.0), (4, 0.0), (6, 9.0), (10, 9.0), (10.5, 0.0)]) == []


def test_zero_hold_raises_and_clears_at_once() -> None:
    clock = Clock()
    ev = AlertEvaluator([rule()], clock=clock)
    assert feed(ev, clock, [(0, 2.0), (1, 2.0), (2, 0.0), (3, 2.0)]) == [(0, "raise"), (2, "clear"), (3, "raise")]


def test_missing_metric_does_not_hold() -> None:
    clock = Clock()
    ev = AlertEvaluator([rule(metric="gpu.max_util", op="<", threshold=10)], clock=clock)
    assert ev.evaluate({"gpu": {"max_util": None}}) == []
    assert ev.evaluate({}) == []
    assert [t.raised for t in ev.evaluate({"gpu": {"max_util": 3}})] == [True]
    assert [t.raised for t in ev.evaluate({})] == [False]


def test_min_samples_counts_items_for_job_metrics() -> None:
    clock = Clock()
    ev = AlertEvaluator([rule(metric="counters.failed", op=">=", threshold=1, min_samples=20)], clock=clock)
    assert ev.evaluate({"counters": {"ok": 5, "failed": 5}}) == []
    assert ev.evaluate({"counters": {"ok": 9, "failed": 10}}) == []
    raised = ev.evaluate({"counters": {"ok": 10, "failed": 10}})
    assert [t.rule.name for t in raised if t.raised] == ["r"]


def test_min_samples_uses_metric_n_when_given() -> None:
    clock = Clock()
    ev = AlertEvaluator([rule(metric="figures.error_rate_recent", threshold=0.05, min_samples=20)], clock=clock)
    assert ev.evaluate({"figures": {"error_rate_recent": 0.5, "error_rate_recent_n": 19}, "counters": {"ok": 500}}) == []
    assert len(ev.evaluate({"figures": {"error_rate_recent": 0.5, "error_rate_recent_n": 20}})) == 1


def test_min_samples_counts_evaluations_for_monitor_metrics() -> None:
    clock = Clock()
    ev = AlertEvaluator([rule(metric="cpu.total_pct", threshold=90, min_samples=3)], clock=clock)
    assert ev.evaluate({"cpu": {"total_pct": 99}}) == []
    assert ev.evaluate({"cpu": {"total_pct": 99}}) == []
    assert len(ev.evaluate({"cpu": {"total_pct": 99}})) == 1


def _gpu_sample(util: float, mem_pct: float) -> dict:
    return {"age_s": 0.5, "gpu": {"available": True, "gpus": [{"index": 0, "util_pct": util}, {"index": 1, "util_pct": 90}]},
            "metrics": {"gpu": {"count": 2, "max_util": 90, "max_mem_pct": mem_pct}, "disk": {"min_free_pct": 50.0}}}


BASE_STATE = {"status": "running", "heartbeat": 0.0, "counters": {"ok": 30, "failed": 0, "done": 30},
              "figures": {}, "cost_usd": 1.0, "cost_projected_usd": 2.0}

CASES = {
    "overfit_gap_high": ({"figures": {"overfit_gap": 0.2}}, None),
    "success_rate_low": ({"counters": {"ok": 8, "failed": 12, "done": 20}}, None),
    "cost_overrun": ({"cost_usd": 30 * 7.5}, None),
    "infrastructure_failure": ({"figures": {"crashes": 2}}, None),
    "gpu_idle": ({"figures": {"gpu_indices": [0, 1]}}, _gpu_sample(util=3, mem_pct=50)),
    "gpu_memory_high": ({}, _gpu_sample(util=80, mem_pct=97.5)),
    "disk_low": ({}, {"age_s": 0, "metrics": {"disk": {"workspace_free_pct": 7.0, "min_free_pct": 7.0}}}),
    "error_rate_high": ({"figures": {"error_rate_recent": 0.08, "error_rate_recent_n": 200}}, None),
    "heartbeat_stale": ({"heartbeat": -100.0}, None),
    "budget_exceeded": ({"cost_projected_usd": 150.0}, None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_default_rule_fires_on_a_crafted_state(name: str) -> None:
    rules = default_rules(budget_usd=100.0)
    assert {r.name for r in rules} == set(CASES)
    changes, sample = CASES[name]
    state = json.loads(json.dumps(BASE_STATE))
    for k, v in changes.items():
        state[k] = {**state[k], **v} if isinstance(v, dict) else v
    clock = Clock()
    ev = AlertEvaluator(rules, clock=clock)
    hold = next(r.hold_s for r in rules if r.name == name)
    raised: set[str] = set()
    for dt in (0.0, hold / 2, hold + 0.01):
        clock.t = 1000.0 + dt
        ns = build_metrics(state, sample, now=0.0)
        raised |= {t.rule.name for t in ev.evaluate(ns) if t.raised}
    assert raised == {name}, f"{name}: raised {raised}"


def test_the_healthy_base_state_raises_nothing() -> None:
    ev = AlertEvaluator(default_rules(budget_usd=100.0), clock=Clock())
    assert ev.evaluate(build_metrics(BASE_STATE, _gpu_sample(util=80, mem_pct=60), now=0.0)) == []


def test_gpu_idle_needs_a_job_that_targets_the_gpu() -> None:
    ns = build_metrics(BASE_STATE, _gpu_sample(util=0, mem_pct=10))
    assert "target_gpu_util" not in ns["derived"]
    ns = build_metrics({**BASE_STATE, "figures": {"targets_gpu": True}}, _gpu_sample(util=0, mem_pct=10))
    assert ns["derived"]["target_gpu_util"] == 0


def test_rules_from_config_defaults_overrides_and_toggle() -> None:
    names = {r.name for r in rules_from_config(Config())}
    assert "success_rate_low" in names and "budget_exceeded" not in names
    cfg = Config(budget_usd=50, alerts=[AlertRule(name="disk_low", metric="disk.min_free_pct", op="<", threshold=25),
                                        AlertRule(name="gpu_idle", metric="x", op="<", threshold=1, enabled=False)])
    rules = {r.name: r for r in rules_from_config(cfg)}
    assert rules["disk_low"].threshold == 25 and "gpu_idle" not in rules and rules["budget_exceeded"].threshold == 50
    cfg = Config(use_default_alerts=False, alerts=[AlertRule(name="mine", metric="counters.failed", op=">", threshold=0)])
    assert [r.name for r in rules_from_config(cfg)] == ["mine"]


def test_stale_alert_for_viewers() -> None:
    state = {"status": "running", "heartbeat": 100.0}
    assert stale_alert(state, now=110.0) is None
    alert = stale_alert(state, now=200.0)
    assert alert is not None and alert.name == "heartbeat_stale" and alert.value == 100.0
    assert stale_alert({"status": "done", "heartbeat": 100.0}, now=500.0) is None


# -- delivery ------------------------------------------------------------------------------


def _writer_script(tmp_path: Path, body: str) -> str:
    script = tmp_path / "hook.py"
    script.write_text(f"import os, sys, time\n{body}\n")
    return f"{sys.executable} {script}"


def test_on_alert_receives_the_alert_json(tmp_path: Path) -> None:
    out = tmp_path / "received.json"
    cmd = _writer_script(tmp_path, f"open({str(out)!r}, 'w').write(sys.stdin.read())")
    runner = OnAlertRunner(cmd, timeout_s=20)
    runner.submit({"name": "disk_low", "state": "raised", "value": 7.0, "run_id": "x"})
    runner.join(30)
    data = json.loads(out.read_text())
    assert data == {"name": "disk_low", "state": "raised", "value": 7.0, "run_id": "x"}
    [result] = runner.drain()
    assert result.returncode == 0 and not result.timed_out


def test_a_hanging_on_alert_command_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    cmd = _writer_script(tmp_path, f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)")
    runner = OnAlertRunner(cmd, timeout_s=1.0)
    t0 = time.monotonic()
    thread = runner.submit({"name": "x", "state": "raised"})
    assert thread.is_alive()  # submit returns at once: the job is never blocked
    runner.join(30)
    assert time.monotonic() - t0 < 10
    [result] = runner.drain()
    assert result.timed_out
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the hanging hook is still alive"
        time.sleep(0.05)


def test_hook_delivers_raise_and_clear_and_reports_a_killed_command(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    run = create_run(ws, "test", [])
    log = tmp_path / "deliveries.jsonl"
    cmd = _writer_script(tmp_path, f"open({str(log)!r}, 'a').write(sys.stdin.read())")
    cfg = Config(use_default_alerts=False, on_alert=cmd,
                 alerts=[AlertRule(name="too_many_failures", metric="counters.failed", op=">", threshold=2, hold_s=5)])
    clock = Clock()
    hook = AlertHook(cfg, clock=clock, read_sample=lambda ws: None)
    lines: list[str] = []
    ctx = JobContext(run, kind="test", config=cfg, echo=lines.append)

    def state(failed: int) -> dict:
        return {"status": "running", "counters": {"ok": 10, "failed": failed}, "figures": {}}

    hook(state(3), ctx)
    clock.t += 5
    hook(state(4), ctx)
    assert "too_many_failures" in ctx.alerts
    ctx.raise_alert(Alert(name="endpoint_down", severity="critical", message="connection refused"))
    hook(state(5), ctx)  # delivers the job's own alert too
    assert ctx.alerts["too_many_failures"].value == 5  # an active alert follows the metric
    clock.t += 1
    hook(state(0), ctx)
    clock.t += 5
    hook(state(0), ctx)
    assert "too_many_failures" not in ctx.alerts
    hook.runner.join(30)
    got = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted((g["name"], g["state"]) for g in got) == [
        ("endpoint_down", "raised"), ("too_many_failures", "cleared"), ("too_many_failures", "raised")]
    raised = next(g for g in got if g["state"] == "raised" and g["name"] == "too_many_failures")
    assert raised["run_id"] == run.run_id and raised["value"] == 4 and raised["severity"] == "warn"
    events = [e for e in run.read_events() if e["type"] == "alert"]
    assert [(e["name"], e["state"]) for e in events] == [
        ("too_many_failures", "raised"), ("endpoint_down", "raised"), ("too_many_failures", "cleared")]
    assert any(line.startswith("alert [warn] too_many_failures") for line in lines)
    hook(state(0), ctx)  # reports the finished deliveries
    assert sum(e["type"] == "alert_delivered" for e in run.read_events()) == 3

    # a hanging command is killed and reported as one warning
    hang = _writer_script(tmp_path, "time.sleep(120)")
    cfg2 = cfg.model_copy(update={"on_alert": hang, "on_alert_timeout_s": 0.5})
    hook2 = AlertHook(cfg2, clock=clock, read_sample=lambda ws: None)
    ctx2 = JobContext(create_run(ws, "test", []), kind="test", config=cfg2)
    ctx2.raise_alert(Alert(name="endpoint_down"))
    hook2(state(0), ctx2)
    hook2.runner.join(30)
    hook2(state(0), ctx2)
    warnings = [e for e in ctx2.run.read_events() if e.get("level") == "warning"]
    assert len(warnings) == 1 and "killed after 0.5s" in warnings[0]["message"]


def test_job_disks_merge_with_the_sample_and_the_fullest_counts() -> None:
    sample = {"age_s": 0.1, "metrics": {"disk": {"workspace_free_pct": 50.0, "min_free_pct": 50.0}}}
    ns = build_metrics(BASE_STATE, sample, {"disk": {"output_free_pct": 7.0, "min_free_pct": 7.0}})
    assert ns["disk"] == {"workspace_free_pct": 50.0, "output_free_pct": 7.0, "min_free_pct": 7.0}
    ns = build_metrics(BASE_STATE, None, {"disk": {"workspace_free_pct": 60.0, "min_free_pct": 60.0}})
    assert ns["disk"]["min_free_pct"] == 60.0 and "monitor" not in ns


def test_error_rate_counts_the_processors_attempts() -> None:
    clock = Clock()
    rules = [r for r in default_rules() if r.name == "error_rate_high"]
    ev = AlertEvaluator(rules, clock=clock)
    state = {"counters": {"ok": 0, "failed": 0}, "figures": {"error_rate_recent": 0.5, "attempts": 10}}
    assert ev.evaluate(build_metrics(state)) == []  # 10 attempts: too few to judge
    state["figures"]["attempts"] = 40
    for t in (1.0, 6.0):  # items are still retrying (none done): attempts are the observations
        clock.t = 1000 + t
        changes = ev.evaluate(build_metrics(state))
    assert [c.raised for c in changes] == [True]
