"""How long the harness spent on one instance, from its run_instance.log's line timestamps."""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

_TS = re.compile(rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) - ")


def _stamp(line: bytes) -> float | None:
    m = _TS.match(line)
    if not m:
        return None
    t = _dt.datetime.strptime(m.group(1).decode(), "%Y-%m-%d %H:%M:%S")
    return t.timestamp() + int(m.group(2)) / 1000


def instance_eval_seconds(log: Path) -> float | None:
    """Seconds from the log's first to its last timestamped line (None without two of them)."""
    try:
        with open(log, "rb") as fh:
            first = None
            for line in fh:
                first = _stamp(line)
                if first is not None:
                    break
            if first is None:
                return None
            size = fh.seek(0, 2)
            fh.seek(max(size - 65536, 0))
            tail = fh.read().splitlines()
    except OSError:
        return None
    last = next((t for t in (_stamp(ln) for ln in reversed(tail)) if t is not None), None)
    return round(last - first, 3) if last is not None else None
