"""The process view: requests/s, tokens/s and latency p50/p95 history, the recent error rate and
the failures by reason of a request-processing run."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from console import format as fmt
from console.widgets.history import FigureHistory, SparkRow

SERIES: tuple[tuple[str, str], ...] = (
    ("req_per_s", "req/s"),
    ("tokens_per_s", "tokens/s"),
    ("latency_p50_s", "latency p50"),
    ("latency_p95_s", "latency p95"),
    ("error_rate_recent", "error rate"),
)
#: the error rate shows in the error colour above this (the default alert rule's threshold)
ERROR_RATE_BAD = 0.05


def is_process_run(state: dict[str, Any]) -> bool:
    figures = state.get("figures") if isinstance(state.get("figures"), dict) else {}
    return state.get("kind") == "process" or any(k in figures for k in ("latency_p50_s", "req_per_s", "error_rate_recent"))


def _secs(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return "-"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


class ProcessView(Vertical):
    """Embeddable: ``show(state)`` each poll; keeps its own history per run."""

    DEFAULT_CSS = """
    ProcessView { height: auto; }
    ProcessView > Static { height: auto; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.histories: dict[str, FigureHistory] = {}
        self._texts: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static("", id="process-head")
        for key, label in SERIES:
            yield SparkRow(label, id=f"process-{key}")
        yield Static("", id="process-failures")

    def _update(self, wid: str, text: Text) -> None:
        if self._texts.get(wid) != text.plain:
            self._texts[wid] = text.plain
            self.query_one(f"#{wid}", Static).update(text)

    def show(self, state: dict[str, Any]) -> None:
        figures = state.get("figures") if isinstance(state.get("figures"), dict) else {}
        rate = state.get("rate") if isinstance(state.get("rate"), dict) else {}
        values = {**figures, "tokens_per_s": rate.get("tokens_per_s")}
        history = self.histories.setdefault(str(state.get("run_id") or ""), FigureHistory())
        history.add(state.get("heartbeat"), {k: values.get(k) for k, _l in SERIES})
        head = Text.assemble(("requests ", "bold"), (str(figures.get("endpoint") or "-"), "underline"))
        if figures.get("model"):
            head.append(f"  {figures['model']}", style="dim")
        cost = fmt.cost(state.get("cost_usd")) if figures.get("price_known") is not False else "? (price unknown)"
        head.append(f"  cost {cost}  projected {fmt.cost(state.get('cost_projected_usd'))}", style="dim")
        self._update("process-head", head)
        for key, _label in SERIES:
            v = values.get(key)
            if key == "error_rate_recent":
                shown = Text("-" if not isinstance(v, (int, float)) else f"{100 * v:.1f}%",
                             style="bold red" if isinstance(v, (int, float)) and v > ERROR_RATE_BAD else "")
            elif key.startswith("latency"):
                shown = Text(_secs(v))
            else:
                shown = Text(fmt.rate(v, "") if isinstance(v, (int, float)) else "-")
            self.query_one(f"#process-{key}", SparkRow).show(shown, history.get(key))
        counters = state.get("counters") if isinstance(state.get("counters"), dict) else {}
        reasons = figures.get("failures_by_reason") if isinstance(figures.get("failures_by_reason"), dict) else {}
        text = Text.assemble(("failures ", "bold"), (fmt.count(int(counters.get("failed") or 0)),
                                                     "bold red" if counters.get("failed") else "dim"))
        for reason, n in sorted(reasons.items(), key=lambda kv: -int(kv[1] or 0)):
            text.append(f"  {reason} ", style="dim")
            text.append(fmt.count(int(n)))
        self._update("process-failures", text)
