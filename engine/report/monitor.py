"""Seed 004's monitoring line for a running phase, and the figures behind it.

``progress 12/50 instances · success 58.3% · Overall 0.612 · BRS 0.500 · overfit gap 0.043 ·
ETA 14m05s · cost $23.10``

The figures go into the run's state (``figures``): the alert rules read ``overfit_gap`` (mean
gap so far), ``success_rate`` with ``success_rate_n``, ``cost_per_instance_usd`` and ``crashes``
(infrastructure errors); viewers show ``monitor_line``.
"""

from __future__ import annotations

from typing import Any, Iterable

from engine.report.scorecard import ERROR, InstanceScore
from engine.report.stats import summarize
from engine.swebench.failures import INFRASTRUCTURE


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(max(seconds, 0))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def live_figures(scores: Iterable[InstanceScore], *, total: int, eta_s: float | None = None) -> dict[str, Any]:
    """The monitoring figures of the instances finished so far (``total``: the phase's size)."""
    done = list(scores)
    counted = [s for s in done if s.counted]
    ok = sum(1 for s in counted if s.success)
    costs = [s.cost_usd for s in done if s.cost_usd is not None]
    infra = sum(1 for s in done if s.status == ERROR and (s.failure or {}).get("kind") == INFRASTRUCTURE)
    figs: dict[str, Any] = {
        "instances_done": len(done), "instances_total": total,
        "resolved": sum(1 for s in counted if s.resolved),
        "success_rate": round(ok / len(counted), 4) if counted else None, "success_rate_n": len(counted),
        "overall_mean": summarize(s.overall for s in counted).mean,
        "brs_mean": summarize(s.brs for s in counted).mean,
        "overfit_gap": summarize(s.overfit_gap for s in counted).mean,
        "errors": sum(1 for s in done if s.status == ERROR), "crashes": infra,
        "cost_so_far_usd": round(sum(costs), 6) if costs else None,
        "cost_per_instance_usd": round(sum(costs) / len(costs), 6) if costs else None,
        "eta_s": eta_s,
    }
    figs["monitor_line"] = monitor_line(figs)
    return figs


def _num(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def monitor_line(f: dict[str, Any]) -> str:
    """The one line a viewer shows (``rollout status``, the console, ``--plain`` progress)."""
    cost = "-" if f.get("cost_so_far_usd") is None else f"${f['cost_so_far_usd']:,.2f}"
    success = "-" if f.get("success_rate") is None else f"{100 * f['success_rate']:.1f}%"
    return (f"progress {f.get('instances_done', 0)}/{f.get('instances_total', 0)} instances · success {success} · "
            f"Overall {_num(f.get('overall_mean'), '.3f')} · BRS {_num(f.get('brs_mean'), '.3f')} · "
            f"overfit gap {_num(f.get('overfit_gap'), '.3f')} · ETA {_dur(f.get('eta_s'))} · cost {cost}")
