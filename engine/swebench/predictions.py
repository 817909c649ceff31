"""Predictions as the harness reads them: one per instance id, with its model and patch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import InputError


@dataclass
class Prediction:
    instance_id: str
    model: str
    patch: str | None


@dataclass
class PredictionSet:
    """The predictions by instance id (the last of duplicates wins, as in the harness)."""

    path: Path
    by_id: dict[str, Prediction] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return sorted({p.model for p in self.by_id.values()})

    @property
    def empty(self) -> list[str]:
        return [i for i, p in self.by_id.items() if not p.patch]


def read_predictions(path: Path) -> PredictionSet:
    """Read a predictions JSONL / JSON-list file; a bad line is a one-line InputError with its number."""
    from engine.agentless.predictions import iter_predictions

    if path.suffix not in (".json", ".jsonl"):
        raise InputError(f"{path}: the harness reads only .json or .jsonl predictions: rename the file")
    out = PredictionSet(path)
    for line, obj, problem in iter_predictions(path):
        if problem is not None:
            raise InputError(str(problem))
        if not isinstance(obj, dict) or not isinstance(obj.get("instance_id"), str):
            raise InputError(f"{path}:{line}: a prediction needs instance_id, model_name_or_path and model_patch")
        iid = obj["instance_id"]
        if iid in out.by_id:
            out.duplicates.append(iid)
        patch = obj.get("model_patch")
        out.by_id[iid] = Prediction(iid, str(obj.get("model_name_or_path") or "None"),
                                    patch if isinstance(patch, str) else None)
    if not out.by_id:
        raise InputError(f"{path}: no predictions: write one JSON object per line")
    return out
