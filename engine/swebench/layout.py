"""Where the official harness writes, as paths (swebench.harness.constants, without importing it).

``<work_dir>/logs/run_evaluation/<run_id>/<model>/<instance_id>/`` holds patch.diff, eval.sh,
test_output.txt, run_instance.log and, once graded, report.json (its presence is the harness's
resume: that instance is skipped). The summary ``<model>.<run_id>.json`` goes to the report dir.
"""

from __future__ import annotations

from pathlib import Path

RUN_EVALUATION_DIR = Path("logs") / "run_evaluation"
REPORT = "report.json"
INSTANCE_LOG = "run_instance.log"
TEST_OUTPUT = "test_output.txt"
PATCH = "patch.diff"


def model_dir_name(model_name_or_path: str | None) -> str:
    """The harness's folder name for a model: ``/`` becomes ``__``; a missing name is ``None``."""
    return (model_name_or_path or "None").replace("/", "__")


def run_logs_dir(work_dir: Path, run_id: str) -> Path:
    return work_dir / RUN_EVALUATION_DIR / run_id


def instance_dir(work_dir: Path, run_id: str, model: str | None, instance_id: str) -> Path:
    return run_logs_dir(work_dir, run_id) / model_dir_name(model) / instance_id


def summary_path(report_dir: Path, model: str | None, run_id: str) -> Path:
    return report_dir / f"{model_dir_name(model)}.{run_id}.json"
