"""The report as Markdown: seed 004's tables and text histograms, per phase and side by side."""

from __future__ import annotations

from typing import Any

from engine.report.build import METRICS, PhaseReport, Report, comparison
from engine.report.histogram import text_histogram

OP_TEXT = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "=", "!=": "≠"}
#: histogram ranges per figure: (lo, hi, bins, decimals)
HIST = {"overall": (0.0, 1.0, 10, 1), "brs": (0.0, 1.0, 2, 1), "hfs": (0.0, 1.0, 10, 1), "tss": (0.0, 1.0, 10, 1),
        "public_pass_rate": (0.0, 1.0, 10, 1), "overfit_gap": (-1.0, 1.0, 10, 1)}


def _f(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _usd(v: Any) -> str:
    return "–" if v is None else f"${v:,.2f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _settings_line(settings: dict[str, Any]) -> str:
    w = settings.get("weights") or {}
    ratio = settings.get("public_ratio", 0.7)
    weights = " · ".join(f"{k.upper() if k != 'resolved' else 'resolved'} {v:g}" for k, v in w.items())
    return (f"Tests split public/hidden {round(100 * ratio)}/{round(100 * (1 - ratio))} by seeded hash "
            f"(seed `{settings.get('split_seed')}`); success = Overall ≥ {settings.get('success_threshold', 0.5):g}; "
            f"Overall = weighted mean of {weights} over the figures an instance has.")


def _comparison(phases: list[PhaseReport]) -> list[str]:
    rows = []
    for r in comparison(phases):
        rows.append([r["name"], _f(r["instances"]), _f(r["scored"]), _f(r["errors"]), _pct(r["success_rate"]),
                     _pct(r["resolved_rate"]), _f(r["overall_mean"]), _f(r["brs_mean"]), _f(r["hfs_mean"]),
                     _f(r["tss_mean"]), _f(r["overfit_gap_mean"]), _usd(r["cost_per_instance"]),
                     _f(r["time_per_instance"], 0), (r["verdict"] or "–").upper()])
    return _table(["phase", "instances", "scored", "errors", "success", "resolved", "Overall", "BRS", "HFS", "TSS",
                   "overfit gap", "$/instance", "s/instance", "verdict"], rows)


def _breakdown(title: str, groups: dict[str, dict[str, Any]], label: str) -> list[str]:
    if not groups:
        return []
    rows = [[k, _f(g["instances"]), _pct(g["success_rate"]), _pct(g["resolved_rate"]), _f(g["overall_mean"]),
             _f(g["hfs_mean"]), _f(g["overfit_gap_mean"]), _usd(g["cost_per_instance"]), _f(g["errors"])]
            for k, g in groups.items()]
    return [f"### {title}", "", *_table([label, "instances", "success", "resolved", "Overall", "HFS", "overfit gap",
                                         "$/instance", "errors"], rows), ""]


def phase_markdown(p: PhaseReport) -> list[str]:
    f = p.figures
    head = f"## Phase {p.name}"
    if p.phase is not None:
        head += f" — {p.phase.name} ({p.phase.instances} planned)" + (f": {p.phase.title}" if p.phase.title else "")
    out = [head, ""]
    if p.verdict is not None:
        line = f"**Verdict: {p.verdict.upper()}**"
        if p.verdict != "pass" and p.phase and p.phase.decision:
            line += f" — {p.phase.decision}"
        out += [line, ""]
    ci = (f" (95% CI {_pct(f['success_rate_ci95_low'])}–{_pct(f['success_rate_ci95_high'])})"
          if f.get("success_rate_ci95_low") is not None else "")
    out += [f"{f['instances']} instances: {f['scored']} scored, {f['errors']} error(s) "
            f"({f['infra_errors']} infrastructure). Success rate {_pct(f['success_rate'])}{ci}; "
            f"resolved {f['resolved']}/{f['scored']} ({_pct(f['resolved_rate'])}). "
            f"Cost {_usd(f['cost_total'])} in all, {_usd(f['cost_per_instance'])} per instance.", ""]
    rows = []
    for key, label in METRICS:
        s = p.summaries[key]
        ci95 = f"[{_f(s.ci95_low)}, {_f(s.ci95_high)}]" if s.ci95_low is not None else "–"
        rows.append([label, str(s.n), _f(s.mean), _f(s.median), _f(s.std), ci95, _f(s.min), _f(s.max)])
    out += ["### Figures", "", *_table(["figure", "n", "mean", "median", "std", "95% CI", "min", "max"], rows), ""]
    if p.criteria:
        crow = [[c.figure, f"{OP_TEXT[c.op]} {c.threshold:g}", _f(c.value),
                 "n/a" if c.passed is None else ("✅ pass" if c.passed else "❌ fail")] for c in p.criteria]
        out += ["### Criteria", "", *_table(["criterion", "threshold", "value", "result"], crow), ""]
    counted = [s for s in p.scores if s.counted]
    hists = []
    for key, label in METRICS:
        values = [s.time_s if key == "time_s" else getattr(s, key) for s in counted]
        if not any(v is not None for v in values):
            continue
        if key in HIST:
            lo, hi, bins, dec = HIST[key]
            hists.append(text_histogram(values, label, lo=lo, hi=hi, bins=bins, decimals=dec))
        else:
            top = max(v for v in values if v is not None)
            hists.append(text_histogram(values, label, lo=0.0, hi=top if top > 0 else 1.0, bins=8,
                                        decimals=2 if key == "cost_usd" else 0))
    if hists:
        out += ["### Distributions", "", "```text", "\n\n".join(hists), "```", ""]
    out += _breakdown("By repository", p.by_repo, "repo")
    out += _breakdown("By difficulty", p.by_difficulty, "difficulty")
    errors = [s for s in p.scores if s.failure and s.status == "error"]
    if errors:
        out += ["### Errors", "", *[f"- `{s.instance_id}` ({s.failure['reason']}): {s.failure['message']}" for s in errors], ""]
    irows = [[s.instance_id, s.status, _f(s.resolved), _f(s.overall), _f(s.brs), _f(s.hfs), _f(s.overfit_gap),
              _f(s.tss), "yes" if s.success else "no", _usd(s.cost_usd), _f(s.samples), _f(s.time_s, 0)]
             for s in p.scores]
    out += ["### Instances", "", *_table(["instance", "status", "resolved", "Overall", "BRS", "HFS", "gap", "TSS",
                                          "success", "cost", "samples", "time (s)"], irows), ""]
    return out


def report_markdown(report: Report) -> str:
    out = ["# SWE-bench scale-up report", "", _settings_line(report.settings), ""]
    if len(report.phases) > 1:
        out += ["## Phases side by side", "", *_comparison(report.phases), ""]
    for p in report.phases:
        out += phase_markdown(p)
    return "\n".join(out).rstrip() + "\n"
