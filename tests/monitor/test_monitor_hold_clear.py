"""Hold and clear thresholds: a figure hovering at its threshold raises once and clears once."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from engine.alerts import AlertEvaluator, build_metrics, clear_threshold, default_rules, rules_from_config
from engine.config import AlertRule, Config, load_config
from engine.errors import InputError


def recorded_success_series(seed: int = 7) -> list[tuple[float, dict]]:
    """10 minutes of states, two a second, of a run whose success rate wobbles around 50%, then
    a minute at 70%: what a real run sitting at its threshold writes."""
    rng = random.Random(seed)
    ok = failed = 0
    out = []
    for i in range(1200 + 120):
        t = i * 0.5
        p = 0.5 if i < 1200 else 0.9
        for _ in range(2):  # ~4 items/s
            if rng.random() < p:
                ok += 1
            else:
                failed += 1
        # the figure a job reports: the success rate over its last 40 items, noisy around 0.5
        recent = 0.5 + rng.uniform(-0.04, 0.04) if i < 1200 else 0.7
        state = {"status": "running", "heartbeat": t, "counters": {"ok": ok, "failed": failed, "done": ok + failed},
                 "figures": {"success_rate": round(recent, 4), "success_rate_n": ok + failed}}
        out.append((t, state))
    return out


def transitions(rules: list[AlertRule], series: list[tuple[float, dict]], name: str) -> list[tuple[float, str]]:
    ev = AlertEvaluator(rules, clock=lambda: 0.0)
    out = []
    for t, state in series:
        for tr in ev.evaluate(build_metrics(state, None, now=t), now=t):
            if tr.rule.name == name:
                out.append((t, "raise" if tr.raised else "clear"))
    return out


def test_success_rate_hovering_at_its_threshold_raises_once_and_clears_once() -> None:
    series = recorded_success_series()
    below = sum(1 for _, s in series if s["figures"]["success_rate"] < 0.5)
    above = sum(1 for _, s in series[:1200] if s["figures"]["success_rate"] >= 0.5)
    assert below > 300 and above > 300  # the figure really crosses its threshold, hundreds of times
    got = transitions(default_rules(), series, "success_rate_low")
    assert [kind for _, kind in got] == ["raise", "clear"]
    raised_at, cleared_at = got[0][0], got[1][0]
    assert raised_at < 60  # raised early in the 10 minutes...
    assert 600 <= cleared_at <= 600 + 35  # ...and cleared once the figure stayed at 70% for the clear hold


def test_without_a_clear_band_the_same_series_flaps() -> None:
    """What the console showed before: the rule raised and cleared on every wobble."""
    flappy = [AlertRule(name="success_rate_low", metric="derived.success_rate", op="<", threshold=0.5,
                        clear_threshold=0.5, min_samples=20)]
    assert len(transitions(flappy, recorded_success_series(), "success_rate_low")) > 100


def test_noisy_error_rate_around_its_threshold_raises_once() -> None:
    rng = random.Random(3)
    series = []
    for i in range(1200):
        # a window over the last 200 requests drifts slowly around 5%, with jitter
        value = 0.05 + 0.012 * math.sin(i / 40) + rng.uniform(-0.003, 0.003) if i < 1100 else 0.0
        series.append((i * 0.5, {"status": "running", "counters": {"ok": 100 + i, "failed": 0},
                                 "figures": {"error_rate_recent": value, "error_rate_recent_n": 200}}))
    got = transitions(default_rules(), series, "error_rate_high")
    assert [kind for _, kind in got] == ["raise", "clear"]


def test_default_clear_thresholds_sit_on_the_good_side() -> None:
    rules = {r.name: r for r in default_rules(budget_usd=100)}
    assert clear_threshold(rules["success_rate_low"]) == pytest.approx(0.55)
    assert clear_threshold(rules["error_rate_high"]) == pytest.approx(0.025)
    assert clear_threshold(rules["disk_low"]) > rules["disk_low"].threshold
    for r in rules.values():
        assert r.clear_hold_s is not None and r.clear_hold_s >= r.hold_s
    explicit = AlertRule(name="x", metric="figures.x", op=">", threshold=10, clear_threshold=4)
    assert clear_threshold(explicit) == 4


def test_alert_tuning_in_the_config_file(tmp_path: Path) -> None:
    cfg_file = tmp_path / "rollout.toml"
    cfg_file.write_text("[alert_tuning.success_rate_low]\nthreshold = 0.4\nclear_threshold = 0.6\nhold_s = 90\n")
    rules = {r.name: r for r in rules_from_config(load_config(cfg_file))}
    rule = rules["success_rate_low"]
    assert (rule.threshold, rule.clear_threshold, rule.hold_s, rule.min_samples) == (0.4, 0.6, 90, 20)
    with pytest.raises(InputError, match="alert_tuning.no_such_rule: no such alert rule"):
        rules_from_config(Config(alert_tuning={"no_such_rule": {"hold_s": 1}}))


def test_the_last_state_clears_an_alert_whose_figure_is_back_without_waiting() -> None:
    """A run that recovers just before it ends: its last state clears the alert (nothing can flap
    after it); a last state still past the threshold keeps it raised."""
    series = [(i * 0.5, {"status": "running", "counters": {"ok": 100 + i, "failed": 0},
                         "figures": {"error_rate_recent": 0.2 if i < 40 else 0.0, "error_rate_recent_n": 200}})
              for i in range(50)]
    for last_rate, want in ((0.0, ["raise", "clear"]), (0.2, ["raise"])):
        ev = AlertEvaluator(default_rules(), clock=lambda: 0.0)
        kinds = []
        steps = [*series[:-1], (series[-1][0], {**series[-1][1], "status": "done",
                                                "figures": {"error_rate_recent": last_rate,
                                                            "error_rate_recent_n": 200}})]
        for t, state in steps:
            final = state["status"] == "done"
            kinds += ["raise" if tr.raised else "clear" for tr in ev.evaluate(build_metrics(state, None, now=t), now=t,
                                                                                final=final)
                      if tr.rule.name == "error_rate_high"]
        assert kinds == want, last_rate
