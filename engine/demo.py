"""A synthetic job: counts items with a delay. Lets people try the console, and tests run a real job."""

from __future__ import annotations

import asyncio
import random

from engine.jobs import JobContext, JobOutcome


def make_demo_job(items: int = 100, delay_s: float = 0.05, fail_every: int = 0, concurrency: int = 4,
                  tokens_per_item: int = 0):
    """A job that processes ``items`` fake items, ``concurrency`` at a time, each taking ``delay_s``."""

    async def demo_job(ctx: JobContext) -> JobOutcome:
        ctx.set_total(items)
        ctx.phase("counting", f"{items} items, {concurrency} at a time")
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(items):
            queue.put_nowait(i)
        in_flight = 0

        async def worker() -> None:
            nonlocal in_flight
            while not ctx.stopping:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                in_flight += 1
                ctx.set_in_flight(in_flight)
                await asyncio.sleep(delay_s * random.uniform(0.5, 1.5))
                in_flight -= 1
                ctx.set_in_flight(in_flight)
                if tokens_per_item:
                    ctx.add_tokens(prompt=tokens_per_item, completion=tokens_per_item // 4)
                if fail_every and (i + 1) % fail_every == 0:
                    ctx.advance(failed=1)
                else:
                    ctx.advance(ok=1)

        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
        ctx.phase("finished")
        return JobOutcome()

    return demo_job
