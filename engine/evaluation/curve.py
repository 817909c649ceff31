"""Learning curve: a metric against checkpoint step, as data (for the console) and a text chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BAR = "█"
EMPTY = "·"


def curve_points(checkpoints: list[dict[str, Any]], metric: str = "pass@1") -> list[dict[str, Any]]:
    """``[{step, name, value}]`` sorted by step, for checkpoints that have ``metric``."""
    pts = [{"step": int(c["step"]), "name": c.get("name", ""), "value": float(c[metric])}
           for c in checkpoints if c.get(metric) is not None]
    return sorted(pts, key=lambda p: (p["step"], p["name"]))


def curve_from_output(output_dir: str | Path, metric: str = "pass@1") -> list[dict[str, Any]]:
    """The learning curve of an evaluation's output dir (from batch_eval_results.json); [] if none yet."""
    from engine.evaluation.results import read_summary

    summary = read_summary(Path(output_dir))
    if not summary:
        return []
    # partial (stopped, timed-out) checkpoints would put misleading points on the curve
    return curve_points([c for c in summary.get("checkpoints", []) if c.get("status") in ("done", "skipped")], metric)


def text_chart(points: list[dict[str, Any]], metric: str = "pass@1", width: int = 40) -> str:
    """One bar per checkpoint, scaled to 0..1 (pass rates), with the value and the change."""
    if not points:
        return f"{metric}: no evaluated checkpoints yet"
    step_w = max(len(str(p["step"])) for p in points)
    lines = [f"{metric} by step"]
    prev: float | None = None
    for p in points:
        v = max(0.0, min(1.0, p["value"]))
        n = round(v * width)
        delta = "" if prev is None else f" ({p['value'] - prev:+.3f})"
        lines.append(f"step {str(p['step']).rjust(step_w)} {BAR * n}{EMPTY * (width - n)} {p['value']:.3f}{delta}")
        prev = p["value"]
    best = max(points, key=lambda p: p["value"])
    lines.append(f"best: step {best['step']} ({best['name']}) {metric}={best['value']:.3f}")
    return "\n".join(lines)
