"""Human formatting of run figures, shared by the CLI and the Textual app."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `rollout status` loads this module
if TYPE_CHECKING:
    from typing import Any


#: rich style of each status (console/history_view.py turns the same words into ANSI codes)
STATUS_STYLE = {
    "running": "bold cyan", "serving": "bold green", "waiting": "bold yellow", "paused": "yellow",
    "stopping": "yellow", "done": "bold green", "failed": "bold red", "cancelled": "magenta",
    "lost": "bold red", "starting": "cyan",
}


def duration(seconds: float | None) -> str:
    """``1h02m``, ``3m05s``, ``42s``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    s = int(max(seconds, 0))
    if s >= 86400:
        return f"{s // 86400}d{(s % 86400) // 3600:02d}h"
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def rate(value: float | None, unit: str = "/s") -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}{unit}"
    if value >= 1:
        return f"{value:.1f}{unit}"
    return f"{value:.2f}{unit}"


def cost(usd: float | None) -> str:
    """Dollars; ``?`` when the price is unknown (unknown is not free)."""
    if usd is None:
        return "?"
    if usd >= 100:
        return f"${usd:,.0f}"
    return f"${usd:,.2f}" if usd >= 0.01 or usd == 0 else f"${usd:.4f}"


def count(n: int | None) -> str:
    if n is None:
        return "-"
    if n >= 10_000_000:
        return f"{n / 1e6:.0f}M"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 100_000:
        return f"{n / 1e3:.0f}k"
    return f"{n:,}"


def timestamp(ts: float | None) -> str:
    if not ts:
        return "-"
    import datetime as _dt

    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def progress_text(counters: dict[str, Any]) -> str:
    total = counters.get("total") or 0
    done = counters.get("done") or 0
    if not total:
        return f"{count(done)}"
    return f"{count(done)}/{count(total)} ({100.0 * done / total:.1f}%)"


def plain_state_line(state: dict[str, Any]) -> str:
    """One plain line of a run's state, for logs, pipes and ``watch --plain``."""
    c = state.get("counters") or {}
    r = state.get("rate") or {}
    tok = state.get("tokens") or {}
    parts = [
        f"[{state.get('status', '?')}]",
        progress_text(c),
        f"ok={c.get('ok', 0)} failed={c.get('failed', 0)} retried={c.get('retried', 0)} in_flight={c.get('in_flight', 0)}",
    ]
    if c.get("cached"):
        parts.append(f"cached={c['cached']}")
    parts.append(f"rate={rate(r.get('items_per_s'))}")
    if tok.get("prompt") or tok.get("completion"):
        parts.append(f"tok={count(tok.get('prompt', 0))}/{count(tok.get('completion', 0))} ({rate(r.get('tokens_per_s'), ' tok/s')})")
    parts.append(f"cost={cost(state.get('cost_usd'))}")
    if state.get("cost_projected_usd") is not None:
        parts.append(f"proj={cost(state.get('cost_projected_usd'))}")
    parts.append(f"eta={duration(state.get('eta_s'))}")
    if state.get("phase"):
        parts.append(f"phase={state['phase']}")
    url = (state.get("figures") or {}).get("url")
    if url:
        parts.append(f"url={url}")
    alerts = state.get("alerts") or []
    if alerts:
        parts.append("alerts=" + ",".join(a.get("name", "?") for a in alerts))
    line = (state.get("figures") or {}).get("monitor_line")
    if line:  # seed 004's monitoring line of a SWE-bench evaluation
        parts.append(f"| {line}")
    return " ".join(parts)
