"""Job-specific figures for the detail pane: known groups rendered nicely, the other scalars listed.

Known groups (by the figures a job writes, not by its kind, so a new job that reports the same
figures is shown the same way):

- server (``rollout serve``): ``url``/``port``, ``metrics`` {running_reqs, queued_reqs, token_usage,
  gen_throughput, cache_hit_rate, ttft_*, e2e_*...}
- request processor: ``latency_p50_s``/``latency_p95_s``, ``error_rate_recent``, ``req_per_s``,
  ``endpoint``, ``model``, plus tokens/s, cost and projection from the state
- evaluation: ``curve`` [{step, name, value}] as a bar chart of the metric by step
- SWE-bench evaluation (``rollout eval swebench``): seed 004's ``monitor_line`` (progress, success,
  mean Overall, BRS, overfit gap, ETA, cost), stalled instances and the last error
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from console import format as fmt
from engine.evaluation.curve import text_chart

SERVER_KEYS = frozenset({"url", "port", "server", "metrics", "metrics_ok", "startup_elapsed_s", "running_reqs",
                         "queued_reqs", "token_usage", "gen_throughput", "ttft_p50_s", "stop", "failure_cause"})
PROCESSOR_KEYS = frozenset({"latency_p50_s", "latency_p95_s", "error_rate_recent", "req_per_s", "attempts",
                            "endpoint", "model", "transport", "concurrency", "price_known", "input_lines",
                            "resumed_done"})
CURVE_KEYS = frozenset({"curve"})
SWEBENCH_KEYS = frozenset({"monitor_line", "instances_done", "instances_total", "resolved", "success_rate",
                           "success_rate_n", "overall_mean", "brs_mean", "overfit_gap", "errors", "crashes",
                           "cost_so_far_usd", "cost_per_instance_usd", "eta_s", "harness_run_id", "logs_dir", "running",
                           "stalled", "resumed", "last_error", "errors_list", "harness_pid", "harness_log", "summary",
                           "harness_exit", "harness_stalled"})
#: mean overfit gap above this shows in the error colour (the seed's overfit_gap_high threshold)
OVERFIT_GAP_BAD = 0.15
#: error rate above this shows in the error colour (the default alert rule's threshold)
ERROR_RATE_BAD = 0.05


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _secs(value: Any) -> str:
    v = _num(value)
    if v is None:
        return "-"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def _pct(value: Any) -> str:
    v = _num(value)
    return "-" if v is None else f"{100 * v:.1f}%"


def _grid() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(no_wrap=True)
    return grid


def _pairs(grid: Table, pairs: list[tuple[str, Any]]) -> None:
    for i in range(0, len(pairs), 2):
        (k1, v1), (k2, v2) = pairs[i], pairs[i + 1] if i + 1 < len(pairs) else ("", "")
        grid.add_row(k1, v1 if isinstance(v1, Text) else Text(str(v1)), k2, v2 if isinstance(v2, Text) else Text(str(v2)))


def server_view(state: dict[str, Any], figures: dict[str, Any]) -> RenderableType:
    """URL, phase and the live metrics of a served model."""
    m = figures.get("metrics") if isinstance(figures.get("metrics"), dict) else {}

    def get(key: str) -> Any:  # the main metrics are also copied to the top level
        return m.get(key, figures.get(key))

    head = Text.assemble(("server ", "bold"), (str(figures.get("url", "-")), "bold underline"))
    if state.get("phase"):
        head.append(f"  {state['phase']}", style="dim")
    server = figures.get("server") if isinstance(figures.get("server"), dict) else {}
    if server.get("engine"):
        head.append(f"  {server['engine']}", style="dim")
    grid = _grid()
    pairs: list[tuple[str, Any]] = [
        ("running", fmt.count(int(get("running_reqs"))) if _num(get("running_reqs")) is not None else "-"),
        ("queued", fmt.count(int(get("queued_reqs"))) if _num(get("queued_reqs")) is not None else "-"),
        ("token usage", _pct(get("token_usage"))),
        ("gen throughput", fmt.rate(_num(get("gen_throughput")), " tok/s")),
        ("cache hit", _pct(get("cache_hit_rate"))),
        ("TTFT p50/p95", f"{_secs(get('ttft_p50_s'))} / {_secs(get('ttft_p95_s'))}"),
        ("e2e p50/p95", f"{_secs(get('e2e_p50_s'))} / {_secs(get('e2e_p95_s'))}"),
        ("prompt tok/s", fmt.rate(_num(get("prompt_tokens_per_s")), "")),
    ]
    if figures.get("startup_elapsed_s") is not None:
        pairs.append(("ready after" if server.get("ready_after_s") else "starting for",
                      fmt.duration(_num(server.get("ready_after_s") or figures.get("startup_elapsed_s")))))
    _pairs(grid, pairs)
    parts: list[RenderableType] = [head, grid]
    if figures.get("metrics_ok") is False:
        parts.append(Text("metrics unavailable (the server's /metrics did not answer)", style="yellow"))
    if figures.get("failure_cause"):
        parts.append(Text(f"failure: {figures['failure_cause']}", style="bold red"))
    return Group(*parts)


def processor_view(state: dict[str, Any], figures: dict[str, Any]) -> RenderableType:
    """Latency, error rate, throughput and cost of a request processor."""
    head = Text.assemble(("requests ", "bold"), (str(figures.get("endpoint", "")), "underline"))
    if figures.get("model"):
        head.append(f"  {figures['model']}", style="dim")
    err = _num(figures.get("error_rate_recent"))
    rate = state.get("rate") or {}
    cost = fmt.cost(_num(state.get("cost_usd")))
    if figures.get("price_known") is False:
        cost = "? (price unknown)"
    grid = _grid()
    _pairs(grid, [
        ("latency p50", _secs(figures.get("latency_p50_s"))),
        ("latency p95", _secs(figures.get("latency_p95_s"))),
        ("error rate", Text(_pct(err), style="bold red" if err is not None and err > ERROR_RATE_BAD else "")),
        ("req/s", fmt.rate(_num(figures.get("req_per_s")), "")),
        ("tokens/s", fmt.rate(_num(rate.get("tokens_per_s")), "")),
        ("concurrency", str(figures.get("concurrency", "-"))),
        ("cost", cost),
        ("projected", fmt.cost(_num(state.get("cost_projected_usd")))),
    ])
    return Group(head, grid)


def swebench_view(state: dict[str, Any], figures: dict[str, Any]) -> RenderableType:
    """Seed 004's monitoring line of a SWE-bench evaluation, with stalls and the last error."""
    head = Text.assemble(("swebench ", "bold"), (str(figures.get("harness_run_id", "")), "underline"))
    gap = _num(figures.get("overfit_gap"))
    line = Text(str(figures.get("monitor_line", "")),
                style="bold red" if gap is not None and gap > OVERFIT_GAP_BAD else "")
    grid = _grid()
    _pairs(grid, [
        ("resolved", str(figures.get("resolved", "-"))),
        ("running", str(figures.get("running", "-"))),
        ("errors", Text(str(figures.get("errors", 0)), style="bold red" if figures.get("errors") else "")),
        ("infra errors", Text(str(figures.get("crashes", 0)), style="bold red" if (figures.get("crashes") or 0) >= 2 else "")),
        ("resumed", str(figures.get("resumed", 0))),
        ("cost/instance", fmt.cost(_num(figures.get("cost_per_instance_usd")))),
    ])
    parts: list[RenderableType] = [head, line, grid]
    stalled = figures.get("stalled") or []
    if stalled:
        parts.append(Text(f"stalled: {', '.join(map(str, stalled[:5]))}{' …' if len(stalled) > 5 else ''}", style="yellow"))
    if figures.get("harness_stalled"):
        parts.append(Text("harness silent: no output and no instance running (see its harness.log)", style="yellow"))
    if figures.get("last_error"):
        parts.append(Text(f"last error: {figures['last_error']}", style="red"))
    return Group(*parts)


def curve_view(points: list[dict[str, Any]], metric: str = "pass@1", width: int = 30) -> RenderableType:
    """The learning curve: one bar per checkpoint with its step, value and change."""
    clean = [p for p in points if isinstance(p, dict) and _num(p.get("value")) is not None and "step" in p]
    lines = text_chart(clean, metric, width=width).splitlines()
    out = Text()
    for i, line in enumerate(lines):
        if i:
            out.append("\n")
        out.append(line, style="bold" if i == 0 else "green" if line.startswith("best") else "")
    return out


def other_scalars(figures: dict[str, Any], skip: frozenset[str]) -> list[tuple[str, str]]:
    """The scalar figures no known group showed (nested dicts and lists are left to `rollout show`)."""
    out = []
    for key in sorted(figures):
        value = figures[key]
        if key in skip or isinstance(value, (dict, list)) or value is None:
            continue
        if isinstance(value, float):
            text = f"{value:.4g}"
        else:
            text = str(value)
        out.append((key, text))
    return out


def job_figures_view(state: dict[str, Any], width: int = 80) -> RenderableType | None:
    """The figures section of the detail pane, or None when the job wrote no figures."""
    figures = state.get("figures") or {}
    if not isinstance(figures, dict) or not figures:
        return None
    parts: list[RenderableType] = []
    skip: set[str] = set()
    if "url" in figures or isinstance(figures.get("metrics"), dict):
        parts.append(server_view(state, figures))
        skip |= SERVER_KEYS
    if any(k in figures for k in ("latency_p50_s", "error_rate_recent", "req_per_s")):
        parts.append(processor_view(state, figures))
        skip |= PROCESSOR_KEYS
    if "monitor_line" in figures:
        parts.append(swebench_view(state, figures))
        skip |= SWEBENCH_KEYS
    if isinstance(figures.get("curve"), list):
        parts.append(curve_view(figures["curve"], str(figures.get("metric") or "pass@1"),
                                width=max(min(width - 30, 40), 10)))
        skip |= CURVE_KEYS
    rest = other_scalars(figures, frozenset(skip))
    if rest:
        grid = _grid()
        _pairs(grid, rest)
        parts.append(grid)
    return Group(*[p for pair in zip(parts, [Text("")] * len(parts)) for p in pair][:-1])
