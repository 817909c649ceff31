"""The report data of one or more phases: summaries, breakdowns, criteria, side-by-side comparison.

Everything here is plain data (:meth:`Report.to_dict` is the JSON report); the Markdown and
the plots are renderings of it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from engine.report.criteria import CriteriaFile, CriterionResult, Phase, check_phase, match_phase
from engine.report.scorecard import ERROR, InstanceScore
from engine.report.stats import Summary, proportion_ci, summarize
from engine.swebench.failures import INFRASTRUCTURE

#: the per-instance figures summarised, in report order: (key, label)
METRICS = (("overall", "Overall"), ("brs", "BRS"), ("hfs", "HFS"), ("tss", "TSS"),
           ("public_pass_rate", "Public pass rate"), ("overfit_gap", "Overfit gap"),
           ("cost_usd", "Cost per instance ($)"), ("time_s", "Time per instance (s)"))


#: the phase figures a criteria file may name
PHASE_FIGURES = ("instances", "scored", "errors", "infra_errors", "error_rate", "success_rate", "success_rate_ci95_low",
                 "success_rate_ci95_high", "resolved", "resolved_rate", "overall_mean", "overall_median",
                 "overall_ci95_low", "overall_ci95_high", "brs_mean", "hfs_mean", "tss_mean", "public_pass_rate_mean",
                 "overfit_gap_mean", "cost_per_instance", "cost_total", "time_per_instance")


def _value(s: InstanceScore, key: str) -> float | None:
    return s.time_s if key == "time_s" else getattr(s, key)


def _group_figures(scores: list[InstanceScore]) -> dict[str, Any]:
    counted = [s for s in scores if s.counted]
    n = len(counted)
    ok = sum(1 for s in counted if s.success)
    errors = [s for s in scores if s.status == ERROR]
    infra = sum(1 for s in errors if (s.failure or {}).get("kind") == INFRASTRUCTURE)
    low, high = proportion_ci(ok, n)
    sums = {key: summarize(_value(s, key) for s in counted) for key, _ in METRICS}
    costs = [s.cost_usd for s in scores if s.cost_usd is not None]
    return {
        "instances": len(scores), "scored": n, "errors": len(errors), "infra_errors": infra,
        "error_rate": round(len(errors) / len(scores), 6) if scores else None,
        "success_rate": round(ok / n, 6) if n else None, "success_rate_ci95_low": low, "success_rate_ci95_high": high,
        "resolved": sum(1 for s in counted if s.resolved),
        "resolved_rate": round(sum(1 for s in counted if s.resolved) / n, 6) if n else None,
        "overall_mean": sums["overall"].mean, "overall_median": sums["overall"].median,
        "overall_ci95_low": sums["overall"].ci95_low, "overall_ci95_high": sums["overall"].ci95_high,
        "brs_mean": sums["brs"].mean, "hfs_mean": sums["hfs"].mean, "tss_mean": sums["tss"].mean,
        "public_pass_rate_mean": sums["public_pass_rate"].mean, "overfit_gap_mean": sums["overfit_gap"].mean,
        "cost_per_instance": summarize(costs).mean, "cost_total": round(sum(costs), 6) if costs else None,
        "time_per_instance": sums["time_s"].mean,
    }, sums


@dataclass
class PhaseReport:
    """One phase (one eval run or harness run) and everything the report says of it."""

    name: str
    scores: list[InstanceScore]
    figures: dict[str, Any] = field(default_factory=dict)
    summaries: dict[str, Summary] = field(default_factory=dict)
    by_repo: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_difficulty: dict[str, dict[str, Any]] = field(default_factory=dict)
    phase: Phase | None = None
    criteria: list[CriterionResult] = field(default_factory=list)

    @property
    def verdict(self) -> str | None:
        """``pass`` (every criterion met), ``fail`` (one is not), ``incomplete`` (a figure is missing,
        e.g. cost without --rollout-runs), or None without criteria."""
        if self.phase is None:
            return None
        if any(c.passed is False for c in self.criteria):
            return "fail"
        return "incomplete" if any(c.passed is None for c in self.criteria) else "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "figures": self.figures,
            "summaries": {k: v.to_dict() for k, v in self.summaries.items()},
            "by_repo": self.by_repo, "by_difficulty": self.by_difficulty,
            "phase": self.phase.model_dump() if self.phase else None,
            "criteria": [c.to_dict() for c in self.criteria], "verdict": self.verdict,
            "instances": [s.to_dict() for s in self.scores],
        }


def _breakdown(scores: list[InstanceScore], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[InstanceScore]] = defaultdict(list)
    for s in scores:
        label = getattr(s, key)
        if label:
            groups[str(label)].append(s)
    return {k: _group_figures(v)[0] for k, v in sorted(groups.items())}


def phase_report(name: str, scores: list[InstanceScore], criteria: CriteriaFile | None = None,
                 phase_name: str | None = None) -> PhaseReport:
    figures, sums = _group_figures(scores)
    rep = PhaseReport(name, scores, figures, sums, _breakdown(scores, "repo"), _breakdown(scores, "difficulty"))
    if criteria is not None:
        rep.phase = match_phase(criteria, len(scores), phase_name)
        rep.criteria = check_phase(rep.phase, figures)
    return rep


@dataclass
class Report:
    phases: list[PhaseReport]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "phases": [p.to_dict() for p in self.phases],
                "comparison": comparison(self.phases)}


def comparison(phases: Iterable[PhaseReport]) -> list[dict[str, Any]]:
    """Phases side by side: one row per phase with its headline figures and verdict."""
    keys = ("instances", "scored", "errors", "success_rate", "resolved_rate", "overall_mean", "brs_mean", "hfs_mean",
            "tss_mean", "overfit_gap_mean", "cost_per_instance", "time_per_instance")
    return [{"name": p.name, **{k: p.figures.get(k) for k in keys}, "verdict": p.verdict} for p in phases]
