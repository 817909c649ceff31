"""Server-side figures for a processing run: scrape the target's Prometheus ``/metrics``.

SGLang (``--enable-metrics``, which ``rollout serve`` and ``process --serve`` pass) and vLLM
export queue depth, KV usage, throughput, cache hit rate and TTFT there. The first scrape decides:
a server without ``/metrics`` (404, refused, not Prometheus text) is left alone after one log
event, so hosted APIs and plain OpenAI-compatible servers cost nothing and flood nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from engine.jobs import JobContext
from engine.processor.transport import Transport, TransportError

if TYPE_CHECKING:  # the Prometheus parser loads with the first scrape, after the first requests
    # are out: `rollout process` must reach its endpoint fast (issue 13)
    from engine.server import MetricsRates, ServerMetrics

#: seconds between scrapes (the issue asks for ~1-2 s)
SCRAPE_EVERY_S = 1.5
#: the first scrape waits this long: the run's requests go out first
FIRST_SCRAPE_AFTER_S = 0.25
SCRAPE_TIMEOUT_S = 5.0


def server_figures(metrics: ServerMetrics, url: str) -> dict[str, Any]:
    """``figures["server"]`` of a processing run from one (rate-annotated) scrape: the
    ServerMetrics fields by their own names (as ``rollout serve`` writes them under
    ``figures["metrics"]``), plus ``running``/``queued`` short names, the URL and ``ok``."""
    out: dict[str, Any] = {"url": url, "ok": True, **metrics.figures()}
    for short, name in (("running", "running_reqs"), ("queued", "queued_reqs")):
        if name in out:
            out[short] = out[name]
    return out


class MetricsPoller:
    """Scrapes ``<url>/metrics`` every :data:`SCRAPE_EVERY_S` into ``figures["server"]``, through
    the run's own transport (its key is the run's default header)."""

    def __init__(self, ctx: JobContext, url: str, transport: Transport, interval: float = SCRAPE_EVERY_S) -> None:
        self.ctx = ctx
        self.url = url.rstrip("/")
        self.transport = transport
        self.interval = interval
        self.rates: MetricsRates | None = None  # made with the first scrape (it loads engine.server)
        self.available: bool | None = None  # None until the first scrape decided
        self.scrapes = 0

    async def _fetch(self, timeout: float) -> ServerMetrics:
        """One ``GET /metrics``, parsed. ValueError: not Prometheus text; LookupError: no answer
        or not 200 (the reason is the message)."""
        from engine.server import parse_metrics

        target = self.url + "/metrics"
        try:
            reply = await self.transport.request("GET", target, None, timeout)
        except TransportError as exc:
            raise LookupError(f"cannot scrape {target}: {exc}") from None
        if reply.status != 200:
            raise LookupError(f"{target} answered HTTP {reply.status}: no metrics there (SGLang needs --enable-metrics)")
        return parse_metrics(reply.body.decode("utf-8", "replace"))

    async def scrape_once(self, timeout: float = SCRAPE_TIMEOUT_S) -> bool:
        """One scrape; True when figures were written."""
        from engine.server import MetricsRates

        if self.rates is None:
            self.rates = MetricsRates()
        try:
            metrics = await self._fetch(timeout)
        except (LookupError, ValueError) as exc:  # ValueError: not Prometheus text
            if self.available is None:
                self.available = False
                # once, at debug level: most endpoints (hosted APIs) simply have no /metrics
                self.ctx.log(f"no server metrics at {self.url}/metrics ({exc}); not scraping", level="debug")
            else:
                # the server is busy or briefly gone: keep the last figures, mark them stale
                server = dict(self.ctx.figures.get("server") or {})
                if server.get("ok"):
                    server["ok"] = False
                    self.ctx.set_figures(server=server)
            return False
        if not metrics.series:  # a 200 with no samples at all: not a metrics endpoint
            if self.available is None:
                self.available = False
                self.ctx.log(f"{self.url}/metrics has no samples; not scraping", level="debug")
            return False
        self.available = True
        self.scrapes += 1
        self.ctx.set_figures(server=server_figures(self.rates.update(metrics), self.url))
        return True

    async def run(self) -> None:
        """Scrape until cancelled, or stop after the first scrape when there are no metrics."""
        await asyncio.sleep(FIRST_SCRAPE_AFTER_S)
        while True:
            await self.scrape_once()
            if self.available is False:
                return
            await asyncio.sleep(self.interval)

    async def final(self, timeout: float = 3.0) -> None:
        """One last scrape at the end of the run (a short run may end before the first one), unless
        the server is known to have no metrics."""
        if self.available is False:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.scrape_once(timeout), timeout)


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait for it (its own errors are not the job's)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
