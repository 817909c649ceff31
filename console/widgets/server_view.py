"""The server view: phase, URL, the server log's tail and sparklines of running and queued
requests, KV-cache usage, generation throughput and cache hit rate, for serve runs and for
processing runs that scrape a server's /metrics."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from console import format as fmt
from console.widgets.history import FigureHistory, SparkRow

#: (figure, label, how to show the value)
SERIES: tuple[tuple[str, str, str], ...] = (
    ("running_reqs", "running", "count"),
    ("queued_reqs", "queued", "count"),
    ("token_usage", "KV usage", "pct"),
    ("gen_throughput", "gen tok/s", "rate"),
    ("cache_hit_rate", "cache hit", "pct"),
)
#: server log lines shown
LOG_TAIL = 8


def server_metrics(figures: dict[str, Any]) -> dict[str, Any] | None:
    """The server figures of a run: ``metrics`` (rollout serve) or ``server`` (a processing run
    scraping one); None when the run has neither."""
    m = figures.get("metrics")
    if isinstance(m, dict) and m:
        return m
    s = figures.get("server")
    if isinstance(s, dict) and any(k in s for k, _l, _f in SERIES):
        return s
    return None


def is_server_run(state: dict[str, Any]) -> bool:
    figures = state.get("figures") if isinstance(state.get("figures"), dict) else {}
    return state.get("kind") == "serve" or "url" in figures and "port" in figures or server_metrics(figures) is not None


def _fmt(value: Any, how: str) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    if how == "pct":
        return f"{100 * value:.1f}%"
    if how == "count":
        return fmt.count(int(value))
    return fmt.rate(float(value), "")


class ServerView(Vertical):
    """Embeddable: ``show(state, log_lines)`` each poll; keeps its own history per run."""

    DEFAULT_CSS = """
    ServerView { height: auto; }
    ServerView > #server-head, ServerView > #server-log { height: auto; }
    ServerView > #server-log { border-top: solid $secondary; color: $text-muted; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.histories: dict[str, FigureHistory] = {}
        self._head: str | None = None
        self._log: tuple[str, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="server-head")
        for key, label, _how in SERIES:
            yield SparkRow(label, id=f"server-{key}")
        yield Static("", id="server-log")

    def show(self, state: dict[str, Any], log_lines: list[str] | None = None) -> None:
        figures = state.get("figures") if isinstance(state.get("figures"), dict) else {}
        metrics = server_metrics(figures) or {}
        run_id = str(state.get("run_id") or "")
        history = self.histories.setdefault(run_id, FigureHistory())
        history.add(state.get("heartbeat"), metrics)
        url = figures.get("url") or metrics.get("url") or "-"
        head = Text.assemble(("server ", "bold"), (str(url), "bold underline"))
        phase = state.get("phase")
        if phase:
            head.append(f"  phase {phase}", style="bold")
        if figures.get("metrics_ok") is False or metrics.get("ok") is False:
            head.append("  metrics unavailable", style="yellow")
        if figures.get("failure_cause"):
            head.append(f"  failure: {figures['failure_cause']}", style="bold red")
        if head.plain != self._head:
            self._head = head.plain
            self.query_one("#server-head", Static).update(head)
        for key, _label, how in SERIES:
            self.query_one(f"#server-{key}", SparkRow).show(_fmt(metrics.get(key), how), history.get(key))
        lines = tuple((log_lines or [])[-LOG_TAIL:])
        if lines != self._log:
            self._log = lines
            self.query_one("#server-log", Static).update(
                Text("\n".join(lines), no_wrap=True, overflow="ellipsis") if lines else Text("no server log", style="dim"))
