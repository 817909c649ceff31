"""Rich renderables for a run's live view (``rollout watch`` and jobs run in the foreground)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from console import format as fmt

STATUS_STYLE = fmt.STATUS_STYLE  # kept here too: commands and screens import it from render


def state_view(run_id: str, state: dict[str, Any], events: list[dict[str, Any]] | None = None) -> Group:
    """A compact panel: progress bar, counters, throughput, tokens, cost, ETA, alerts, last events."""
    c = state.get("counters") or {}
    r = state.get("rate") or {}
    tok = state.get("tokens") or {}
    status = state.get("status", "?")
    head = Text.assemble((f"{run_id} ", "bold"), (status, STATUS_STYLE.get(status, "")))
    if state.get("phase"):
        head.append(f"  phase: {state['phase']}", style="dim")
    total = c.get("total") or 0
    bar = Table.grid()  # a bare ProgressBar does not end its line inside a Group
    # no total (a server): an empty bar, not rich's pulse, whose frames change with the clock
    bar.add_row(ProgressBar(total=total or 1, completed=c.get("done", 0) if total else 0, width=50))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    grid.add_column(style="dim")
    grid.add_column()
    grid.add_row("done", fmt.progress_text(c), "elapsed", fmt.duration(state.get("elapsed_s")))
    grid.add_row("ok", f"[green]{c.get('ok', 0):,}[/]", "failed", f"[red]{c.get('failed', 0):,}[/]")
    grid.add_row("in flight", f"{c.get('in_flight', 0):,}", "retried", f"{c.get('retried', 0):,}")
    grid.add_row("cached", f"{c.get('cached', 0):,}", "skipped", f"{c.get('skipped', 0):,}")
    grid.add_row("rate", fmt.rate(r.get("items_per_s")), "tokens/s", fmt.rate(r.get("tokens_per_s"), ""))
    grid.add_row("tokens in", fmt.count(tok.get("prompt", 0)), "tokens out", fmt.count(tok.get("completion", 0)))
    grid.add_row("cost", fmt.cost(state.get("cost_usd")), "projected", fmt.cost(state.get("cost_projected_usd")))
    grid.add_row("ETA", fmt.duration(state.get("eta_s")), "", "")
    for label, value in figure_rows(state.get("figures") or {}):
        grid.add_row(label, value, "", "")
    parts: list[Any] = [head, bar, grid]
    for alert in state.get("alerts") or []:
        style = "bold red" if alert.get("severity") == "critical" else "yellow"
        parts.append(Text(f"ALERT {alert.get('name')}: {alert.get('message', '')}", style=style))
    for ev in (events or [])[-5:]:
        parts.append(Text(event_line(ev), style="dim"))
    return Group(*parts)


#: figures shown first in the live view, with their labels (others follow, up to MAX_FIGURE_ROWS)
KEY_FIGURES = (
    ("url", "url"), ("endpoint", "endpoint"), ("req_per_s", "req/s"), ("latency_p50_s", "latency p50 s"),
    ("latency_p95_s", "latency p95 s"), ("error_rate_recent", "error rate (last 200)"),
    ("cost_per_1k_requests_usd", "cost / 1k req"), ("cost_per_instance_usd", "cost / instance"),
    ("tests_per_s", "tests/s"), ("pass_rate", "pass rate"), ("checkpoint", "checkpoint"),
)
#: nested server metrics (serve runs: figures.metrics; processing runs: figures.server)
SERVER_FIGURES = (("running_reqs", "running"), ("queued_reqs", "queued"), ("token_usage", "KV usage"),
                  ("gen_throughput", "gen tok/s"), ("cache_hit_rate", "cache hit"), ("ttft_p50_s", "TTFT p50 s"))
MAX_FIGURE_ROWS = 12


def figure_rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of a job's figures: the well-known ones first, then other scalars."""
    rows: list[tuple[str, str]] = []
    shown: set[str] = set()
    for key, label in KEY_FIGURES:
        value = figures.get(key)
        if value is not None and not isinstance(value, (dict, list)):
            rows.append((label, _scalar(key, value)))
            shown.add(key)
    server = figures.get("server") if isinstance(figures.get("server"), dict) else figures.get("metrics")
    if isinstance(server, dict):
        parts = [f"{label} {_scalar(key, server[key])}" for key, label in SERVER_FIGURES if server.get(key) is not None]
        if parts:
            rows.append(("server", "  ".join(parts)))
    for key in sorted(figures):
        value = figures[key]
        if key in shown or isinstance(value, (dict, list, bool)) or value is None:
            continue
        rows.append((key, _scalar(key, value)))
    return rows[:MAX_FIGURE_ROWS]


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, float):
        if key.endswith("_usd"):
            return fmt.cost(value)
        if "rate" in key or key in ("token_usage", "pass_rate"):
            return f"{value:.1%}" if value <= 1 else f"{value:,.2f}"
        return f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def event_line(ev: dict[str, Any]) -> str:
    """One line for an event from events.jsonl: a sentence (console/event_text.py), not a dict dump."""
    from console.event_text import event_sentence

    return event_sentence(ev)
