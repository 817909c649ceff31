"""The columns of a SWE-bench dataset the scorecard, the selection and the repro runner need.

Loading is engine.agentless.dataset's (hub name, parquet, JSON/JSONL, saved folder; one-line
errors; exit 3 when the hub cannot be reached), so every command reads a dataset the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InputError

COLUMNS = ("instance_id", "repo", "FAIL_TO_PASS", "PASS_TO_PASS", "patch", "difficulty", "version",
           "base_commit", "eval_script", "image", "log_parser", "eval_type", "created_at", "test_patch",
           "environment_setup_commit", "problem_statement", "hints_text")


def _tests(value: Any, where: str) -> list[str]:
    """FAIL_TO_PASS / PASS_TO_PASS: a JSON-encoded list in a string (as on the hub) or a list."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InputError(f"{where}: test list is not JSON: is this a SWE-bench dataset?") from None
    if not isinstance(value, list):
        raise InputError(f"{where}: test list is a {type(value).__name__}, not a list: is this a SWE-bench dataset?")
    return [str(t) for t in value]


def patch_lines(patch: str) -> int:
    """Lines added plus removed by a unified diff (the gold patch's size, for selection bins)."""
    n = 0
    for line in (patch or "").splitlines():
        if (line.startswith("+") and not line.startswith("+++")) or (line.startswith("-") and not line.startswith("---")):
            n += 1
    return n


@dataclass
class EvalInstance:
    """One instance as evaluation, scoring and selection see it."""

    instance_id: str
    repo: str
    fail_to_pass: list[str] = field(default_factory=list)
    pass_to_pass: list[str] = field(default_factory=list)
    difficulty: str | None = None
    patch_lines: int = 0
    #: every column of the row (for the repro runner's derived dataset)
    row: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def tests(self) -> list[str]:
        """FAIL_TO_PASS then PASS_TO_PASS, duplicates dropped."""
        return list(dict.fromkeys([*self.fail_to_pass, *self.pass_to_pass]))


def load_eval_instances(name_or_path: str, split: str = "test", *, keep_rows: bool = False) -> dict[str, EvalInstance]:
    """Every instance of the dataset by id, with its tests, repo, difficulty (Verified) and patch size."""
    from engine.agentless.dataset import _load_raw  # one loader for every dataset source

    ds = _load_raw(name_or_path, split)
    cols = [c for c in COLUMNS if c in ds.column_names] if keep_rows else [
        c for c in ("instance_id", "repo", "FAIL_TO_PASS", "PASS_TO_PASS", "patch", "difficulty") if c in ds.column_names]
    missing = [c for c in ("instance_id", "FAIL_TO_PASS", "PASS_TO_PASS") if c not in ds.column_names]
    if missing:
        raise InputError(f"{name_or_path}: dataset has no column {', '.join(missing)}: pass a SWE-bench dataset")
    data = ds.select_columns(cols).to_dict()
    out: dict[str, EvalInstance] = {}
    for i, iid in enumerate(data["instance_id"]):
        row = {c: data[c][i] for c in cols}
        where = f"{name_or_path}: {iid}"
        out[str(iid)] = EvalInstance(
            instance_id=str(iid), repo=str(row.get("repo") or str(iid).rsplit("-", 1)[0].replace("__", "/")),
            fail_to_pass=_tests(row.get("FAIL_TO_PASS"), where), pass_to_pass=_tests(row.get("PASS_TO_PASS"), where),
            difficulty=(str(row["difficulty"]) if row.get("difficulty") else None),
            patch_lines=patch_lines(str(row.get("patch") or "")), row=row if keep_rows else {},
        )
    return out
