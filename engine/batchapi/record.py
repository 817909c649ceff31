"""The run directory's record of a hosted batch: ``batch.json`` (parts, ids, ranges, cost).

``batch.json`` is the whole memory of a batch run between processes: the batch ids, file ids,
the input byte range and line range of every part, each part's last known remote status and
counts, whether its results were fetched, and the estimated and actual cost. It holds the
*names* of the key sources, never a key. Written atomically (temp + rename); one process at a
time changes it, holding ``batch.lock`` (:func:`lock_record`), which a kill -9 releases.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Any, Iterator, Optional

from pydantic import BaseModel, Field

from engine.errors import InputError
from engine.runs import RunDir, atomic_write_json

RECORD_NAME = "batch.json"
LOCK_NAME = "batch.lock"
RUN_KIND = "batch"

#: remote statuses after which a batch changes no more
FINAL = frozenset({"completed", "failed", "expired", "cancelled"})
#: final statuses whose unrun requests can be sent again in a new part
RESUBMITTABLE = frozenset({"expired", "cancelled"})


class PartRecord(BaseModel):
    """One uploaded file and its batch: a contiguous range of the input (minus ids done)."""

    index: int
    first_line: int
    last_line: int
    start_byte: int
    end_byte: int
    requests: int
    bytes: int
    #: the part this one resends the unanswered ids of
    source: Optional[int] = None
    file_id: Optional[str] = None
    batch_id: Optional[str] = None
    #: ``pending`` until the batch is created, then the remote status
    status: str = "pending"
    counts: dict[str, int] = Field(default_factory=dict)
    output_file_id: Optional[str] = None
    error_file_id: Optional[str] = None
    errors: list[str] = Field(default_factory=list)
    fetched: bool = False
    #: what fetch found in its files (set once fetched)
    ok: int = 0
    failed: int = 0
    unanswered: int = 0
    usage: dict[str, int] = Field(default_factory=dict)
    superseded_by: Optional[int] = None
    polled: Optional[float] = None

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def active(self) -> bool:
        """Created and still running remotely."""
        return self.batch_id is not None and not self.final

    @property
    def label(self) -> str:
        return f"part {self.index}" + (f" (resends part {self.source})" if self.source else "")


class Estimate(BaseModel):
    """Cost known before the batch runs: prompt tokens ~ bytes/4, completions at most max_tokens."""

    prompt_tokens: int = 0
    max_completion_tokens: int = 0
    #: at the batch price, every completion as long as max_tokens allows (an upper bound)
    cost_usd: Optional[float] = None
    #: the same requests at the online price, for comparison
    online_cost_usd: Optional[float] = None


class BatchRecord(BaseModel):
    """Everything a later process needs to follow, fetch, resubmit or cancel the run's batches."""

    input: dict[str, Any]
    url: str
    endpoint: str
    completion_window: str = "24h"
    model: Optional[str] = None
    output: Optional[str] = None
    errors: Optional[str] = None
    api_key_env: Optional[str] = None
    api_key_file: Optional[str] = None
    split_lines: int
    split_bytes: int
    #: requests in the input, and how many of them the output already answered at submit
    total: int
    skipped: int = 0
    price: Optional[dict[str, Any]] = None
    price_source: Optional[str] = None
    estimate: Estimate = Field(default_factory=Estimate)
    cost_usd: Optional[float] = None
    #: this run wrote the errors file (an older one is moved aside at the first fetch)
    errors_owned: bool = False
    cancelled: bool = False
    parts: list[PartRecord] = Field(default_factory=list)
    updated: float = Field(default_factory=time.time)

    def current_parts(self) -> list[PartRecord]:
        """Parts not superseded by a resubmission."""
        return [p for p in self.parts if p.superseded_by is None]

    def part(self, index: int) -> PartRecord:
        return self.parts[index - 1]

    def tokens(self) -> dict[str, int]:
        total = {"prompt": 0, "completion": 0, "cached": 0}
        for p in self.parts:
            for k in total:
                total[k] += int(p.usage.get(k, 0))
        return total


def record_path(run: RunDir) -> Path:
    return run.path / RECORD_NAME


def save_record(run: RunDir, record: BatchRecord) -> None:
    record.updated = time.time()
    atomic_write_json(record_path(run), record.model_dump(mode="json"))


def load_record(run: RunDir) -> BatchRecord:
    """The run's record; InputError (exit 2) when the run is not a batch run."""
    path = record_path(run)
    try:
        return BatchRecord.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"run {run.run_id} is not a batch run (no {RECORD_NAME} in {run.path}): "
                         "pass the id 'rollout batch submit' printed") from None
    except ValueError as exc:
        raise InputError(f"{path} is damaged ({str(exc).splitlines()[0]}): the batch ids are in its "
                         "events.jsonl") from None


@contextlib.contextmanager
def lock_record(run: RunDir, *, wait: bool = False) -> Iterator[Any]:
    """Hold ``batch.lock``: one process at a time follows, fetches or changes the run.

    InputError naming the holder's pid when another process has it (``wait`` blocks instead).
    """
    path = run.path / LOCK_NAME
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise InputError(f"run {run.run_id} is being followed by another rollout process (pid {holder}): "
                             f"wait for it, or 'rollout stop {run.run_id}'") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield fh
    finally:
        fh.close()


def try_lock_record(run: RunDir) -> Any:
    """The lock file handle when the lock is free now, else None (readers then only read)."""
    fh = open(run.path / LOCK_NAME, "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    return fh
