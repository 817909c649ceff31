"""Recent launches of a workspace (``<workspace>/launches.json``), newest first, for reopening a form.

Each entry keeps the job's name and the values the user gave (never secrets: option models hold
only the names of key variables and key files), the equivalent command, and the run it made.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.runs import atomic_write_json

RECENT_NAME = "launches.json"
RECENT_MAX = 30


@dataclass
class RecentLaunch:
    job: str
    given: dict[str, Any]
    command: list[str]
    time: float = field(default_factory=time.time)
    cwd: str = ""
    run_id: str | None = None
    log: str | None = None

    @property
    def label(self) -> str:
        return " ".join(self.command[1:])


def recent_path(workspace: Path) -> Path:
    return Path(workspace) / RECENT_NAME


def load_recent(workspace: Path) -> list[RecentLaunch]:
    """The workspace's recent launches, newest first (an unreadable file counts as none)."""
    try:
        data = json.loads(recent_path(workspace).read_text())
    except (OSError, ValueError):
        return []
    out = []
    for item in data if isinstance(data, list) else []:
        try:
            out.append(RecentLaunch(**{k: item[k] for k in item if k in RecentLaunch.__dataclass_fields__}))
        except TypeError:
            continue
    return out


def add_recent(workspace: Path, entry: RecentLaunch) -> list[RecentLaunch]:
    """Put ``entry`` first (the same job and values once only), keep the newest RECENT_MAX."""
    items = [r for r in load_recent(workspace) if not (r.job == entry.job and r.given == entry.given)]
    items = [entry, *items][:RECENT_MAX]
    Path(workspace).mkdir(parents=True, exist_ok=True)
    atomic_write_json(recent_path(workspace), [asdict(r) for r in items])
    return items


def set_recent_run(workspace: Path, log: str, run_id: str) -> None:
    """Record the run a launch made (matched by its launch log)."""
    items = load_recent(workspace)
    for r in items:
        if r.log == log:
            r.run_id = run_id
            atomic_write_json(recent_path(workspace), [asdict(x) for x in items])
            return
