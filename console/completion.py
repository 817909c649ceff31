"""Shell completion values (Typer's completion, ``rollout --install-completion``): run ids and
checkpoint folders. Each reads one directory listing: the shell waits for it on every Tab."""

from __future__ import annotations

import os
import re
from pathlib import Path

import typer

from engine.runs import runs_root

#: checkpoint folder names of the trainers the evaluator knows (HF, DeepSpeed, verl, OpenRLHF,
#: Megatron, Accelerate; see engine/evaluation), for completion only: discovery is the engine's
_CHECKPOINT_RE = re.compile(r"^(checkpoint[-_]\d+|global_step_?\d+(_hf)?|iter_\d+|step_?\d+)$")


def _workspace(ctx: typer.Context) -> Path | None:
    from engine.errors import RolloutError
    from engine.locations import quick_workspace

    params = ctx.find_root().params
    try:
        return quick_workspace(params.get("workspace"), params.get("config"))
    except RolloutError:
        return None


def complete_run_id(ctx: typer.Context, incomplete: str) -> list[str]:
    """Run ids of the workspace starting with ``incomplete``, newest first, and ``last``."""
    ws = _workspace(ctx)
    names: list[str] = []
    if ws is not None:
        try:
            with os.scandir(runs_root(ws)) as it:
                names = [e.name for e in it if e.name.startswith(incomplete) and not e.name.startswith(".")]
        except OSError:
            names = []
    names.sort(key=lambda n: (n.split("-")[-3:-1], n), reverse=True)
    return (["last"] if "last".startswith(incomplete) else []) + names


def complete_checkpoint_dir(incomplete: str) -> list[str]:
    """Folders under the typed path; checkpoint folders (checkpoint-500, global_step_98...) and
    folders holding them first, so ``--solutions-dir run/<Tab>`` shows where the steps are."""
    if "/" in incomplete:
        base, prefix = incomplete.rsplit("/", 1)
        parent, head = Path(base or "/").expanduser(), f"{base}/"
    else:
        parent, head, prefix = Path("."), "", incomplete
    try:
        with os.scandir(parent) as it:
            entries = [e for e in it if e.is_dir() and e.name.startswith(prefix) and not e.name.startswith(".")]
    except OSError:
        return []

    def rank(entry: os.DirEntry[str]) -> tuple[int, str]:
        if _CHECKPOINT_RE.match(entry.name):
            return (0, entry.name)
        try:
            with os.scandir(entry.path) as children:
                holds = any(_CHECKPOINT_RE.match(c.name) for c in children if c.is_dir())
        except OSError:
            holds = False
        return (1 if holds else 2, entry.name)

    return [f"{head}{e.name}/" for e in sorted(entries, key=rank)]
