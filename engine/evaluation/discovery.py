"""Find checkpoint folders (every common naming scheme) and the solution files inside them."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from engine.errors import InputError

#: (scheme, pattern) — the number group is the step (Accelerate's ``checkpoint_N`` is a save index)
SCHEMES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("hf", re.compile(r"^checkpoint-(\d+)$")),
    ("accelerate", re.compile(r"^checkpoint_(\d+)$")),
    ("verl", re.compile(r"^global_step_(\d+)$")),
    ("openrlhf", re.compile(r"^global_step(\d+)_hf$")),
    ("deepspeed", re.compile(r"^global_step(\d+)$")),
    ("megatron", re.compile(r"^iter_(\d+)$")),
    ("step", re.compile(r"^step_(\d+)$")),
)
SOLUTION_SUFFIXES = (".jsonl",)
#: folders never searched (results we write ourselves, caches)
SKIP_DIRS = {".git", "__pycache__", ".cache"}


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint folder: its step (an int, always), naming scheme and solution files."""

    step: int
    name: str
    scheme: str
    path: Path
    files: tuple[Path, ...] = ()

    @property
    def sort_key(self) -> tuple[int, str]:
        # (int, str): never compares an int with a str, and ties (same step, two schemes) are stable
        return (self.step, self.name)

    def rel_files(self) -> list[str]:
        return [str(f.relative_to(self.path)) for f in self.files]


def match_checkpoint(name: str) -> tuple[str, int] | None:
    """(scheme, step) when ``name`` is a checkpoint folder name, else None."""
    for scheme, pattern in SCHEMES:
        m = pattern.match(name)
        if m:
            return scheme, int(m.group(1))
    return None


def find_solution_files(folder: Path) -> tuple[Path, ...]:
    """Every solution JSONL under ``folder`` (recursively), in a stable order."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("eval_checkpoint_"))
        for fn in sorted(filenames):
            if fn.endswith(SOLUTION_SUFFIXES) and not fn.endswith(".results.jsonl"):
                found.append(Path(dirpath) / fn)
    return tuple(found)


def discover_checkpoints(root: str | os.PathLike[str]) -> list[Checkpoint]:
    """Checkpoint folders under ``root`` sorted by step; of nested matches the outermost is kept.

    ``root`` itself counts when its own name matches. Raises InputError when ``root`` is missing.
    """
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"solutions dir {base} does not exist or is not a folder: pass --solutions-dir DIR")
    found: list[Checkpoint] = []
    top = match_checkpoint(base.name)
    if top:
        return [Checkpoint(top[1], base.name, top[0], base, find_solution_files(base))]
    for dirpath, dirnames, _ in os.walk(base):
        keep: list[str] = []
        for d in sorted(dirnames):
            if d in SKIP_DIRS or d.startswith("eval_checkpoint_"):
                continue
            m = match_checkpoint(d)
            if m:
                path = Path(dirpath) / d
                found.append(Checkpoint(m[1], d, m[0], path, find_solution_files(path)))
            else:
                keep.append(d)
        # never descend into a matched folder: a nested match is part of the outer checkpoint
        dirnames[:] = keep
    found.sort(key=lambda c: c.sort_key)
    return found


def label(cp: Checkpoint, all_cps: list[Checkpoint]) -> str:
    """The folder suffix of ``eval_checkpoint_<step>``: the step, or step + name when steps clash."""
    if sum(1 for c in all_cps if c.step == cp.step) > 1:
        return f"{cp.step}_{cp.name}"
    return str(cp.step)
