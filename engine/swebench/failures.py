"""Why an instance has no report.json: read from its run_instance.log (and the harness's output).

Each cause has a kind: ``infrastructure`` (Docker, images, the harness itself: the run's
``crashes`` figure, which feeds the seed's infrastructure_failure alert) or ``patch`` (the model's
patch did not apply) or ``tests`` (the tests timed out). The message is one line saying what to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INFRASTRUCTURE = "infrastructure"
PATCH = "patch"
TESTS = "tests"


@dataclass(frozen=True)
class Failure:
    """Why one instance was not graded."""

    reason: str
    kind: str
    message: str

    @property
    def infrastructure(self) -> bool:
        return self.kind == INFRASTRUCTURE

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "kind": self.kind, "message": self.message}


_IMAGE_RE = re.compile(r"fromImage=([^\s&:]+)(?:&|:|\s)|Image (\S+) not found")
_DETAIL_RE = re.compile(r'\("([^"]+)"\)|: (dial tcp[^\n]+|pull access denied[^\n]+|manifest unknown[^\n]*)')


def _image(text: str, instance_id: str) -> str:
    m = _IMAGE_RE.search(text)
    return (m.group(1) or m.group(2)) if m else f"the image of {instance_id}"


def _detail(line: str) -> str:
    m = _DETAIL_RE.search(line)
    detail = (m.group(1) or m.group(2)) if m else line
    return detail.strip().rstrip('").( ')[:240]


def classify_instance_log(text: str, instance_id: str) -> Failure | None:
    """The failure an instance log records, or None when it records none (yet)."""
    error_line = next((ln for ln in text.splitlines() if " - ERROR - " in ln), "")
    if "attempting to pull" in text and error_line:
        image = _image(error_line, instance_id)
        return Failure("image_unavailable", INFRASTRUCTURE,
                       f"{instance_id}: image {image} is not local and cannot be pulled ({_detail(error_line)}): "
                       "build it with swebench's image builder or load it with 'docker load', then rerun with the same --run-id")
    if "Error creating container" in error_line or "Error response from daemon" in text:
        return Failure("container_error", INFRASTRUCTURE,
                       f"{instance_id}: Docker could not create or start the container ({_detail(error_line)}): "
                       "check 'docker info' and free disk, then rerun with the same --run-id")
    if ">>>>> Patch Apply Failed" in text:
        return Failure("patch_apply_failed", PATCH,
                       f"{instance_id}: the model's patch does not apply to the repository: not graded (counts as unresolved)")
    if "Test timed out after" in text or "Timeout error:" in text:
        return Failure("tests_timed_out", TESTS,
                       f"{instance_id}: the tests ran past --timeout: raise --timeout or check the patch for a hang")
    if error_line or "Error in evaluating model" in text:
        return Failure("harness_error", INFRASTRUCTURE,
                       f"{instance_id}: the harness failed ({_detail(error_line or 'see run_instance.log')}): "
                       "see its run_instance.log")
    return None


def harness_exit_failure(instance_id: str, returncode: int | None, tail: str) -> Failure:
    """An instance left without report or error when the harness process ended."""
    last = next((ln.strip() for ln in reversed(tail.splitlines()) if ln.strip()), "")
    why = f"the harness exited ({returncode})" if returncode else "the harness finished"
    return Failure("not_evaluated", INFRASTRUCTURE,
                   f"{instance_id}: {why} without grading it{': ' + last[:200] if last else ''}: "
                   "see harness.log in the run folder, then rerun with the same --run-id (graded instances are skipped)")
