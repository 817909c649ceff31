"""A batch run's live figures from its record: the same counters, tokens and cost as online
processing (``ok``/``failed`` are the remote counts until a part is fetched, then what fetch
found), plus each part's remote status."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from engine.batchapi.record import BatchRecord
from engine.jobs import JobContext


def counters(record: BatchRecord) -> dict[str, int]:
    """total, done, ok, failed, skipped, in_flight of the whole run."""
    ok = failed = in_flight = 0
    for p in record.parts:
        if p.fetched:
            ok += p.ok
            failed += p.failed
        elif p.superseded_by is None:
            ok += int(p.counts.get("completed", 0))
            failed += int(p.counts.get("failed", 0))
            if p.batch_id and not p.final:
                in_flight += max(0, p.requests - int(p.counts.get("completed", 0)) - int(p.counts.get("failed", 0)))
    return {"total": record.total, "skipped": record.skipped, "ok": ok, "failed": failed,
            "done": record.skipped + ok + failed, "in_flight": in_flight}


def unanswered(record: BatchRecord) -> int:
    """Ids a fetched expired/cancelled part never ran and no later part resends."""
    return sum(p.unanswered for p in record.parts if p.fetched and p.superseded_by is None)


def remote_summary(record: BatchRecord) -> str:
    """``2 completed, 1 in_progress`` over the current parts."""
    by = Counter(p.status + (" (fetched)" if p.fetched else "") for p in record.current_parts())
    return ", ".join(f"{n} {s}" for s, n in sorted(by.items()))


def figures(record: BatchRecord) -> dict[str, Any]:
    est = record.estimate
    return {
        "endpoint": record.url, "model": record.model, "parts": len(record.current_parts()),
        "remote": remote_summary(record), "unanswered": unanswered(record),
        "batch_ids": [p.batch_id for p in record.current_parts() if p.batch_id],
        "estimate_max_usd": est.cost_usd, "online_estimate_max_usd": est.online_cost_usd,
        "price_source": record.price_source, "price_known": record.price is not None,
        "last_poll": _clock(max((p.polled or 0 for p in record.parts), default=0)),
    }


def _clock(ts: float) -> str | None:
    """``HH:MM:SS`` of a poll (a figure people read: how fresh the remote counts are)."""
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else None


def projected_cost(record: BatchRecord, c: dict[str, int]) -> float | None:
    """Cost of the whole run: measured cost per answer × requests once answers are in, else the estimate."""
    answered = sum(p.ok + p.failed for p in record.parts if p.fetched)
    if record.cost_usd is not None and answered:
        return round(record.cost_usd * (c["total"] - c["skipped"]) / answered, 6)
    return record.estimate.cost_usd


def apply(ctx: JobContext, record: BatchRecord) -> None:
    """Put the record's figures into the job's state (written by the runner at its next tick)."""
    c = counters(record)
    for key, value in c.items():
        ctx.counters[key] = value
    ctx.total_known = True
    ctx.tokens.update(record.tokens())
    ctx.set_cost(record.cost_usd, projected_cost(record, c))
    ctx.set_figures(**figures(record))


def waiting_state(run_id: str, record: BatchRecord, previous: dict[str, Any]) -> dict[str, Any]:
    """state.json of a run no process follows (after ``batch status`` or ``cancel``), from the record."""
    c = counters(record)
    state = dict(previous)
    tokens = record.tokens()
    state.update(run_id=run_id, status="waiting", waiting_on=record.url, heartbeat=time.time(),
                 counters={**(previous.get("counters") or {}), **c, "in_flight": c["in_flight"]}, tokens=tokens,
                 cost_usd=record.cost_usd, cost_projected_usd=projected_cost(record, c),
                 figures={**(previous.get("figures") or {}), **figures(record)})
    return state
