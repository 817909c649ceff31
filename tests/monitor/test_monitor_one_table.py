"""One threshold table and one sampler reader, shared by the box panel, `rollout monitor` and the alert rules."""

from __future__ import annotations

import os
import time
from pathlib import Path

from console.commands.monitor import _level as monitor_level
from console.widgets.box_panel import level as panel_level
from engine.alerts import default_rules
from engine.monitor import THRESHOLDS, SampleReader, monitor_dir, stop_sampler


def test_panel_monitor_and_alert_rules_share_the_thresholds() -> None:
    rules = {r.name: r for r in default_rules()}
    assert rules["gpu_memory_high"].threshold == THRESHOLDS["gpu_mem"].crit
    assert rules["disk_low"].threshold == THRESHOLDS["disk_free"].crit
    for figure, t in THRESHOLDS.items():
        if t.crit > 100 and figure != "gpu_temp":
            continue  # never coloured
        worse = t.crit + 1 if t.higher_is_worse else t.crit - 1
        between = (t.warn + t.crit) / 2
        assert panel_level(figure, worse) == "crit" and monitor_level(figure, worse) == "bold red"
        if t.warn != t.crit:
            assert panel_level(figure, between) == "warn" and monitor_level(figure, between) == "yellow"


def test_reader_keeps_the_sampler_alive_at_its_pace_and_reads_its_sample(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    now = [100.0]
    reader = SampleReader(ws, ensure_every_s=10.0, idle_exit_s=30.0, clock=lambda: now[0])
    try:
        assert reader.read() is None or reader.latest() is not None  # just started: maybe nothing yet
        demand = monitor_dir(ws) / "demand"
        first = demand.stat().st_mtime_ns
        os.utime(demand, ns=(first - 10**9, first - 10**9))  # as if touched a second earlier
        now[0] += 5.0
        reader.read()
        assert demand.stat().st_mtime_ns == first - 10**9  # within ensure_every_s: not touched again
        now[0] += 6.0
        reader.read()
        assert demand.stat().st_mtime_ns > first - 10**9
        sample = reader.wait(20.0)
        assert sample is not None and sample["age_s"] < 15 and "metrics" in sample
        asked = []
        now[0] += 11.0
        reader.read(lambda: asked.append(1) or {"out": str(tmp_path)})
        now[0] += 1.0
        reader.read(lambda: asked.append(1) or {"out": str(tmp_path)})
        assert asked == [1]  # output paths are gathered only when the sampler is touched
    finally:
        deadline = time.monotonic() + 10
        while not stop_sampler(ws) and time.monotonic() < deadline:
            time.sleep(0.1)
