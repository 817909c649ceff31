"""``launch_server(options)``: start (or attach to) a server, wait until it answers, stop it.

The one API every caller uses — ``rollout serve`` (engine.server.job) and later
``rollout process --serve``::

    async with launch_server(opts, run_path=run.path, on_phase=show) as server:
        await server.wait_ready()          # ServiceError with a one-line diagnosis on failure
        ... use server.url ...
    # leaving the block stops the whole process tree (unless opts.attach_url)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Callable

import httpx

from engine.errors import ServiceError
from engine.server.command import LaunchSpec, ServerOptions, build_launch, port_available, read_api_key
from engine.server.logparse import Diagnosis, diagnose, last_error_line, phase_of
from engine.server.process import SERVER_LOG, ServerProcess, ServerRecord, StopReport, describe_survivors

PhaseCallback = Callable[[str, float], None]
#: how often readiness is polled while the server starts (seconds)
READY_POLL_S = 0.25


@dataclass
class Failure:
    """Why a server is not usable: the diagnosis (if known), the log tail, the one-line message."""

    message: str
    diagnosis: Diagnosis | None
    tail: list[str]


class ServerHandle:
    """A server being started or watched. Use :func:`launch_server` rather than building one."""

    def __init__(self, opts: ServerOptions, *, run_path: Path | None = None, log_path: Path | None = None,
                 on_phase: PhaseCallback | None = None) -> None:
        self.opts = opts
        self.run_path = Path(run_path) if run_path else None
        self.on_phase = on_phase
        self.phase: str | None = None
        self.started_at = time.monotonic()
        self.ready_path: str | None = None
        self.failure: Failure | None = None
        self.stop_report: StopReport | None = None
        self._stop_lock = threading.Lock()
        self.spec: LaunchSpec | None = None
        self.process: ServerProcess | None = None
        if opts.attach_url:
            self.url = opts.attach_url.rstrip("/")
            self.api_key = read_api_key(opts.api_key_env)
        else:
            self.spec = build_launch(opts)
            self.url = self.spec.url
            self.api_key = self.spec.api_key
            if log_path is None:
                if self.run_path is None:
                    raise ValueError("launch_server needs run_path or log_path to write server.log")
                log_path = self.run_path / SERVER_LOG
            self.process = ServerProcess(self.spec.argv, log_path=log_path, env=self.spec.env, url=self.url,
                                         port=self.spec.port, max_log_bytes=opts.log_max_bytes)

    # -- properties -------------------------------------------------------------------------
    @property
    def attached(self) -> bool:
        return self.process is None

    @property
    def port(self) -> int | None:
        return self.spec.port if self.spec else None

    @property
    def record(self) -> ServerRecord | None:
        return self.process.record if self.process else None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Launch the process (no-op when attached) and record it in server.json."""
        self.started_at = time.monotonic()
        if self.process is None:
            return
        # a server already on that port would answer our readiness probe for the new one
        if self.spec is not None and not port_available(self.spec.host, self.spec.port):
            raise ServiceError(
                f"address already in use: port {self.spec.port} on {self.spec.host} is taken by another process: "
                f"pick another --port or use --port auto"
            )
        self.process.start()
        self.save_record()
        self._set_phase("starting")

    def save_record(self) -> None:
        if self.run_path is not None and self.record is not None:
            self.record.save(self.run_path)

    def _set_phase(self, name: str) -> None:
        if name != self.phase:
            self.phase = name
            if self.on_phase is not None:
                self.on_phase(name, self.elapsed())

    def follow_log(self) -> None:
        """Read new log lines and move the phase forward."""
        if self.process is None:
            return
        for line in self.process.follower.read_new():
            name = phase_of(line)
            if name is not None:
                self._set_phase(name)

    def tail(self, n: int = 40) -> list[str]:
        if self.process is None:
            return []
        return self.process.follower.tail_lines()[-n:]

    def exited(self) -> int | None:
        """The leader's exit code once it ended, else None (always None when attached)."""
        return self.process.returncode() if self.process else None

    def fail(self, what: str) -> Failure:
        """Record why the server is unusable (diagnosis from the log tail) and return it."""
        self.follow_log()
        tail = self.tail(200)
        python = self.spec.argv[0] if self.spec else None
        module = None
        if self.spec and len(self.spec.argv) > 3 and self.spec.argv[1] in ("-m", "-c"):
            module = self.spec.argv[2] if self.spec.argv[1] == "-m" else self.spec.argv[3]
        diag = diagnose(tail, python=python, module=module)
        if diag is not None:
            cause = diag.message
        else:
            cause = last_error_line(tail) or "no known cause in the log"
        log_hint = f" (log: {self.process.log_path})" if self.process else ""
        self.failure = Failure(f"{what}: {cause}{log_hint}", diag, tail)
        return self.failure

    async def probe(self, client: httpx.AsyncClient) -> bool:
        """One readiness check: the first ready path that does not 404 must answer 2xx."""
        paths = self.spec.ready_paths if self.spec else ("/health_generate", "/health", "/v1/models")
        if self.ready_path:
            paths = (self.ready_path,)
        for path in paths:
            try:
                resp = await client.get(self.url + path, headers=self.headers)
            except httpx.HTTPError:
                return False
            if resp.status_code == 404:
                continue
            if 200 <= resp.status_code < 300:
                self.ready_path = path
                return True
            return False
        return False

    async def wait_ready(self, timeout_s: float | None = None, stop_event: asyncio.Event | None = None) -> None:
        """Poll until the server answers its ready path.

        Raises ServiceError with a one-line diagnosis when the process exits first or the
        start-up timeout passes (the server is stopped first in that case). Returns quietly
        (not ready) when ``stop_event`` is set.
        """
        timeout = self.opts.startup_timeout_s if timeout_s is None else timeout_s
        deadline = self.started_at + timeout
        # health_generate really generates: allow it time on a busy box
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=2.0)) as client:
            while True:
                self.follow_log()
                # schedulers and detokenizers start during start-up: know them before anything fails
                if self.process is not None and self.process.refresh_descendants():
                    self.save_record()
                code = self.exited()
                if code is not None:
                    failure = self.fail(f"server exited with code {code} after {self.elapsed():.0f}s "
                                         f"(phase: {self.phase or 'starting'})")
                    await asyncio.to_thread(self.stop, 2.0)
                    raise ServiceError(failure.message)
                if await self.probe(client):
                    self._set_phase("ready")
                    return
                if stop_event is not None and stop_event.is_set():
                    return
                if time.monotonic() >= deadline:
                    where = "server" if self.process else f"attached server {self.url}"
                    failure = self.fail(f"{where} not ready after {timeout:.0f}s "
                                         f"(phase: {self.phase or 'starting'}; raise --startup-timeout if it is just slow)")
                    await asyncio.to_thread(self.stop, min(self.opts.stop_grace_s, 10.0))
                    raise ServiceError(failure.message)
                if stop_event is not None:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop_event.wait(), READY_POLL_S)
                else:
                    await asyncio.sleep(READY_POLL_S)

    def stop(self, grace_s: float | None = None) -> StopReport | None:
        """Stop the server tree (blocking; no-op when attached or already stopped)."""
        if self.process is None or self.process.record is None:
            return None
        with self._stop_lock:  # the cancel path may race the normal path: one stop only
            if self.stop_report is not None:
                return self.stop_report
            self.stop_report = self.process.stop(self.opts.stop_grace_s if grace_s is None else grace_s)
            self.save_record()
            return self.stop_report

    def survivors_message(self) -> str | None:
        report = self.stop_report
        if report is None or report.clean:
            return None
        return (f"server processes survived the stop: {describe_survivors(report.survivors)}: "
                f"kill them by hand (kill -9 PID)")


@contextlib.asynccontextmanager
async def launch_server(opts: ServerOptions, *, run_path: Path | None = None, log_path: Path | None = None,
                        on_phase: PhaseCallback | None = None) -> AsyncIterator[ServerHandle]:
    """Start the server described by ``opts`` (or attach to ``opts.attach_url``); stop it on exit.

    The caller awaits ``handle.wait_ready()``; the block's exit (normal, error or cancellation)
    stops the whole process tree with SIGTERM, the grace, then SIGKILL.
    """
    handle = ServerHandle(opts, run_path=run_path, log_path=log_path, on_phase=on_phase)
    handle.start()
    try:
        yield handle
    finally:
        if not handle.attached:
            try:
                await asyncio.shield(asyncio.to_thread(handle.stop))
            except asyncio.CancelledError:
                # cancelled while stopping: make sure the tree is down before going
                handle.stop()
                raise
