"""What the console remembers between sessions (the theme picked), in ``<workspace>/console/prefs.json``.

Next to the runs it looks at, so each workspace (and each test's) keeps its own; written
atomically; an unreadable file is the same as none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.runs import atomic_write_json

PREFS_DIRNAME = "console"


def prefs_path(workspace: Path) -> Path:
    return Path(workspace) / PREFS_DIRNAME / "prefs.json"


def load(workspace: Path) -> dict[str, Any]:
    try:
        data = json.loads(prefs_path(workspace).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(workspace: Path, **values: Any) -> None:
    """Merge ``values`` into the prefs file; a read-only workspace just forgets."""
    path = prefs_path(workspace)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {**load(workspace), **values})
    except OSError:
        pass
