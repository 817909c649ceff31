"""The ``serve`` job: launch (or attach), show start-up phases, serve with live metrics, stop cleanly.

Also :func:`stop_server_run`, which stops the server of a serve run from another process —
the cleanup for a console or job that was SIGKILLed and left its server running.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import httpx

from engine.errors import InputError, ServiceError
from engine.jobs import JobContext, JobOutcome
from engine.runs import ACTIVE_STATUSES, RunDir, pid_alive
from engine.server.command import ServerOptions
from engine.server.handle import ServerHandle, launch_server
from engine.server.metrics import MetricsRates, scrape_metrics_async
from engine.server.router import RouterHealth, normalize_worker_url, router_health
from engine.server.process import ServerRecord, StopReport, describe_survivors, group_members, stop_record

#: an attached server that fails this many health checks in a row is reported lost
ATTACH_MAX_MISSES = 5
#: log tail lines saved in the failure event
TAIL_IN_EVENT = 60
#: ServerMetrics fields also shown as top-level figures (the rest is under figures["metrics"])
SUMMARY_METRICS = ("running_reqs", "queued_reqs", "token_usage", "gen_throughput", "ttft_p50_s")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def make_serve_job(opts: ServerOptions, notify: Callable[[str], None] | None = None):
    """The job entry function for ``rollout serve`` (and ``rollout serve router``)."""

    async def serve_job(ctx: JobContext) -> JobOutcome:
        def on_phase(name: str, elapsed: float) -> None:
            ctx.phase(name, f"{elapsed:.1f}s after launch")
            ctx.set_figures(startup_elapsed_s=round(elapsed, 1))
            if notify is not None:
                notify(f"server: {name} ({elapsed:.1f}s)")

        kind = "attached" if opts.attach_url else opts.engine
        return await _serve(ctx, kind, on_phase)

    async def _serve(ctx: JobContext, kind: str, on_phase: Callable[[str, float], None]) -> JobOutcome:
        async with launch_server(opts, run_path=ctx.run.path, on_phase=on_phase) as server:
            # top-level scalars are what live views show: keep them few (url, port, key metrics);
            # details go in the nested "server" / "metrics" / "stop" dicts of state.json
            details: dict[str, Any] = {"engine": kind}
            if server.record is not None:
                details.update(pid=server.record.pid, pgid=server.record.pgid, log=server.record.log)
            ctx.set_figures(url=server.url, port=server.port, server=details)
            # run.json names the server too, so tools find (and can clean up) it without state.json
            ctx.run.update_run(server={"url": server.url, "port": server.port, "engine": kind,
                                       **({"pid": server.record.pid, "sid": server.record.sid,
                                           "record": "server.json"} if server.record else {})})
            if server.spec is not None:
                ctx.event("server_launch", argv=server.spec.argv, url=server.url)
            else:
                ctx.phase("attaching", server.url)

            ticker = asyncio.create_task(startup_ticker(ctx, server))
            try:
                await server.wait_ready(stop_event=ctx.stop_event)
            except ServiceError:
                record_failure(ctx, server)
                raise
            finally:
                ticker.cancel()
            if not ctx.stopping:  # else: stopped during start-up; leaving the block stops the server
                ready_after = round(server.elapsed(), 1)
                details.update(ready_after_s=ready_after, ready_path=server.ready_path)
                ctx.set_figures(server=details, startup_elapsed_s=ready_after)
                ctx.set_status("serving")
                ctx.phase("serving", server.url)
                if notify is not None:
                    notify(f"serving at {server.url} (ready after {ready_after}s); stop with Ctrl-C or "
                           f"'rollout stop {ctx.run.run_id}'")
                await _serve_loop(ctx, server)
        return _finish(ctx, server)

    return serve_job


async def startup_ticker(ctx: JobContext, server: ServerHandle, figure: str = "startup_elapsed_s") -> None:
    """Keep ``figures[figure]`` at the seconds since launch while a server starts (cancel when ready)."""
    while True:
        await asyncio.sleep(1.0)
        ctx.set_figures(**{figure: round(server.elapsed(), 1)})


def record_failure(ctx: JobContext, server: ServerHandle) -> None:
    """Put a failed server's log tail in an event and its diagnosed cause in the figures."""
    failure = server.failure
    if failure is None:
        return
    ctx.event("server_log_tail", lines=failure.tail[-TAIL_IN_EVENT:],
              cause=failure.diagnosis.cause if failure.diagnosis else None)
    ctx.set_figures(failure_cause=failure.diagnosis.cause if failure.diagnosis else "unknown")
    if failure.diagnosis is not None:
        # what to install or lower, for the console's run view (the CLI prints it in the error line)
        ctx.set_figures(failure_advice=failure.diagnosis.message)


def _report_workers(ctx: JobContext, health: RouterHealth, last: dict[str, str]) -> None:
    """Per-worker health into the figures; a worker changing state is an event (warning when it goes bad)."""
    ctx.set_figures(**health.figures())
    for w in health.workers:
        before = last.get(w.url)
        if before != w.state and not (before is None and w.state in ("healthy", "pending")):
            (ctx.log if w.state == "healthy" else ctx.warn)(f"router worker {w.url}: {before or 'new'} -> {w.state}")
        last[w.url] = w.state


async def _serve_loop(ctx: JobContext, server: ServerHandle) -> None:
    rates = MetricsRates()
    misses = 0
    metrics_warned = False
    # a router we launched (or one we attached to) reports each worker's health on GET /workers
    is_router = server.opts.engine == "router" and not server.attached
    watch_workers = is_router or server.attached
    configured = [normalize_worker_url(u) for u in server.opts.worker_urls]
    worker_states: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0)) as client:
        while not ctx.stopping:
            code = server.exited()
            if code is not None:
                failure = server.fail(f"server exited with code {code} while serving")
                record_failure(ctx, server)
                raise ServiceError(failure.message)
            server.follow_log()
            if server.process is not None and server.process.refresh_descendants():
                server.save_record()
            if watch_workers:
                health = await router_health(client, server.url, configured, server.headers)
                if health is not None:
                    _report_workers(ctx, health, worker_states)
                elif server.attached and not worker_states:
                    watch_workers = False  # an attached plain server: no /workers to watch
            if is_router:
                # the router's own /metrics live on its Prometheus port; its health is the worker table
                await ctx.wait_stop(server.opts.metrics_interval_s)
                continue
            try:
                metrics = rates.update(await scrape_metrics_async(server.url, client=client, api_key=server.api_key))
                ctx.set_figures(metrics=metrics.figures(), metrics_ok=True,
                                **{k: _round(getattr(metrics, k)) for k in SUMMARY_METRICS})
                misses = 0
            except ServiceError as exc:
                ctx.set_figures(metrics_ok=False)
                if not metrics_warned:
                    metrics_warned = True
                    ctx.warn(f"metrics unavailable: {exc}")
                if server.attached:
                    misses = 0 if await server.probe(client) else misses + 1
                    if misses >= ATTACH_MAX_MISSES:
                        raise ServiceError(f"attached server {server.url} stopped answering "
                                           f"({misses} checks in a row failed)") from None
            await ctx.wait_stop(server.opts.metrics_interval_s)


def _finish(ctx: JobContext, server: ServerHandle) -> JobOutcome:
    report = server.stop_report
    if report is None:
        return JobOutcome(message=f"stopped watching {server.url}" if server.attached else None)
    ctx.set_figures(stop={"elapsed_s": report.elapsed_s, "killed": report.killed, "survivors": report.survivors})
    ctx.event("server_stopped", signalled=report.signalled, killed=report.killed, survivors=report.survivors,
              elapsed_s=report.elapsed_s)
    survivors = server.survivors_message()
    if survivors:
        ctx.error(survivors)
        raise ServiceError(survivors)
    how = "SIGTERM, then SIGKILL after the grace" if report.killed else "SIGTERM"
    return JobOutcome(message=f"server stopped ({how}) in {report.elapsed_s:.1f}s; no process of it is left")


@dataclass
class CleanupResult:
    """What ``rollout serve stop`` did."""

    run_id: str
    job_alive: bool
    report: StopReport | None
    message: str


def stop_server_run(run: RunDir, grace_s: float = 30.0, job_wait_s: float | None = None) -> CleanupResult:
    """Stop the server of a serve run, whether or not its job process is still alive.

    A live job is asked to stop (SIGTERM) and given ``job_wait_s`` to stop its server itself;
    whatever of the recorded process tree is left afterwards (or at once, when the job is gone —
    e.g. it was SIGKILLed) is stopped here from server.json: SIGTERM, grace, SIGKILL, verify.
    """
    record = ServerRecord.load(run.path)
    if record is None:
        raise InputError(f"run {run.run_id} has no server.json: it did not launch a server (attached, or not a serve run)")
    info = run.read_run()
    job_pid = info.get("pid")
    job_alive = bool(job_pid) and pid_alive(job_pid, info.get("host")) and job_pid != os.getpid()
    if job_alive and run.effective_status() in ACTIVE_STATUSES:
        os.kill(int(job_pid), signal.SIGTERM)
        deadline = time.monotonic() + (job_wait_s if job_wait_s is not None else grace_s + 15.0)
        while time.monotonic() < deadline and pid_alive(job_pid):
            time.sleep(0.2)
    record = ServerRecord.load(run.path) or record
    if not group_members(record):
        _mark_stopped(run, record, None)
        return CleanupResult(run.run_id, job_alive, None, f"{run.run_id}: no process of the server is alive")
    report = stop_record(record, grace_s)
    _mark_stopped(run, record, report)
    if report.survivors:
        raise ServiceError(f"{run.run_id}: server processes survived SIGKILL: {describe_survivors(report.survivors)}")
    how = "SIGTERM, then SIGKILL after the grace" if report.killed else "SIGTERM"
    return CleanupResult(run.run_id, job_alive, report,
                         f"{run.run_id}: server stopped ({how}, {len(report.signalled)} processes) "
                         f"in {report.elapsed_s:.1f}s; no process of it is left")


def _mark_stopped(run: RunDir, record: ServerRecord, report: StopReport | None) -> None:
    """Record the cleanup; a run whose job died is closed as cancelled (not left 'lost')."""
    record.stopped = True
    record.save(run.path)
    run.append_event({"type": "server_stopped", "by": "rollout serve stop",
                      "signalled": report.signalled if report else [],
                      "killed": report.killed if report else [],
                      "survivors": report.survivors if report else []})
    info = run.read_run()
    if not pid_alive(info.get("pid"), info.get("host")) and info.get("status") in ACTIVE_STATUSES | {"starting"}:
        state = run.read_state()
        if state:
            state["status"] = "cancelled"
            run.write_state(state)
        run.update_run(status="cancelled", finished=time.time())


def server_log_path(run_path: Path) -> Path:
    """Where a serve run's server log lives."""
    return Path(run_path) / "server.log"
