"""A phase's instance records, from an eval run or a harness log folder, scored with the settings.

A source is one of:

- a ``rollout eval swebench`` run (id, prefix or folder): its run.json names the dataset, the
  harness log folder, predictions, repro results and rollout runs;
- a harness run's log folder ``logs/run_evaluation/<run_id>`` (then ``--dataset`` is needed).

Records are re-scored from the report.json files every time, so changed weights or split
settings apply to old runs too. Instances without a report are classified from their logs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import ScorecardSettings
from engine.errors import InputError
from engine.report.costs import InstanceCost, costs_from_rollouts
from engine.report.scorecard import InstanceScore, score_instance
from engine.runs import RunDir, find_run
from engine.swebench.dataset import EvalInstance, load_eval_instances
from engine.swebench.failures import Failure, classify_instance_log
from engine.swebench.layout import INSTANCE_LOG, REPORT
from engine.swebench.reports import InstanceReport, read_report
from engine.swebench.timing import instance_eval_seconds


@dataclass
class PhaseInputs:
    """Where one phase's figures come from."""

    name: str
    logs_dir: Path
    dataset: str | None = None
    split: str = "test"
    predictions: Path | None = None
    repro: list[str] = field(default_factory=list)
    rollout_runs: list[str] = field(default_factory=list)
    #: failures the eval job recorded (instances the harness never logged)
    failures: dict[str, Failure] = field(default_factory=dict)
    #: the instances of the phase when the log folder may hold others (an eval run's --instance-ids)
    only: set[str] | None = None


def inputs_from_ref(ref: str, workspace: Path, *, dataset: str | None = None, split: str | None = None,
                    predictions: Path | None = None, repro: list[str] | None = None,
                    rollout_runs: list[str] | None = None) -> PhaseInputs:
    """Resolve a ``--runs`` reference; explicit options override what the run recorded."""
    p = Path(ref).expanduser()
    own = _read_json(p / "run.json") if p.is_dir() else {}
    if p.is_dir() and "kind" not in own:  # a harness folder (its run.json, if any, names the dataset)
        if not any(q.is_dir() for q in p.glob("*/*")):
            raise InputError(f"{p}: no <model>/<instance>/ folders: pass logs/run_evaluation/<run_id> of a harness run")
        return PhaseInputs(p.name, p.resolve(), dataset or own.get("dataset"), split or own.get("split") or "test",
                           predictions, list(repro or []), list(rollout_runs or []))
    run = find_run(workspace, ref)
    info = run.read_run()
    inp = info.get("inputs") or {}
    if info.get("kind") != "swebench" or not inp.get("logs_dir"):
        raise InputError(f"run {run.run_id} is a {info.get('kind')!r} run, not 'rollout eval swebench': "
                         "pass an eval run or a logs/run_evaluation/<run_id> folder")
    return PhaseInputs(
        name=str(inp.get("harness_run_id") or run.run_id),
        logs_dir=Path(inp["logs_dir"]), dataset=dataset or inp.get("dataset"), split=split or inp.get("split") or "test",
        predictions=predictions or (Path(inp["predictions"]) if inp.get("predictions") else None),
        repro=list(repro or inp.get("repro") or []), rollout_runs=list(rollout_runs or inp.get("rollout_runs") or []),
        failures=_recorded_failures(run), only=set(inp["instance_ids"]) if inp.get("instance_ids") else None,
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _recorded_failures(run: RunDir) -> dict[str, Failure]:
    path = run.path / "failures.jsonl"
    out: dict[str, Failure] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                d = json.loads(line)
                out[d["instance_id"]] = Failure(d["reason"], d["kind"], d["message"])
            except (ValueError, KeyError, TypeError):
                continue
    return out


def read_brs(refs: list[str], workspace: Path) -> dict[str, float]:
    """BRS per instance from repro results: JSONL files or ``rollout eval repro`` runs.

    A line is ``{"instance_id", "brs"}`` or ``{"instance_id", "before", "after"}`` (outcomes
    ``reproduced`` / ``resolved`` / ``other``). Several lines of one instance (pass@k tests): the
    best counts — the instance has a working reproduction test if any sample is one.
    """
    out: dict[str, float] = {}
    for ref in refs:
        p = Path(ref).expanduser()
        if not p.is_file():
            run = find_run(workspace, ref)
            p = Path((run.read_run().get("outputs") or {}).get("results") or run.path / "repro.jsonl")
        if not p.is_file():
            raise InputError(f"{p}: repro results not found: pass a 'rollout eval repro' run or its repro.jsonl")
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                iid = str(d["instance_id"])
            except (ValueError, KeyError, TypeError):
                raise InputError(f"{p}:{n}: not a repro result line (instance_id, brs or before/after)") from None
            brs = d.get("brs")
            if brs is None and "before" in d:
                brs = 1.0 if (d.get("before") == "reproduced" and d.get("after") == "resolved") else 0.0
            if brs is not None:
                out[iid] = max(out.get(iid, 0.0), float(brs))
    return out


def score_phase(inputs: PhaseInputs, settings: ScorecardSettings, workspace: Path,
                instances: dict[str, EvalInstance] | None = None, prices: Any = None) -> list[InstanceScore]:
    """Every instance of the phase's harness logs (and empty predictions), scored."""
    if instances is None:
        if not inputs.dataset:
            raise InputError(f"{inputs.logs_dir}: the tests of each instance are needed: pass --dataset NAME_OR_PATH")
        instances = load_eval_instances(inputs.dataset, inputs.split)
    brs = read_brs(inputs.repro, workspace) if inputs.repro else {}
    costs: dict[str, InstanceCost] = costs_from_rollouts(inputs.rollout_runs, workspace, prices) if inputs.rollout_runs else {}
    seen: dict[str, tuple[InstanceReport | None, Failure | None, float | None]] = {}
    for folder in sorted(p for p in inputs.logs_dir.glob("*/*") if p.is_dir()):
        iid = folder.name
        report = None
        if (folder / REPORT).is_file():
            try:
                report = next((r for r in read_report(folder / REPORT) if r.instance_id == iid), None)
            except InputError:
                report = None
        failure = None
        if report is None:
            failure = inputs.failures.get(iid) or _log_failure(folder, iid)
        seen[iid] = (report, failure, instance_eval_seconds(folder / INSTANCE_LOG))
    for iid, f in inputs.failures.items():
        seen.setdefault(iid, (None, f, None))
    empty: set[str] = set()
    if inputs.predictions is not None:
        from engine.swebench.predictions import read_predictions

        preds = read_predictions(inputs.predictions)
        empty = set(preds.empty)
        for iid in empty:
            seen.setdefault(iid, (None, None, None))
    if inputs.only is not None:
        seen = {k: v for k, v in seen.items() if k in inputs.only}
    out = []
    unknown = [i for i in seen if i not in instances]
    if unknown:
        raise InputError(f"{inputs.logs_dir}: {len(unknown)} instance(s) not in dataset {inputs.dataset} "
                         f"(e.g. {unknown[0]}): pass the dataset the harness ran on (--dataset, --split)")
    for iid in sorted(seen):
        report, failure, eval_s = seen[iid]
        sc = score_instance(instances[iid], report, settings, brs=brs.get(iid), failure=failure,
                            empty_patch=iid in empty and report is None)
        cost = costs.get(iid)
        if cost is not None:
            sc.cost_usd, sc.samples, sc.rollout_time_s = cost.cost_usd, cost.samples, cost.time_s
        sc.eval_time_s = eval_s
        out.append(sc)
    return out


def _log_failure(folder: Path, iid: str) -> Failure:
    try:
        text = (folder / INSTANCE_LOG).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return classify_instance_log(text, iid) or Failure(
        "not_graded", "infrastructure", f"{iid}: the harness left no report.json and no error: rerun it with the same run id")
