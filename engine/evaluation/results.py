"""What evaluation writes: eval_checkpoint_<step>/ folders and batch_eval_results.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.batchio import read_jsonl_objects
from engine.runs import atomic_write_json

SUMMARY_NAME = "batch_eval_results.json"
METRICS_NAME = "metrics.json"


def checkpoint_dir(output_dir: Path, label: str) -> Path:
    return output_dir / f"eval_checkpoint_{label}"


def results_name(rel_file: str) -> str:
    """``sub/dir/solutions.jsonl`` -> ``sub__dir__solutions.results.jsonl`` (flat, unique)."""
    stem = rel_file.replace("\\", "/").replace("/", "__")
    return (stem.removesuffix(".jsonl")) + ".results.jsonl"


def load_done(path: Path) -> dict[str, dict[str, Any]]:
    """Results already written (by key), tolerating a torn last line: the resume set."""
    return {str(obj["key"]): obj for _, obj in read_jsonl_objects(path) if "key" in obj}


def read_metrics(cp_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((cp_dir / METRICS_NAME).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def write_metrics(cp_dir: Path, data: dict[str, Any]) -> None:
    cp_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cp_dir / METRICS_NAME, data)


def read_summary(output_dir: Path) -> dict[str, Any] | None:
    """batch_eval_results.json of a previous run, or None."""
    try:
        data = json.loads((output_dir / SUMMARY_NAME).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def write_summary(output_dir: Path, data: dict[str, Any]) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / SUMMARY_NAME
    atomic_write_json(path, data)
    return path


def checkpoint_rows(output_dir: Path) -> list[dict[str, Any]]:
    """One row per checkpoint of an evaluation's output dir, live while it runs: each
    ``eval_checkpoint_*/metrics.json`` (written when a checkpoint finishes), completed by the
    summary's records once the run is over (skipped, stopped and not-evaluated checkpoints).
    A row has step, name, files, status, evaluated_at and the overall figures (samples,
    pass@k..., status_counts), without the per-problem table."""
    rows: dict[tuple[Any, Any], dict[str, Any]] = {}
    for cp_dir in sorted(Path(output_dir).glob("eval_checkpoint_*")):
        m = read_metrics(cp_dir)
        if not m or "step" not in m:
            continue
        overall = {k: v for k, v in (m.get("overall") or {}).items() if k != "per_problem"}
        rows[(m.get("step"), m.get("checkpoint"))] = {
            "step": m.get("step"), "name": m.get("checkpoint"), "files": len(m.get("files") or {}),
            "status": "done" if m.get("complete") else "incomplete", "evaluated_at": m.get("evaluated_at"),
            **overall,
        }
    summary = read_summary(Path(output_dir)) or {}
    for rec in summary.get("checkpoints") or []:
        if isinstance(rec, dict):
            key = (rec.get("step"), rec.get("name"))
            rows[key] = {**rows.get(key, {}), **rec}
    return list(rows.values())
