"""``rollout process --serve``: launch a server, wait until it is ready, process the file against
it, stop it (the seed's serve-and-process).

The server is started by :class:`engine.server.ServerHandle` in its own session, its log in
``server.log`` and its process tree in ``server.json`` of *this* run's directory, so
``rollout stop RUN`` / ``rollout serve stop RUN`` can clean it up even if this process is killed.
Every way out (done, failure, Ctrl-C/SIGTERM during start-up or processing, a second signal)
stops the whole group, except a run that finished with ``keep_server``: then the server stays up
and its URL and pid are printed and recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

from engine.errors import ServiceError
from engine.jobs import JobContext, JobOutcome
from engine.processor.job import run_processing
from engine.processor.options import ProcessOptions
from engine.processor.plan import Plan
from engine.server import ServerHandle, ServerOptions
from engine.server.job import record_failure, startup_ticker

#: ``--serve --api-key-file``: the CLI puts the key in this variable of its own process for the
#: launcher (which reads keys from the environment only, never argv); dropped once it is read so
#: the server's environment does not keep a second copy
SERVE_KEY_ENV = "ROLLOUT_PROCESS_SERVE_API_KEY"


@dataclass
class ServeSettings:
    """The server half of ``process --serve``."""

    server: ServerOptions
    keep_server: bool = False


def make_serve_process_job(options: ProcessOptions, serve: ServeSettings, plan: Plan):
    """The job coroutine for ``rollout process --serve``.

    ``plan`` comes from :func:`engine.processor.prepare_run` with the pre-flight off (there is no
    server yet); the readiness wait replaces it. A server that fails to start raises
    ServiceError (exit 3) with the launcher's one-line diagnosis.
    """

    async def serve_process_job(ctx: JobContext) -> JobOutcome:
        return await _run(ctx, options, serve, plan)

    return serve_process_job


async def _run(ctx: JobContext, options: ProcessOptions, serve: ServeSettings, plan: Plan) -> JobOutcome:
    def on_phase(name: str, elapsed: float) -> None:
        ctx.phase(f"server {name}", f"{elapsed:.1f}s after launch")
        ctx.set_figures(server_startup_s=round(elapsed, 1))

    handle: ServerHandle | None = None
    keep = stopped = False
    try:
        try:
            handle = ServerHandle(serve.server, run_path=ctx.run.path, on_phase=on_phase)
        finally:
            os.environ.pop(SERVE_KEY_ENV, None)
        launched_at = time.monotonic()
        handle.start()
        record = handle.record
        info: dict[str, Any] = {"url": handle.url, "port": handle.port, "engine": serve.server.engine,
                                "log": str(handle.process.log_path) if handle.process else None}
        if record is not None:
            info.update(pid=record.pid, pgid=record.pgid, sid=record.sid, record="server.json")
        ctx.run.update_run(server=info)
        ctx.set_figures(served=info)
        if handle.spec is not None:
            ctx.event("server_launch", argv=handle.spec.argv, url=handle.url)
        ticker = asyncio.create_task(startup_ticker(ctx, handle, "server_startup_s"))
        try:
            await handle.wait_ready(stop_event=ctx.stop_event)
        except ServiceError:
            record_failure(ctx, handle)
            raise
        finally:
            ticker.cancel()
        if ctx.stopping:  # stopped during start-up: the finally below stops the server
            return JobOutcome(message=f"stopped while the server was starting ({handle.phase}); server stopped")
        ctx.log(f"server ready at {handle.url} after {handle.elapsed():.1f}s")
        options.url = handle.url
        headers = {"Content-Type": "application/json", **handle.headers}
        outcome = await _process_while_up(ctx, handle, run_processing(
            ctx, options, plan, headers=headers, self_hosted=True, billed_from=launched_at,
            alt_model=serve.server.model_path))
        keep = serve.keep_server and not ctx.stopping and handle.exited() is None
        if keep:
            return _kept(ctx, handle, info, outcome)
        stopped = True
        survivors = await _stop(ctx, handle)
        if survivors:
            raise ServiceError(survivors)
        return outcome
    finally:
        plan.release()  # idempotent: run_processing releases it too
        if handle is not None and not keep and not stopped:
            await _stop(ctx, handle)


async def _process_while_up(ctx: JobContext, handle: ServerHandle, processing: Any) -> JobOutcome:
    """Run the processing coroutine while watching the server: if the server process exits,
    processing stops at once (everything written stays; a rerun resumes) and the run fails with
    the launcher's diagnosis (exit 3) instead of waiting for a server that cannot come back."""
    work = asyncio.create_task(processing)
    watch = asyncio.create_task(_watch_server(handle))
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            code = handle.exited()
            failure = handle.fail(f"server exited with code {code} while processing")
            record_failure(ctx, handle)
            raise ServiceError(f"{failure.message}; answers so far are kept: rerun the same command to resume")
        return work.result()
    finally:
        for task in (work, watch):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watch
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work


async def _watch_server(handle: ServerHandle, every_s: float = 0.5) -> None:
    """Return when the server process exits; meanwhile follow its log and keep server.json's
    list of descendants current (so a later ``rollout stop`` finds every one of them)."""
    while handle.exited() is None:
        await asyncio.sleep(every_s)
        handle.follow_log()
        if handle.process is not None and await asyncio.to_thread(handle.process.refresh_descendants):
            handle.save_record()


def _kept(ctx: JobContext, handle: ServerHandle, info: dict[str, Any], outcome: JobOutcome) -> JobOutcome:
    pid = handle.record.pid if handle.record else None
    info = {**info, "kept": True}
    ctx.run.update_run(server=info)
    ctx.set_figures(served=info)
    ctx.event("server_kept", url=handle.url, pid=pid)
    note = (f"server kept running at {handle.url} (pid {pid}); stop it with "
            f"'rollout serve stop {ctx.run.run_id}'")
    return JobOutcome(message=f"{outcome.message}\n{note}" if outcome.message else note)


async def _stop(ctx: JobContext, handle: ServerHandle) -> str | None:
    """Stop the server tree; survives cancellation (a second Ctrl-C) by finishing the stop.
    Returns the one-line report of processes that survived, if any."""
    try:
        report = await asyncio.shield(asyncio.to_thread(handle.stop))
    except asyncio.CancelledError:
        handle.stop()  # blocking, but the tree must be down before we go
        raise
    if report is None:
        return None
    ctx.event("server_stopped", signalled=report.signalled, killed=report.killed, survivors=report.survivors,
              elapsed_s=report.elapsed_s)
    info = dict(ctx.figures.get("served") or {})
    info.update(stopped=True, stop_elapsed_s=report.elapsed_s)
    ctx.set_figures(served=info)
    survivors = handle.survivors_message()
    if survivors:
        ctx.error(survivors)
    else:
        ctx.log(f"server stopped in {report.elapsed_s:.1f}s; no process of it is left")
    return survivors


