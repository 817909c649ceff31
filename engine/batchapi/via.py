"""``rollout process --via batch``: submit → wait → fetch as one job, with the live figures of
online processing. Stopped (Ctrl-C, SIGTERM, the terminal closing), it leaves the batches
running and the run ``waiting``: ``rollout batch fetch RUN`` collects them later."""

from __future__ import annotations

from typing import Any

from engine.batchapi import figures
from engine.batchapi.follow import follow, outcome
from engine.batchapi.options import ViaBatchOptions
from engine.batchapi.record import lock_record
from engine.batchapi.submit import SubmitPlan, new_record, prepare_submit, submit_all
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
            ctx.set_figures(via="batch")
            try:
                early = await submit_all(ctx, plan, record)
            finally:
                _unlock(plan.output_lock)  # fetching takes it again (in follow) for the writing
                plan.output_lock = None
            if early is not None:
                return early
            result = await follow(ctx, plan.target, record, opt, wait=True, fetch=True, output=opt.output,
                                  errors=opt.errors)
            figures.apply(ctx, record)
            return outcome(ctx, result, fetched=True)

    return via_batch_job
