"""Follow a batch run from any process, by run id: poll, wait, fetch, resubmit, cancel, status.

``wait``, ``fetch`` and ``resubmit`` are jobs that continue the submit's run directory
(:func:`engine.jobs.run_job` with ``run=``), holding ``batch.lock`` so one process at a time
changes the record. ``status`` and ``cancel`` are quick calls: they update the record and
state.json only when no other process is following the run.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.batchapi import figures
from engine.batchapi.client import BatchClient
from engine.batchapi.connect import Target, resolve_target
from engine.batchapi.fetch import Sink, fetch_part, open_sink
from engine.batchapi.options import CancelOptions, FetchOptions, FollowFields, ResubmitOptions, StatusOptions, WaitOptions
from engine.batchapi.record import (RESUBMITTABLE, RUN_KIND, BatchRecord, PartRecord, load_record, lock_record,
                                    save_record, try_lock_record)
from engine.batchapi.submit import PartialSubmit, create_parts, partial_outcome, submitted_message, update_part
from engine.config import Price
from engine.cost import token_cost_usd
from engine.errors import ExitCode, InputError
from engine.jobs import JobContext, JobOutcome
from engine.runs import RunDir, list_runs


class PollBackoff:
    """Seconds between status polls: ``first``, growing ×1.5 up to ``cap``; back to ``first``
    when a part changes status (a batch that moves is worth watching closely)."""

    def __init__(self, first: float, cap: float) -> None:
        self.first, self.cap = first, max(cap, first)
        self.delay = first

    def next(self, status_changed: bool) -> float:
        if status_changed:
            self.delay = self.first
        delay = self.delay
        self.delay = min(self.cap, self.delay * 1.5)
        return delay


async def poll_parts(client: BatchClient, record: BatchRecord) -> bool:
    """One ``GET /v1/batches/{id}`` per active part; True when a status changed."""
    changed = False
    for part in record.current_parts():
        if part.active:
            before = part.status
            update_part(part, await client.get_batch(part.batch_id))  # type: ignore[arg-type]
            changed = changed or part.status != before
    return changed


def paths_for(record: BatchRecord, output: Path | None, errors: Path | None) -> tuple[Path, Path]:
    """The output and errors files: flags, else the ones recorded at submit."""
    out = output or (Path(record.output) if record.output else None)
    if out is None:
        raise InputError("no output file: pass --output FILE (where the answers are appended)")
    err = errors or (Path(record.errors) if record.errors and output is None else None)
    return out, err or out.with_name(out.name + ".errors.jsonl")


def _record_cost(record: BatchRecord) -> None:
    if record.price is None:
        return
    t = record.tokens()
    record.cost_usd = token_cost_usd(Price(**record.price), t["prompt"], t["completion"], t["cached"])


async def fetch_ready(ctx: JobContext, client: BatchClient, record: BatchRecord, sink: Sink) -> int:
    """Fetch every ended part not fetched yet; returns how many were fetched."""
    n = 0
    for part in record.current_parts():
        if part.final and not part.fetched and part.batch_id:
            ctx.phase("fetching", f"{part.label} ({part.status}): {part.counts.get('completed', 0):,} answers")
            await fetch_part(client, part, sink)
            _record_cost(record)
            save_record(ctx.run, record)
            for line in sink.warnings:
                ctx.warn(line)
            sink.warnings.clear()
            figures.apply(ctx, record)
            ctx.event("batch_fetched", part=part.index, batch_id=part.batch_id, ok=part.ok, failed=part.failed,
                      unanswered=part.unanswered)
            n += 1
    return n


@dataclass
class FollowResult:
    record: BatchRecord
    written_ok: int = 0
    written_failed: int = 0
    timed_out: bool = False


async def follow(ctx: JobContext, target: Target, record: BatchRecord, follow: FollowFields, *, wait: bool,
                 fetch: bool, output: Path | None = None, errors: Path | None = None,
                 timeout: float | None = None) -> FollowResult:
    """Poll (with backoff) until every part has ended (``wait``) or once, fetching ended parts
    (``fetch``) as soon as they end. Returns early, leaving the batches running, on a stop."""
    result = FollowResult(record)
    sink: Sink | None = None
    if fetch:
        out, err = paths_for(record, output, errors)
        sink = open_sink(record, out, err)
        record.output, record.errors = str(out), str(err)
        save_record(ctx.run, record)
    backoff = PollBackoff(follow.poll_interval, follow.poll_max)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout else None
    try:
        async with target.client() as client:
            while True:
                changed = await poll_parts(client, record)
                save_record(ctx.run, record)
                figures.apply(ctx, record)
                if sink is not None:
                    await fetch_ready(ctx, client, record, sink)
                active = [p for p in record.current_parts() if p.active]
                if not wait or not active or ctx.stopping:
                    break
                if deadline is not None and loop.time() >= deadline:
                    result.timed_out = True
                    break
                ctx.phase("waiting", f"{figures.remote_summary(record)}; {figures.counters(record)['in_flight']:,} "
                          "requests still running remotely")
                pause = backoff.next(changed)
                if deadline is not None:
                    pause = min(pause, max(0.0, deadline - loop.time()))
                if await ctx.wait_stop(pause):
                    break
    finally:
        if sink is not None:
            result.written_ok, result.written_failed = sink.written_ok, sink.written_failed
            sink.close()
    return result


def outcome(ctx: JobContext, result: FollowResult, *, fetched: bool) -> JobOutcome:
    """How a follow ends: still ``waiting`` on the API, or done (exit 1 when ids failed or are
    unanswered), or cancelled."""
    record = result.record
    run_id = ctx.run.run_id
    parts = record.current_parts()
    active = [p for p in parts if p.active]
    pending = [p for p in parts if p.status == "pending"]
    unfetched = [p for p in parts if p.final and not p.fetched and p.batch_id]
    c = figures.counters(record)
    wrote = f"{result.written_ok:,} answers and {result.written_failed:,} failures appended to {record.output}; " \
        if fetched else ""
    if active or pending or unfetched:
        ctx.wait_on(record.url)
        if active:
            state = f"{len(active)} of {len(parts)} parts still running ({figures.remote_summary(record)})"
        elif pending:
            state = f"parts {[p.index for p in pending]} were never sent: 'rollout batch resubmit {run_id}'"
        else:
            state = f"every part has ended: 'rollout batch fetch {run_id}' collects them"
        hint = f"; 'rollout batch fetch {run_id}' later" if active else ""
        stop = "stopped following (the batches go on): " if ctx.stopping else ""
        ctx.phase("waiting", f"{stop}{wrote}{state}")
        return JobOutcome(status="waiting", exit_code=int(ExitCode.INTERRUPTED) if ctx.stopping else 0,
                          message=f"{stop}{wrote}{state}{hint}")
    ctx.wait_on(None)
    unanswered = figures.unanswered(record)
    failed_parts = [p for p in parts if p.status == "failed"]
    summary = (f"{wrote}{c['ok']:,} ok, {c['failed']:,} failed, {unanswered:,} unanswered, {c['skipped']:,} already "
               f"done of {c['total']:,}")
    if record.cost_usd is not None:
        summary += f"; cost ${record.cost_usd:,.4f} at the batch price"
    if failed_parts:
        why = "; ".join(f"{p.label}: {'; '.join(p.errors) or 'failed validation'}" for p in failed_parts[:3])
        summary += f"; batches failed: {why}"
    if unanswered and not failed_parts:
        summary += f"; 'rollout batch resubmit {run_id}' sends only the unanswered ids"
    cancelled = any(p.status == "cancelled" for p in parts) and unanswered
    ctx.phase("finished", summary)
    if cancelled:
        return JobOutcome(status="cancelled", exit_code=int(ExitCode.INTERRUPTED), message=summary)
    bad = c["failed"] or unanswered
    return JobOutcome(exit_code=int(ExitCode.ITEMS_FAILED) if bad else int(ExitCode.OK), message=summary)


def _attach(ctx: JobContext, record: BatchRecord) -> None:
    ctx.wait_on(record.url)
    ctx.set_figures(input_lines=record.total, split_lines=record.split_lines, split_bytes=record.split_bytes)
    figures.apply(ctx, record)


def make_follow_job(opts: WaitOptions | FetchOptions, target: Target):
    """``batch wait`` (follow until every part ended) or ``batch fetch`` (fetch ended parts;
    with ``--wait`` also the ones still running)."""
    fetching = isinstance(opts, FetchOptions)

    async def follow_job(ctx: JobContext) -> JobOutcome:
        with lock_record(ctx.run):
            record = load_record(ctx.run)
            _attach(ctx, record)
            ctx.phase("polling", f"{len(record.current_parts())} parts on {record.url}")
            if fetching:
                assert isinstance(opts, FetchOptions)
                result = await follow(ctx, target, record, opts, wait=opts.wait, fetch=True, output=opts.output,
                                      errors=opts.errors)
            else:
                assert isinstance(opts, WaitOptions)
                result = await follow(ctx, target, record, opts, wait=True, fetch=False, timeout=opts.timeout)
            figures.apply(ctx, record)
            return outcome(ctx, result, fetched=fetching)

    return follow_job


def check_input_unchanged(record: BatchRecord) -> Path:
    """The input file, as it was at submit (resubmit reads the unanswered requests from it)."""
    path = Path(record.input["path"])
    try:
        st = path.stat()
    except OSError:
        raise InputError(f"{path}: the input of this batch run is gone: resubmit reads the unanswered requests "
                         "from it: restore it") from None
    if st.st_size != record.input.get("size") or st.st_mtime != record.input.get("mtime"):
        raise InputError(f"{path} changed since it was submitted (size {record.input.get('size')} → {st.st_size}): "
                         "restore it, or submit the new file as a new run")
    return path


def make_resubmit_job(opts: ResubmitOptions, target: Target):
    """``batch resubmit``: fetch what ended, then one new part per expired/cancelled part holding
    only its unanswered ids (and create any part a killed submit never sent)."""

    async def resubmit_job(ctx: JobContext) -> JobOutcome:
        with lock_record(ctx.run):
            record = load_record(ctx.run)
            check_input_unchanged(record)
            _attach(ctx, record)
            ctx.phase("fetching", "collecting what the ended parts answered")
            out, err = paths_for(record, opts.output, opts.errors)
            record.output, record.errors = str(out), str(err)
            sink = open_sink(record, out, err)
            try:
                async with target.client() as client:
                    await poll_parts(client, record)
                    await fetch_ready(ctx, client, record, sink)
                    new: list[PartRecord] = []
                    for part in record.current_parts():
                        if part.fetched and part.status in RESUBMITTABLE and part.unanswered > 0:
                            again = PartRecord(index=len(record.parts) + 1, source=part.index,
                                               first_line=part.first_line, last_line=part.last_line,
                                               start_byte=part.start_byte, end_byte=part.end_byte,
                                               requests=part.unanswered, bytes=0)
                            part.superseded_by = again.index
                            record.parts.append(again)
                            new.append(again)
                    pending = [p for p in record.current_parts() if p.status == "pending"]
                    save_record(ctx.run, record)
                    if not pending:
                        figures.apply(ctx, record)
                        return outcome(ctx, FollowResult(record, sink.written_ok, sink.written_failed), fetched=True)
                    ctx.log(f"resubmitting {sum(p.requests for p in new):,} unanswered requests of parts "
                            f"{[p.source for p in new]}" + (f" and never-sent parts {[p.index for p in pending if not p.source]}"
                                                            if any(not p.source for p in pending) else ""))
                    try:
                        await create_parts(ctx, client, record, sink.done)
                    except PartialSubmit as exc:
                        figures.apply(ctx, record)
                        return partial_outcome(ctx, record, exc)
            finally:
                sink.close()
            figures.apply(ctx, record)
            ctx.wait_on(record.url)
            message = submitted_message(ctx.run.run_id, record)
            ctx.phase("submitted", message)
            return JobOutcome(status="waiting", exit_code=130 if ctx.stopping else 0, message=message)

    return resubmit_job


# -- quick calls (no job) ------------------------------------------------------------------------
def _write_waiting_state(run: RunDir, record: BatchRecord) -> None:
    if run.effective_status() == "waiting":
        run.write_state(figures.waiting_state(run.run_id, record, run.read_state()))


def batch_runs(workspace: Path, ref: str | None) -> list[RunDir]:
    """The run named by ``ref``, or every batch run still waiting."""
    from engine.runs import find_run

    if ref:
        return [find_run(workspace, ref)]
    return [r for r in list_runs(workspace) if r.kind == RUN_KIND and (r.path / "batch.json").exists()
            and r.effective_status() == "waiting"]


async def _refresh(run: RunDir, opts: Any, config: Any, *, cancel: bool) -> dict[str, Any]:
    record = load_record(run)
    lock = try_lock_record(run)
    try:
        if lock is not None:
            record = load_record(run)  # re-read under the lock
        target = resolve_target(config, opts, record)
        async with target.client() as client:
            if cancel:
                for part in record.current_parts():
                    if part.active:
                        update_part(part, await client.cancel_batch(part.batch_id))  # type: ignore[arg-type]
            await poll_parts(client, record)
        if lock is not None:
            save_record(run, record)
            _write_waiting_state(run, record)
            if cancel:
                run.append_event({"type": "log", "level": "info", "message": "cancel requested by pid "
                                  f"{os.getpid()}: {figures.remote_summary(record)}"})
    finally:
        if lock is not None:
            lock.close()
    return status_report(run, record, followed=lock is None)


def status_report(run: RunDir, record: BatchRecord, *, followed: bool = False) -> dict[str, Any]:
    """JSON-friendly status of one batch run: its parts and totals."""
    c = figures.counters(record)
    return {
        "run_id": run.run_id, "status": run.effective_status(), "url": record.url, "model": record.model,
        "followed_by_another_process": followed, "counters": c, "unanswered": figures.unanswered(record),
        "estimate_max_usd": record.estimate.cost_usd, "cost_usd": record.cost_usd, "output": record.output,
        "parts": [{"part": p.index, "source": p.source, "batch_id": p.batch_id, "file_id": p.file_id,
                   "status": p.status, "lines": [p.first_line, p.last_line], "requests": p.requests,
                   "total": p.counts.get("total", p.requests if p.batch_id else 0),
                   "completed": p.counts.get("completed", 0), "failed": p.counts.get("failed", 0),
                   "fetched": p.fetched, "superseded_by": p.superseded_by, "errors": p.errors}
                  for p in record.parts],
    }


def batch_status(workspace: Path, opts: StatusOptions, config: Any) -> list[dict[str, Any]]:
    """Poll each part of the run (or of every waiting batch run) once; the status reports."""
    return [asyncio.run(_refresh(run, opts, config, cancel=False)) for run in batch_runs(workspace, opts.run)]


def cancel_batches(run: RunDir, opts: CancelOptions, config: Any) -> dict[str, Any]:
    """``POST /v1/batches/{id}/cancel`` for every part still running; answers so far stay fetchable."""
    record = load_record(run)
    if not any(p.active for p in record.current_parts()):
        raise InputError(f"run {run.run_id} has no batch still running ({figures.remote_summary(record)}): "
                         "nothing to cancel")
    return asyncio.run(_refresh(run, opts, config, cancel=True))
