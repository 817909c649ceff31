"""Spans of time as users type them: ``90s``, ``45m``, ``12h``, ``7d``, ``2w`` (``--since``, ``--older-than``)."""

from __future__ import annotations

import re

from engine.errors import InputError

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
_SPAN_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)


def parse_span(text: str, flag: str = "the span") -> float:
    """Seconds in ``text``: a number and a unit, s/m/h/d/w (a bare number is refused: minutes or days?)."""
    m = _SPAN_RE.match(text or "")
    if not m:
        raise InputError(f"{flag} {text!r}: give a number and a unit, e.g. 90s, 45m, 12h, 7d or 2w")
    return float(m.group(1)) * _UNITS[m.group(2).lower()]
