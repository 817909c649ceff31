"""Shared helpers of the SWE-bench tests: real instances from ../shared/data, harness-shaped logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from engine.swebench.dataset import EvalInstance, load_eval_instances

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "swe-bench"
LITE_DEV = SHARED / "lite-dev.parquet"
LITE_TEST = SHARED / "lite-test.parquet"
VERIFIED = SHARED / "verified-test.parquet"

_CACHE: dict[str, dict[str, EvalInstance]] = {}


def instances(path: Path) -> dict[str, EvalInstance]:
    """The real dataset's instances (loaded once per test process)."""
    if str(path) not in _CACHE:
        _CACHE[str(path)] = load_eval_instances(str(path))
    return _CACHE[str(path)]


def harness_report(inst: EvalInstance, passed: Iterable[str], *, resolved: bool | None = None,
                   applied: bool = True) -> dict:
    """A report.json document shaped like the harness's get_eval_report(include_tests_status=True)."""
    ok = set(passed)
    f2p, p2p = inst.fail_to_pass, inst.pass_to_pass
    status = {
        "FAIL_TO_PASS": {"success": [t for t in f2p if t in ok], "failure": [t for t in f2p if t not in ok]},
        "PASS_TO_PASS": {"success": [t for t in p2p if t in ok], "failure": [t for t in p2p if t not in ok]},
        "FAIL_TO_FAIL": {"success": [], "failure": []},
        "PASS_TO_FAIL": {"success": [], "failure": []},
    }
    if resolved is None:
        resolved = all(t in ok for t in f2p + p2p)
    body = {"patch_is_None": False, "patch_exists": True, "patch_successfully_applied": applied,
            "resolved": resolved if applied else False, "infra_failure": False}
    if applied:
        body["tests_status"] = status
    return {inst.instance_id: body}


def write_report(logs_dir: Path, model: str, inst: EvalInstance, passed: Iterable[str], **kw) -> Path:
    folder = logs_dir / model / inst.instance_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run_instance.log").write_text(
        f"2026-12-01 08:00:00,000 - INFO - Container for {inst.instance_id} created\n"
        f"2026-12-01 08:01:30,500 - INFO - Result for {inst.instance_id}: resolved: {kw.get('resolved')}\n")
    path = folder / "report.json"
    path.write_text(json.dumps(harness_report(inst, passed, **kw), indent=4))
    return path


def write_predictions(path: Path, ids: Iterable[str], model: str = "agentless", patch: str | None = None) -> Path:
    """Predictions in the harness's format; the patch is a real-looking one-line diff."""
    with open(path, "w") as fh:
        for iid in ids:
            p = patch if patch is not None else (
                "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n")
            fh.write(json.dumps({"instance_id": iid, "model_name_or_path": model, "model_patch": p}) + "\n")
    return path
