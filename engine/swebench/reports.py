"""The harness's per-instance report.json and run summary, read into typed records.

report.json: ``{id: {patch_is_None, patch_exists, patch_successfully_applied, resolved,
tests_status: {FAIL_TO_PASS: {success, failure}, PASS_TO_PASS: {...}, FAIL_TO_FAIL, PASS_TO_FAIL}}}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from engine.errors import InputError
from engine.swebench.layout import REPORT


@dataclass
class InstanceReport:
    """One graded instance: whether it resolved and which of its tests passed."""

    instance_id: str
    resolved: bool
    patch_applied: bool
    patch_exists: bool = True
    #: every test named in a ``success`` list of tests_status
    passed: set[str] = field(default_factory=set)
    #: every test named in a ``failure`` list
    failed: set[str] = field(default_factory=set)
    path: str | None = None
    #: the harness's own advisory: no parseable test output and an environment signature in it
    infra_failure_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"instance_id": self.instance_id, "resolved": self.resolved, "patch_applied": self.patch_applied,
                "patch_exists": self.patch_exists, "passed": sorted(self.passed), "failed": sorted(self.failed),
                "path": self.path, "infra_failure_reason": self.infra_failure_reason}


def parse_report(data: Any, where: str = "report.json") -> list[InstanceReport]:
    """The instances of one report.json document (normally one)."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: not a harness report (a JSON object by instance id expected)")
    out = []
    for iid, body in data.items():
        if not isinstance(body, dict) or "resolved" not in body:
            raise InputError(f"{where}: entry {iid!r} has no 'resolved': not a harness report.json")
        passed: set[str] = set()
        failed: set[str] = set()
        status = body.get("tests_status") or {}
        for group in status.values() if isinstance(status, dict) else ():
            if isinstance(group, dict):
                passed.update(str(t) for t in group.get("success") or [])
                failed.update(str(t) for t in group.get("failure") or [])
        out.append(InstanceReport(
            instance_id=str(iid), resolved=bool(body.get("resolved")),
            patch_applied=bool(body.get("patch_successfully_applied")),
            patch_exists=bool(body.get("patch_exists", True)), passed=passed, failed=failed - passed, path=where,
            infra_failure_reason=(str(body.get("infra_failure_reason") or "environment") if body.get("infra_failure") else None),
        ))
    return out


def read_report(path: Path) -> list[InstanceReport]:
    """report.json at ``path``; a torn or empty file (the harness writing it) raises InputError."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable harness report ({exc}): rerun the harness for this instance") from None
    return parse_report(data, str(path))


def iter_reports(logs_dir: Path) -> Iterator[tuple[str, InstanceReport]]:
    """``(model_dir, report)`` for every ``<model>/<instance>/report.json`` under a run's log folder."""
    if not logs_dir.is_dir():
        return
    for path in sorted(logs_dir.glob(f"*/*/{REPORT}")):
        try:
            reports = read_report(path)
        except InputError:
            continue  # half-written: the follower reads it again later
        for rep in reports:
            yield path.parent.parent.name, rep


@dataclass
class RunSummary:
    """The harness's ``<model>.<run_id>.json``: counts and id lists."""

    total: int = 0
    submitted: int = 0
    completed: int = 0
    resolved: int = 0
    unresolved: int = 0
    empty_patch: int = 0
    error: int = 0
    resolved_ids: list[str] = field(default_factory=list)
    error_ids: list[str] = field(default_factory=list)
    empty_patch_ids: list[str] = field(default_factory=list)
    completed_ids: list[str] = field(default_factory=list)
    failure_reasons: dict[str, str] = field(default_factory=dict)
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def read_summary(path: Path) -> RunSummary | None:
    """The summary at ``path``, or None when it is absent or not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "total_instances" not in data:
        return None
    ids = lambda k: [str(x) for x in data.get(k) or []]  # noqa: E731
    return RunSummary(
        total=int(data.get("total_instances") or 0), submitted=int(data.get("submitted_instances") or 0),
        completed=int(data.get("completed_instances") or 0), resolved=int(data.get("resolved_instances") or 0),
        unresolved=int(data.get("unresolved_instances") or 0), empty_patch=int(data.get("empty_patch_instances") or 0),
        error=int(data.get("error_instances") or 0), resolved_ids=ids("resolved_ids"), error_ids=ids("error_ids"),
        empty_patch_ids=ids("empty_patch_ids"), completed_ids=ids("completed_ids"),
        failure_reasons={str(k): str(v) for k, v in (data.get("failure_reasons") or {}).items()}, path=str(path),
    )
