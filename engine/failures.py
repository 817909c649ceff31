"""A run's failures grouped by reason: count and one example each (errors file, failures.jsonl,
eval statuses, a failed server's diagnosis)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import orjson

from engine.runs import RunDir

#: lines read from a failures file at most (a summary, not an audit)
MAX_LINES = 1_000_000


@dataclass
class FailureGroup:
    reason: str
    count: int
    example: str
    source: str = ""


def _records(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    with open(path, "rb") as fh:
        for i, raw in enumerate(fh):
            if i >= MAX_LINES:
                return
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                yield rec


def _group(records: Iterator[tuple[str, str]], source: str) -> list[FailureGroup]:
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for reason, example in records:
        counts[reason] += 1
        examples.setdefault(reason, example)
    return [FailureGroup(r, n, examples[r], source) for r, n in counts.most_common()]


def failure_groups(run: RunDir) -> list[FailureGroup]:
    """The failures of ``run`` by reason, most frequent first."""
    info = run.read_run() or {}
    state = run.read_state() or {}
    figures = state.get("figures") or {}
    outputs = info.get("outputs") or {}
    job = info.get("job") or info.get("kind")
    groups: list[FailureGroup] = []
    if figures.get("failure_cause") or figures.get("failure_advice"):
        groups.append(FailureGroup(str(figures.get("failure_cause") or "server_failed"), 1,
                                   str(figures.get("failure_advice") or ""), "server"))
    if outputs.get("errors"):
        errors = Path(outputs["errors"])

        def process_rows() -> Iterator[tuple[str, str]]:
            for rec in _records(errors):
                err = rec.get("error") or {}
                reason = str(rec.get("reason") or err.get("code") or "error")
                yield reason, f"{rec.get('custom_id')}: {str(err.get('message') or '')[:160]}"

        groups += _group(process_rows(), str(errors))
    elif figures.get("failures_file"):
        failures = Path(figures["failures_file"])

        def stage_rows() -> Iterator[tuple[str, str]]:
            for rec in _records(failures):
                if rec.get("run_id") not in (None, run.run_id):
                    continue
                yield str(rec.get("reason") or "failed"), f"{rec.get('instance_id')}: {str(rec.get('detail') or '')[:160]}"

        groups += _group(stage_rows(), str(failures))
    elif outputs.get("save_dir"):
        failures = Path(outputs["save_dir"]) / "failures.jsonl"
        groups += _group(((str(r.get("reason") or r.get("status") or "failed"),
                           f"{r.get('custom_id') or r.get('instance_id')}: {str(r.get('detail') or '')[:160]}")
                          for r in _records(failures)), str(failures))
    elif job in ("eval", "eval-checkpoints") and outputs.get("output_dir"):
        from engine.evaluation.results import read_summary

        summary = read_summary(Path(outputs["output_dir"])) or {}
        groups += _group(((str(c.get("status")), f"{c.get('name')} (step {c.get('step')})")
                          for c in summary.get("checkpoints", []) if c.get("status") not in ("done", "skipped")),
                         str(Path(outputs["output_dir"])))
    verdicts = figures.get("failures_by_status")
    if isinstance(verdicts, dict):
        groups += [FailureGroup(f"test {k}", int(v), "tests with this verdict", "state.json")
                   for k, v in sorted(verdicts.items(), key=lambda kv: -int(kv[1] or 0)) if v]
    return groups
