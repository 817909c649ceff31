"""``rollout process --via batch``: submit → wait → fetch as one job, with the live figures of
online processing. Stopped (Ctrl-C, SIGTERM, the terminal closing), it leaves the batches
running and the run ``waiting``: ``rollout batch fetch RUN`` collects them later."""

from __future__ import annotations

from typing import Any

from engine.batchapi import figures
from engine.batchapi.follow import follow, outcome
from engine.batchapi.options import ViaBatchOptions
from engine.batchapi.record import lock_record, save_record
from engine.batchapi.submit import PartialSubmit, SubmitPlan, create_parts, new_record, partial_outcome, prepare_submit
from engine.jobs import JobContext, JobOutcome
from engine.processor.options import ProcessOptions
from engine.processor.plan import _unlock, lock_output


def prepare_via_batch(options: ViaBatchOptions, config: Any) -> SubmitPlan:
    """The checks of ``batch submit`` (before a run directory exists), holding the output's lock
    (as ``rollout process`` does: two runs on one output would pay for every request twice)."""
    lock = lock_output(ProcessOptions(input=options.input, output=options.output))
    try:
        plan = prepare_submit(options, config)
    except BaseException:
        _unlock(lock)
        raise
    plan.output_lock = lock
    return plan


def make_via_batch_job(plan: SubmitPlan):
    """The job coroutine: submit every part, follow them with backoff, fetch each as it ends."""
    opt = plan.options
    assert isinstance(opt, ViaBatchOptions)

    async def via_batch_job(ctx: JobContext) -> JobOutcome:
        record = new_record(plan)
        with lock_record(ctx.run):
            save_record(ctx.run, record)
            for line in plan.warnings:
                ctx.warn(line)
            ctx.set_figures(input_lines=record.total, via="batch")
            figures.apply(ctx, record)
            if not record.parts:
                ctx.phase("finished", "every request is already answered in the output")
                return JobOutcome(message=f"nothing to send: all {record.total:,} requests are answered in {opt.output}")
            ctx.wait_on(record.url)
            try:
                async with plan.target.client() as client:
                    await create_parts(ctx, client, record, plan.done)
            except PartialSubmit as exc:
                figures.apply(ctx, record)
                return partial_outcome(ctx, record, exc)
            finally:
                _unlock(plan.output_lock)  # fetch takes it again (in follow) for the writing
                plan.output_lock = None
            result = await follow(ctx, plan.target, record, opt, wait=True, fetch=True, output=opt.output,
                                  errors=opt.errors)
            figures.apply(ctx, record)
            return outcome(ctx, result, fetched=True)

    return via_batch_job
