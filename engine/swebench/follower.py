"""Live progress of a harness run from its ``logs/run_evaluation/<run_id>/<model>/<instance>/`` folders.

Polled (never watched with inotify: the folders may sit on NFS). Each expected instance moves
``pending → running → graded | error``; a running instance whose folder has not grown for
``stall_after_s`` is ``stalled`` (the harness is known to hang on image builds and on the last
instances) and becomes ``running`` again if its logs grow. An instance whose report.json exists
at the first poll was graded by an earlier run with the same run id: ``resumed`` (the harness
skips it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.errors import InputError
from engine.swebench.failures import Failure, classify_instance_log
from engine.swebench.layout import INSTANCE_LOG, REPORT
from engine.swebench.reports import InstanceReport, read_report

PENDING, RUNNING, GRADED, ERROR, STALLED = "pending", "running", "graded", "error", "stalled"
FINISHED = frozenset({GRADED, ERROR})


@dataclass
class InstanceProgress:
    """What the follower knows of one instance."""

    instance_id: str
    model_dir: str
    state: str = PENDING
    resumed: bool = False
    report: InstanceReport | None = None
    failure: Failure | None = None
    size: int = -1
    grew_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    log_path: str | None = None

    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or time.monotonic()) - self.started_at


@dataclass
class Change:
    """A state change seen by one poll: ``graded``, ``error``, ``stalled``, ``unstalled``, ``started``."""

    what: str
    instance: InstanceProgress


@dataclass
class LogFollower:
    """Follows one harness run's log folder for the expected ``{instance_id: model_dir}``."""

    logs_dir: Path
    expected: dict[str, str]
    stall_after_s: float = 600.0
    clock: Callable[[], float] = time.monotonic
    instances: dict[str, InstanceProgress] = field(default_factory=dict)
    _first: bool = True

    def __post_init__(self) -> None:
        for iid, model in self.expected.items():
            self.instances[iid] = InstanceProgress(iid, model)

    def poll(self) -> list[Change]:
        """Look at every unfinished instance's folder once; return what changed."""
        now = self.clock()
        changes: list[Change] = []
        first, self._first = self._first, False
        for inst in self.instances.values():
            if inst.state in FINISHED:
                continue
            folder = self.logs_dir / inst.model_dir / inst.instance_id
            report = folder / REPORT
            if report.is_file():
                try:
                    reports = read_report(report)
                except InputError:
                    reports = []  # being written: next poll
                mine = next((r for r in reports if r.instance_id == inst.instance_id), None)
                if mine is not None:
                    inst.report, inst.state, inst.resumed = mine, GRADED, first
                    inst.finished_at = now
                    changes.append(Change(GRADED, inst))
                    continue
            if not folder.is_dir():
                continue
            size = _folder_size(folder)
            log = folder / INSTANCE_LOG
            grew = size != inst.size
            if inst.state == PENDING:
                inst.state, inst.started_at, inst.grew_at, inst.size = RUNNING, now, now, size
                inst.log_path = str(log)
                changes.append(Change("started", inst))
            failure = _failure(log, inst.instance_id) if grew else None
            if failure is not None:
                inst.failure, inst.state, inst.finished_at = failure, ERROR, now
                changes.append(Change(ERROR, inst))
                continue
            if grew:
                inst.size, inst.grew_at = size, now
                if inst.state == STALLED:
                    inst.state = RUNNING
                    changes.append(Change("unstalled", inst))
            elif inst.state == RUNNING and inst.grew_at is not None and now - inst.grew_at >= self.stall_after_s:
                inst.state = STALLED
                changes.append(Change(STALLED, inst))
        return changes

    def finish(self, failure_for: Callable[[InstanceProgress], Failure]) -> list[Change]:
        """After the harness exited: a last poll, then every unfinished instance becomes an error."""
        changes = self.poll()
        now = self.clock()
        for inst in self.instances.values():
            if inst.state not in FINISHED:
                inst.failure, inst.state, inst.finished_at = failure_for(inst), ERROR, now
                changes.append(Change(ERROR, inst))
        return changes

    def count(self, *states: str) -> int:
        return sum(1 for i in self.instances.values() if i.state in states)

    @property
    def stalled(self) -> list[InstanceProgress]:
        return [i for i in self.instances.values() if i.state == STALLED]


def _folder_size(folder: Path) -> int:
    total = 0
    try:
        for p in folder.iterdir():
            try:
                total += p.stat().st_size
            except OSError:
                continue
    except OSError:
        return -1
    return total


def _failure(log: Path, instance_id: str) -> Failure | None:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return classify_instance_log(text, instance_id)
