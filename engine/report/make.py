"""``rollout report``'s engine entry: phases scored, checked against criteria, rendered."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


from engine.config_models import ConfigValues
from engine.errors import InputError
from engine.report.build import PHASE_FIGURES, Report, phase_report
from engine.report.criteria import load_criteria, seed004_path
from engine.report.options import ReportOptions
from engine.report.sources import inputs_from_ref, score_phase
from engine.swebench.dataset import EvalInstance, load_eval_instances


@dataclass
class ReportOutput:
    report: Report
    texts: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def build_report(options: ReportOptions, config: ConfigValues, workspace: Path) -> ReportOutput:
    """Score every phase, judge it, and render the asked formats (files written when asked)."""
    from engine.report.markdown import report_markdown

    criteria = None
    if options.criteria is not None:
        path = seed004_path() if str(options.criteria) in ("seed004", "seed-004") else options.criteria
        criteria = load_criteria(path)
        for ph in criteria.phase:
            unknown = [f for f in ph.criteria if f not in PHASE_FIGURES]
            if unknown:
                raise InputError(f"{path}: phase {ph.name}: unknown figure {unknown[0]!r} "
                                 f"(figures: {', '.join(PHASE_FIGURES)}): fix the criteria file")
    datasets: dict[tuple[str, str], dict[str, EvalInstance]] = {}
    phases = []
    for ref in options.runs:
        inputs = inputs_from_ref(ref, workspace, dataset=options.dataset, split=options.split,
                                 predictions=options.predictions, repro=options.repro, rollout_runs=options.rollout_runs)
        instances = None
        if inputs.dataset:
            key = (inputs.dataset, inputs.split)
            if key not in datasets:
                datasets[key] = load_eval_instances(inputs.dataset, inputs.split)
            instances = datasets[key]
        scores = score_phase(inputs, config.scorecard, workspace, instances, prices=config.prices)
        phases.append(phase_report(inputs.name, scores, criteria, options.phase))
    report = Report(phases, settings=config.scorecard.model_dump())
    out = ReportOutput(report)
    if "md" in options.formats:
        out.texts["md"] = report_markdown(report)
    if "json" in options.formats:
        out.texts["json"] = json.dumps(report.to_dict(), indent=2, default=str) + "\n"
    if options.output is not None:
        for fmt, text in out.texts.items():
            path = options.output if options.output.suffix == f".{fmt}" else options.output.with_name(
                options.output.name + f".{fmt}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            out.files.append(path)
    if options.plots is not None:
        from engine.report.plots import write_plots

        out.files += write_plots(report, options.plots)
    return out


def verdict_exit(report: Report) -> int:
    """0 when no phase failed its criteria (or none were given), 1 when one did."""
    return 1 if any(p.verdict == "fail" for p in report.phases) else 0


