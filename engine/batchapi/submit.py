"""``rollout batch submit``: check and split the file, upload each part, create its batch, exit.

:func:`prepare_submit` does every check before a run directory exists (flags, the whole input,
the answered ids of ``--output``, the price, the API reachable). :func:`make_submit_job` is the
job: for each part it writes the part file into the run directory (streamed from the input's
byte range), uploads it, creates the batch, records both ids in ``batch.json`` at once, and
deletes the part file. It ends ``waiting`` on the API: no process stays behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.batchapi import figures
from engine.batchapi.client import BatchClient
from engine.batchapi.connect import Target, resolve_target
from engine.batchapi.options import SubmitOptions
from engine.batchapi.record import BatchRecord, Estimate, PartRecord, lock_record, save_record
from engine.batchapi.split import SplitPlan, plan_parts, write_part
from engine.cost import resolve_batch_price, resolve_price, token_cost_usd
from engine.errors import InputError, RolloutError
from engine.jobs import JobContext, JobOutcome
from engine.processor.plan import input_fingerprint, read_key
from engine.processor.resume import scan_done

PARTS_DIR = "parts"


@dataclass
class SubmitPlan:
    """What the checks found: where to send, the parts, what is already answered, the price."""

    options: SubmitOptions
    target: Target
    split: SplitPlan
    done: set[int]
    fingerprint: dict[str, Any]
    price: Any = None
    price_source: str | None = None
    estimate: Estimate = field(default_factory=Estimate)
    warnings: list[str] = field(default_factory=list)
    #: ``process --via batch``: the output's lock, held from the checks until fetching starts
    output_lock: Any = None


def _estimate(split: SplitPlan, model: str | None, prices: Any) -> tuple[Estimate, Any, str | None, str | None]:
    batch = resolve_batch_price(model, prices)
    online = resolve_price(model, prices)
    est = Estimate(prompt_tokens=split.prompt_tokens, max_completion_tokens=split.max_completion_tokens)
    if batch.price is not None:
        est.cost_usd = token_cost_usd(batch.price, split.prompt_tokens, split.max_completion_tokens)
    if online.price is not None and online.price.gpu_hour_usd is None:
        est.online_cost_usd = token_cost_usd(online.price, split.prompt_tokens, split.max_completion_tokens)
    return est, batch.price, batch.source, batch.warning


def prepare_submit(options: SubmitOptions, config: Any, *, check_api: bool = True) -> SubmitPlan:
    """Every check before a run directory exists; InputError (exit 2) or ServiceError (exit 3)."""
    opt = options
    if opt.output is not None and opt.output.exists() and opt.output.resolve() == opt.input.resolve():
        raise InputError(f"--output {opt.output} is the input file: choose another output path")
    target = resolve_target(config, opt)
    read_key(target)  # type: ignore[arg-type]  # a named key source that is empty fails now, not after the upload
    done = scan_done(opt.output) if opt.output is not None else set()
    split = plan_parts(opt.input, opt.split_lines, opt.split_bytes, skip=done, allow_duplicates=opt.allow_duplicates)
    prices = getattr(config, "prices", None) or {}
    est, price, source, warning = _estimate(split, split.model, prices)
    plan = SubmitPlan(opt, target, split, done, input_fingerprint(opt.input), price, source, est)
    if warning:
        plan.warnings.append(warning)
    if check_api and split.parts:
        asyncio.run(_check(target))
    return plan


async def _check(target: Target) -> None:
    async with target.client() as client:
        await client.check()


def new_record(plan: SubmitPlan) -> BatchRecord:
    """The record of a fresh submit: every part ``pending`` until its batch is created."""
    opt = plan.options
    errors = opt.errors or (opt.output.with_name(opt.output.name + ".errors.jsonl") if opt.output else None)
    return BatchRecord(
        input=plan.fingerprint, url=plan.target.url, endpoint=plan.split.url or "/v1/chat/completions",
        completion_window=opt.completion_window, model=plan.split.model,
        output=str(opt.output) if opt.output else None, errors=str(errors) if errors else None,
        api_key_env=plan.target.api_key_env, api_key_file=str(plan.target.api_key_file) if plan.target.api_key_file else None,
        split_lines=opt.split_lines, split_bytes=opt.split_bytes, total=plan.split.total, skipped=plan.split.skipped,
        price=plan.price.model_dump() if plan.price is not None else None, price_source=plan.price_source,
        estimate=plan.estimate,
        parts=[PartRecord(index=i, first_line=r.first_line, last_line=r.last_line, start_byte=r.start_byte,
                          end_byte=r.end_byte, requests=r.requests, bytes=r.bytes)
               for i, r in enumerate(plan.split.parts, 1)],
    )


async def create_parts(ctx: JobContext, client: BatchClient, record: BatchRecord, skip: set[int]) -> int:
    """Upload and create a batch for every ``pending`` part; returns how many were created.

    Each id is saved in ``batch.json`` as soon as the API gives it, so a kill at any point leaves
    a record that ``resubmit`` completes (a pending part is created then, never twice). When a
    part fails after others were created, the error is raised as :class:`PartialSubmit`: the
    run must stay ``waiting`` on the batches already running."""
    try:
        return await _create_parts(ctx, client, record, skip)
    except RolloutError as exc:
        if any(p.batch_id for p in record.parts):
            raise PartialSubmit(str(exc), exc.exit_code) from exc
        raise


class PartialSubmit(RolloutError):
    """Some parts were created, then one failed: their batches run on; resubmit sends the rest."""


def partial_outcome(ctx: JobContext, record: BatchRecord, exc: PartialSubmit) -> JobOutcome:
    """The end of a submit that created some parts: waiting on them, exit code of the error."""
    ctx.wait_on(record.url)
    message = f"{exc}; {submitted_message(ctx.run.run_id, record)}"
    ctx.error(str(exc))
    ctx.phase("submitted", message)
    return JobOutcome(status="waiting", exit_code=exc.exit_code, message=message)


async def _create_parts(ctx: JobContext, client: BatchClient, record: BatchRecord, skip: set[int]) -> int:
    source = Path(record.input["path"])
    parts_dir = ctx.run.path / PARTS_DIR
    parts_dir.mkdir(exist_ok=True)
    created = 0
    pending = [p for p in record.parts if p.status == "pending" and p.superseded_by is None]
    for n, part in enumerate(pending, 1):
        if ctx.stopping:
            break
        ctx.phase("submitting", f"{part.label}: {part.requests:,} requests ({n}/{len(pending)})")
        path = parts_dir / f"part-{part.index:04d}.jsonl"
        if part.file_id is None:
            lines, size = await asyncio.to_thread(write_part, source, part.start_byte, part.end_byte, path, skip=skip)
            if lines == 0:  # everything in it was answered meanwhile
                part.status, part.fetched, part.requests = "completed", True, 0
                save_record(ctx.run, record)
                path.unlink(missing_ok=True)
                continue
            part.requests, part.bytes = lines, size
            uploaded = await client.upload(path, f"{ctx.run.run_id}-part-{part.index:04d}.jsonl")
            part.file_id = str(uploaded.get("id"))
            save_record(ctx.run, record)
        batch = await client.create_batch(part.file_id, record.endpoint, record.completion_window,
                                          {"rollout_run": ctx.run.run_id, "rollout_part": str(part.index)})
        update_part(part, batch)
        save_record(ctx.run, record)
        with contextlib.suppress(OSError):
            path.unlink()
        created += 1
        ctx.event("batch_created", part=part.index, batch_id=part.batch_id, file_id=part.file_id,
                  requests=part.requests, lines=[part.first_line, part.last_line])
        figures.apply(ctx, record)
    with contextlib.suppress(OSError):
        parts_dir.rmdir()
    return created


def update_part(part: PartRecord, batch: dict[str, Any]) -> bool:
    """Take a batch object's fields into the part; True when its status or counts changed."""
    import time

    before = (part.status, dict(part.counts))
    part.batch_id = str(batch.get("id") or part.batch_id)
    part.status = str(batch.get("status") or part.status)
    counts = batch.get("request_counts")
    if isinstance(counts, dict):
        part.counts = {k: int(counts.get(k) or 0) for k in ("total", "completed", "failed")}
    part.output_file_id = batch.get("output_file_id") or part.output_file_id
    part.error_file_id = batch.get("error_file_id") or part.error_file_id
    errs = batch.get("errors")
    if isinstance(errs, dict) and isinstance(errs.get("data"), list):
        part.errors = [f"{e.get('code', '')}: {e.get('message', '')}" + (f" (line {e['line']})" if e.get("line") else "")
                       for e in errs["data"][:5] if isinstance(e, dict)]
    part.polled = time.time()
    return (part.status, part.counts) != before


def submitted_message(run_id: str, record: BatchRecord) -> str:
    parts = record.current_parts()
    sent = sum(p.requests for p in parts if p.batch_id)
    cost = record.estimate.cost_usd
    est = (f", estimated at most ${cost:,.{2 if cost >= 1 else 4}f} at the batch price" if cost is not None
           else ", cost unknown (no price)")
    pending = [p.index for p in parts if p.status == "pending"]
    text = (f"submitted {sent:,} requests in {sum(1 for p in parts if p.batch_id)} batches to {record.url}"
            f"{est}; {record.skipped:,} already answered")
    if pending:
        text += f"; parts {pending} not sent yet: 'rollout batch resubmit {run_id}' sends them"
    return text + f". Later: 'rollout batch status {run_id}', 'rollout batch fetch {run_id}" + (
        "'" if record.output else " --output FILE'")


async def submit_all(ctx: JobContext, plan: SubmitPlan, record: BatchRecord) -> JobOutcome | None:
    """Record the run's parts and create every batch (``batch.lock`` held by the caller).

    None when all were created; else how the job ends: nothing to send, or some parts created
    and one refused (the run then waits on those)."""
    save_record(ctx.run, record)
    for line in plan.warnings:
        ctx.warn(line)
    ctx.set_figures(input_lines=record.total, split_lines=record.split_lines, split_bytes=record.split_bytes)
    figures.apply(ctx, record)
    if not record.parts:
        ctx.phase("finished", "every request is already answered in the output")
        return JobOutcome(message=f"nothing to send: all {record.total:,} requests are answered in {record.output}")
    ctx.wait_on(record.url)
    try:
        async with plan.target.client() as client:
            await create_parts(ctx, client, record, plan.done)
    except PartialSubmit as exc:
        figures.apply(ctx, record)
        return partial_outcome(ctx, record, exc)
    figures.apply(ctx, record)
    return None


def make_submit_job(plan: SubmitPlan):
    """The job coroutine for :func:`engine.jobs.run_job`: submit every part, then end ``waiting``."""

    async def submit_job(ctx: JobContext) -> JobOutcome:
        record = new_record(plan)
        with lock_record(ctx.run):
            early = await submit_all(ctx, plan, record)
            if early is not None:
                return early
            message = submitted_message(ctx.run.run_id, record)
            ctx.phase("submitted", message)
            return JobOutcome(status="waiting", exit_code=130 if ctx.stopping else 0, message=message)

    return submit_job
