"""A run's events (events.jsonl lines) as sentences, not dict dumps."""

from __future__ import annotations

import json
import shlex
import time
from typing import Any, Callable


def _counts(c: dict[str, Any] | None) -> str:
    c = c or {}
    total = c.get("total")
    done = c.get("done", 0)
    parts = [f"{done}/{total} done" if total else f"{done} done"]
    for key in ("ok", "failed", "skipped", "retried", "in_flight"):
        if c.get(key):
            parts.append(f"{c[key]} {key.replace('_', '-')}")
    return ", ".join(parts)


def _argv(argv: Any) -> str:
    if isinstance(argv, list):
        words = [str(w) for w in argv]
        if len(words) > 2 and words[1] == "-c":  # the API-key bootstrap: show the module instead
            words = [words[0], "-m", *words[3:]]
        return shlex.join(words)
    return str(argv)


_SENTENCES: dict[str, Callable[[dict[str, Any]], str]] = {
    "start": lambda e: f"{e.get('kind', 'job')} job started",
    "phase": lambda e: f"phase {e.get('phase')}" + (f": {e['message']}" if e.get("message") else ""),
    "progress": lambda e: "progress: " + _counts(e.get("counters"))
    + (f", ${e['cost_usd']:.4f}" if isinstance(e.get("cost_usd"), (int, float)) and e.get("cost_usd") else ""),
    "log": lambda e: ("" if e.get("level") in (None, "info") else f"{e['level']}: ") + str(e.get("message", "")),
    "error": lambda e: f"error: {e.get('message')}",
    "finish": lambda e: f"finished {e.get('status')} (exit {e.get('exit_code')}): {_counts(e.get('counters'))}"
    + (f". {e['message']}" if e.get("message") else ""),
    "status": lambda e: f"status is now {e.get('status')}",
    "stopping": lambda e: f"stopping ({e.get('reason', 'requested')}): in-flight items finish or are abandoned",
    "stop_now": lambda e: f"stopping now ({e.get('reason', '')})",
    "alert": lambda e: f"alert {e.get('name')} {e.get('state', 'raised')}"
    + (f" [{e['severity']}]" if e.get("severity") else "") + (f": {e['message']}" if e.get("message") else ""),
    "alert_delivered": lambda e: f"alert {e.get('name')} ({e.get('state')}) handed to on_alert",
    "endpoint_down": lambda e: f"endpoint {e.get('url')} is down: waiting for it",
    "endpoint_up": lambda e: f"endpoint {e.get('url')} is back after {e.get('down_s')} s",
    "server_launch": lambda e: f"server launched at {e.get('url')}: {_argv(e.get('argv'))}",
    "server_kept": lambda e: f"server left running at {e.get('url')} (pid {e.get('pid')})",
    "server_stopped": lambda e: "server stopped" + (" (killed after the grace)" if e.get("killed") else "")
    + (f"; survivors {e['survivors']}" if e.get("survivors") else ""),
    "server_log_tail": lambda e: f"server died ({e.get('cause') or 'unknown cause'}); last log line: "
    + (str((e.get("lines") or [""])[-1])[:200]),
}


def event_sentence(event: dict[str, Any]) -> str:
    """One event as ``HH:MM:SS sentence``."""
    ts = event.get("ts")
    when = time.strftime("%H:%M:%S", time.localtime(ts)) if isinstance(ts, (int, float)) else "--:--:--"
    kind = str(event.get("type", "event"))
    make = _SENTENCES.get(kind)
    if make is not None:
        try:
            return f"{when} {make(event)}"
        except Exception:  # an odd field: fall back to the generic sentence
            pass
    rest = {k: v for k, v in event.items() if k not in ("ts", "type")}
    detail = ", ".join(f"{k} {v if not isinstance(v, (dict, list)) else json.dumps(v, default=str)}"
                       for k, v in rest.items())
    return f"{when} {kind.replace('_', ' ')}" + (f": {detail}" if detail else "")


def line_sentence(line: str) -> str:
    """An events.jsonl line as a sentence (a line that is not JSON is shown as it is)."""
    try:
        event = json.loads(line)
    except ValueError:
        return line
    return event_sentence(event) if isinstance(event, dict) else line
