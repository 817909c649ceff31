"""Which of stage 3's recorded samples a rerun must not trust, and forgetting them.

A rerun with the same save dir skips every custom_id in ``progress.jsonl``: extraction is
deterministic, so a sample that failed once fails again. Not so when the failure was a corrupt
structure file (``structure_invalid``: truncated, not JSON, not a structure), which the user
mends by regenerating it. Those samples are forgotten on resume, so the rerun extracts them,
instead of keeping a failure a resume would trust. (A *missing* structure, ``structure_not_found``,
stays recorded: a save dir made from a partial structures folder is resumed as it was.) Their lines leave ``progress.jsonl``, ``failures.jsonl`` and every
``output_<pass>_processed.jsonl`` (each rewritten atomically, progress last: a crash halfway
leaves progress naming them, and the next open forgets them again), so no output holds a
custom_id twice.

A run killed between writing a sample's output line and its ``progress.jsonl`` line leaves that
output line unrecorded: the rerun extracts the sample again. :func:`drop_unrecorded_tail` cuts
such a line on open (samples are recorded one at a time, so it can only be a file's last line).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import orjson

from engine.batchio import line_start, repair_torn_tail

#: failure reasons a rerun retries: a corrupt structure file is mended between runs
RETRIED_ON_RESUME = frozenset({"structure_invalid"})


def forget_retried(save_dir: Path) -> set[str]:
    """Drop the samples whose recorded failure is in :data:`RETRIED_ON_RESUME`; their custom_ids."""
    progress = save_dir / "progress.jsonl"
    if not progress.is_file():
        return set()
    needles = [f'"{r}"'.encode() for r in RETRIED_ON_RESUME]
    drop: set[str] = set()
    with open(progress, "rb") as fh:
        for raw in fh:
            if not any(n in raw for n in needles):  # most lines: no parse
                continue
            obj = _loads(raw)
            if obj is not None and obj.get("reason") in RETRIED_ON_RESUME and isinstance(obj.get("custom_id"), str):
                drop.add(obj["custom_id"])
    if not drop:
        return drop
    for path in [*sorted(save_dir.glob("output_*_processed.jsonl")), save_dir / "failures.jsonl", progress]:
        _rewrite_without(path, drop, needles)
    return drop


def _loads(raw: bytes) -> dict | None:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _rewrite_without(path: Path, drop: set[str], needles: list[bytes]) -> None:
    """``path`` without the lines of ``drop``'s custom_ids (only lines naming a retried reason are
    parsed), through a temp file and a rename."""
    if not path.is_file():
        return
    repair_torn_tail(path)
    tmp = path.with_name(path.name + ".resume-tmp")
    try:
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            for raw in src:
                if any(n in raw for n in needles):
                    obj = _loads(raw)
                    if obj is not None and obj.get("custom_id") in drop:
                        continue
                dst.write(raw)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def drop_unrecorded_tail(path: Path, recorded: set[str]) -> bool:
    """Cut ``path``'s last line when its custom_id is not in ``recorded`` (progress.jsonl): it was
    written by a run killed before it recorded the sample, which this run writes again. True when cut."""
    if not path.is_file():
        return False
    repair_torn_tail(path)  # a fragment goes aside; what is left ends in a newline
    with open(path, "rb+") as fh:
        end = fh.seek(0, os.SEEK_END) - 1  # the final newline
        if end < 0:
            return False
        start = line_start(fh, end)
        fh.seek(start)
        obj = _loads(fh.read(end - start))
        cid = obj.get("custom_id") if obj is not None else None
        if not isinstance(cid, str) or cid in recorded:
            return False
        fh.truncate(start)
        os.fsync(fh.fileno())
    return True
