"""The endpoint gate: when the server goes away, every worker waits here until it is back.

The first connection failure starts one prober (GET /v1/models). If the first probe answers, it
was a blip and work goes on. Otherwise the run turns ``waiting``, raises the ``endpoint_down``
alert, probes every ``interval`` seconds, and reopens the gate when the server answers (status
``running``, alert cleared) — or gives up after ``max_wait`` seconds (the job then stops with
exit 3; everything not answered is re-sent by the next run).
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

from engine.jobs import Alert, JobContext


class EndpointGate:
    def __init__(self, ctx: JobContext, probe: Callable[[], Awaitable[bool]], *, url: str, max_wait: float,
                 interval: float, halt: asyncio.Event) -> None:
        self.ctx = ctx
        self.probe = probe
        self.url = url
        self.max_wait = max_wait
        self.interval = interval
        self.halt = halt
        self.open = asyncio.Event()
        self.open.set()
        self.gave_up = False
        self.down_since: float | None = None
        #: how many times the endpoint was found down (workers tell a blip from an outage by it)
        self.outages = 0
        self._prober: asyncio.Task[None] | None = None

    async def wait_open(self) -> bool:
        """Wait while the endpoint is down; False when the run is halting instead."""
        if not self.open.is_set():
            await self.open.wait()
        return not self.halt.is_set()

    async def connection_failed(self) -> bool:
        """Called by a worker whose request could not connect; returns like :meth:`wait_open`."""
        if self.open.is_set() and (self._prober is None or self._prober.done()):
            self.open.clear()
            self._prober = asyncio.create_task(self._probe_loop())
        return await self.wait_open()

    async def _probe_loop(self) -> None:
        try:
            if await self.probe():
                return  # a blip: the server answers
            started = time.monotonic()
            self.outages += 1
            self.down_since = time.time()
            self.ctx.set_status("waiting")
            self.ctx.event("endpoint_down", url=self.url)
            self.ctx.raise_alert(Alert(name="endpoint_down", severity="critical",
                                       message=f"endpoint {self.url} is not answering; requests paused",
                                       value=self.url, action="check the server; the run resumes when it is back"))
            while not self.halt.is_set():
                if time.monotonic() - started > self.max_wait:
                    self.gave_up = True
                    self.ctx.error(f"endpoint {self.url} down for more than {self.max_wait:.0f} s: stopping")
                    self.halt.set()
                    return
                if await self.ctx.wait_stop(self.interval):
                    self.halt.set()
                    return
                if await self.probe():
                    down_s = time.time() - (self.down_since or time.time())
                    self.ctx.event("endpoint_up", url=self.url, down_s=round(down_s, 1))
                    self.ctx.clear_alert("endpoint_down", f"endpoint back after {down_s:.0f} s")
                    self.ctx.set_status("running")
                    self.down_since = None
                    return
        finally:
            self.open.set()

    async def close(self) -> None:
        if self._prober is not None and not self._prober.done():
            self._prober.cancel()
            try:
                await self._prober
            except asyncio.CancelledError:
                pass
