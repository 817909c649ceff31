"""PNG plots of a report with matplotlib (optional extra ``report``): histograms and metric by phase."""

from __future__ import annotations

import re
from pathlib import Path

from engine.errors import InputError
from engine.report.build import METRICS, Report

HIST_KEYS = ("overall", "brs", "hfs", "tss", "overfit_gap", "cost_usd")
PHASE_KEYS = (("overall_mean", "Overall"), ("success_rate", "success rate"), ("brs_mean", "BRS"),
              ("hfs_mean", "HFS"), ("overfit_gap_mean", "overfit gap"))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "phase"


def write_plots(report: Report, out_dir: Path) -> list[Path]:
    """One histogram sheet per phase and one metric-by-phase chart; returns the files written."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, never a display
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plots needs matplotlib: pip install 'rollout-console[report]'") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = dict(METRICS)
    written: list[Path] = []
    for phase in report.phases:
        counted = [s for s in phase.scores if s.counted]
        fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
        for ax, key in zip(axes.flat, HIST_KEYS):
            values = [getattr(s, key) for s in counted if getattr(s, key) is not None]
            top = max(values, default=0.0)
            rng = (-1.0, 1.0) if key == "overfit_gap" else ((0.0, 1.0) if key != "cost_usd" else (0.0, top * 1.1 or 1.0))
            ax.hist(values, bins=10, range=rng, color="#4c72b0", edgecolor="white")
            ax.set_title(f"{labels[key]} (n={len(values)})")
            ax.set_ylabel("instances")
        fig.suptitle(f"SWE-bench scorecard — {phase.name}")
        fig.tight_layout()
        path = out_dir / f"histograms-{_safe(phase.name)}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = [p.name for p in report.phases]
    xs = list(range(len(names)))
    for key, label in PHASE_KEYS:
        ys = [p.figures.get(key) for p in report.phases]
        if any(y is not None for y in ys):
            ax.plot(xs, [y if y is not None else float("nan") for y in ys], marker="o", label=label)
    lows = [p.figures.get("overall_ci95_low") for p in report.phases]
    highs = [p.figures.get("overall_ci95_high") for p in report.phases]
    if all(v is not None for v in lows + highs):
        ax.fill_between(xs, lows, highs, alpha=0.15, label="Overall 95% CI")
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(xs, names, rotation=20, ha="right")
    ax.set_title("Metrics by phase")
    ax.legend(fontsize="small")
    fig.tight_layout()
    path = out_dir / "metrics-by-phase.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)
    return written
