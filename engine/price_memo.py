"""A memo of genai-prices lookups (engine/cost.py's :func:`default_price`).

Loading genai-prices' bundled data takes ~0.3 s of CPU and ~30 MB, on the 2 shared cores a
processing run has just started its requests on, for an answer that changes only with the
package's data or with a dated price. Answers (a price, or none) are kept in
``<workspace>/cache/price-memo.json`` (ROLLOUT_HOME, else the per-user state dir), keyed by the
data file's size and mtime, the model, batch or not, and the UTC day; a day's entries replace the
previous day's. Any problem reading or writing it just means a lookup.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from engine.locations import workspace_dir
from engine.runs import atomic_write_json

#: recall's answer when nothing is kept under the key (None is a kept answer: no price listed)
MISSING = object()


def memo_path() -> Path:
    return Path(workspace_dir()) / "cache" / "price-memo.json"


def memo_key(model: str, batch: bool) -> str | None:
    """The key of a lookup today, or None when genai-prices is not installed."""
    spec = importlib.util.find_spec("genai_prices")
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        st = os.stat(Path(next(iter(spec.submodule_search_locations))) / "data.py")
    except OSError:
        return None
    day = _dt.datetime.now(tz=_dt.timezone.utc).date().isoformat()
    return f"{day}|{st.st_size}:{st.st_mtime_ns}|{'batch' if batch else 'online'}|{model}"


def _entries() -> dict[str, Any]:
    try:
        data = json.loads(memo_path().read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recall(key: str) -> Any:
    """The kept answer (a dict of Price fields, or None), or :data:`MISSING`."""
    return _entries().get(key, MISSING)


def keep(key: str, answer: dict[str, Any] | None) -> None:
    """Keep ``answer`` under ``key``, with today's other entries (best effort)."""
    day = key.split("|", 1)[0]
    entries = {k: v for k, v in _entries().items() if k.split("|", 1)[0] == day}
    entries[key] = answer
    target = memo_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(target, entries)
    except OSError:
        return
