"""The job runner: every long job is an async function run inside a run directory.

A job receives a :class:`JobContext` through which it reports progress, tokens, cost, phases,
log lines and alerts, and learns that it was asked to stop. The runner owns the run directory:
it coalesces state writes (at most ``1/state_interval`` per second, 2/s by default), keeps a
heartbeat, computes rate and ETA, turns the first SIGTERM/SIGINT into a graceful stop and the
second into an immediate one, and maps the outcome to the exit codes of DESIGN.md.

Usage::

    async def my_job(ctx: JobContext) -> None:
        ctx.set_total(len(items))
        for item in items:
            if ctx.stopping:
                break
            ...
            ctx.advance(ok=1)

    result = run_job("process", my_job, workspace=ws, argv=sys.argv)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

from engine.errors import ExitCode, RolloutError
from engine.oserrors import explain as explain_os_error
from engine.runs import RunDir, create_run

COUNTER_KEYS = ("total", "done", "ok", "failed", "retried", "in_flight", "skipped", "cached")
#: how far back the rate is measured (seconds): long enough to be steady, short enough to follow change
RATE_WINDOW_S = 60.0
#: coalesced progress events are written at most this often (seconds)
PROGRESS_EVENT_EVERY_S = 10.0
#: the heartbeat is rewritten at least this often even when nothing changed (seconds)
HEARTBEAT_EVERY_S = 2.0

StateHook = Callable[[dict[str, Any], "JobContext"], None]


@dataclass
class JobOutcome:
    """What a job may return. ``exit_code`` None means: 1 if any item failed, else 0."""

    exit_code: int | None = None
    message: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    #: a final status other than the runner's choice: ``waiting`` (the job handed its work to a
    #: remote service and exits; set :attr:`JobContext.waiting_on`) or ``cancelled``
    status: str | None = None


@dataclass
class JobResult:
    """What :func:`run_job` returns to its caller (the CLI)."""

    run: RunDir
    status: str
    exit_code: int
    message: str | None
    state: dict[str, Any]


@dataclass
class Alert:
    """An active alert as stored in state.json and events."""

    name: str
    severity: str = "warn"
    message: str = ""
    value: Any = None
    threshold: Any = None
    action: str | None = None
    since: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "severity": self.severity,
            "message": self.message,
            "value": self.value,
            "threshold": self.threshold,
            "action": self.action,
            "since": self.since,
        }


class JobContext:
    """The job's window on its run: report through it, and check :attr:`stopping` often."""

    def __init__(
        self,
        run: RunDir,
        *,
        kind: str,
        config: Any = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.run = run
        self.kind = kind
        self.config = config
        self._echo = _safe_echo(echo) if echo is not None else None
        self.counters: dict[str, int] = {k: 0 for k in COUNTER_KEYS}
        self.total_known = False
        self.tokens: dict[str, int] = {"prompt": 0, "completion": 0, "cached": 0}
        self.cost_usd: float | None = None
        self.cost_projected_usd: float | None = None
        self.status = "running"
        self.phase_name: str | None = None
        self.figures: dict[str, Any] = {}
        self.alerts: dict[str, Alert] = {}
        self.started = time.time()
        self.stop_event = asyncio.Event()
        self.stop_reason: str | None = None
        #: where the work lives when it is not in this process (a hosted batch API's URL): a run
        #: whose process is gone is then ``waiting`` on it, not ``lost`` (engine.runs)
        self.waiting_on: str | None = None
        self.dirty = True

    # -- control -----------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        """True once a stop was asked for: take no new items, finish or abandon in-flight ones."""
        return self.stop_event.is_set()

    def request_stop(self, reason: str = "requested") -> None:
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_event.set()
            self.status = "stopping"
            self.event("stopping", reason=reason)
            self.dirty = True

    async def wait_stop(self, timeout: float | None = None) -> bool:
        """Sleep until a stop is asked for or ``timeout`` passes; True when stopping."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), timeout)
        return self.stopping

    # -- progress ----------------------------------------------------------------------------
    def set_total(self, total: int | None) -> None:
        self.counters["total"] = int(total or 0)
        self.total_known = total is not None
        self.dirty = True

    def add_total(self, n: int) -> None:
        self.counters["total"] += int(n)
        self.total_known = True
        self.dirty = True

    def advance(self, *, ok: int = 0, failed: int = 0, skipped: int = 0, cached: int = 0) -> None:
        """Count finished items: ``done`` grows by ok + failed + skipped + cached."""
        c = self.counters
        c["ok"] += ok
        c["failed"] += failed
        c["skipped"] += skipped
        c["cached"] += cached
        c["done"] += ok + failed + skipped + cached
        self.dirty = True

    def add_retried(self, n: int = 1) -> None:
        self.counters["retried"] += n
        self.dirty = True

    def set_in_flight(self, n: int) -> None:
        self.counters["in_flight"] = int(n)
        self.dirty = True

    def add_tokens(self, prompt: int = 0, completion: int = 0, cached: int = 0) -> None:
        self.tokens["prompt"] += int(prompt or 0)
        self.tokens["completion"] += int(completion or 0)
        self.tokens["cached"] += int(cached or 0)
        self.dirty = True

    def set_cost(self, usd: float | None, projected: float | None = None) -> None:
        self.cost_usd = usd
        self.cost_projected_usd = projected
        self.dirty = True

    def set_status(self, status: str) -> None:
        """Job-specific live statuses: ``running``, ``waiting`` (endpoint down), ``serving``, ``paused``."""
        if self.stopping and status != "stopping":
            return
        if status != self.status:
            self.status = status
            self.event("status", status=status)
            self.dirty = True

    def wait_on(self, where: str | None) -> None:
        """The run's work now lives on ``where`` (a remote service), or back here (None). Recorded
        in run.json at once, so a kill -9 the next instant leaves a ``waiting`` run, not a lost one."""
        if where != self.waiting_on:
            self.waiting_on = where
            self.run.update_run(waiting_on=where)
            self.dirty = True

    def set_figures(self, **figures: Any) -> None:
        """Merge job-specific figures (latency, metrics, summaries) into state['figures']."""
        self.figures.update(figures)
        self.dirty = True

    # -- events ------------------------------------------------------------------------------
    def event(self, type: str, **data: Any) -> None:
        self.run.append_event({"type": type, **data})

    def phase(self, name: str, message: str | None = None, **data: Any) -> None:
        self.phase_name = name
        self.event("phase", phase=name, message=message, **data)
        self.dirty = True

    def log(self, message: str, level: str = "info", **data: Any) -> None:
        self.event("log", level=level, message=message, **data)
        if level in ("warning", "error") and self._echo:
            self._echo(f"{level}: {message}")

    def warn(self, message: str, **data: Any) -> None:
        self.log(message, level="warning", **data)

    def error(self, message: str, **data: Any) -> None:
        self.log(message, level="error", **data)

    def raise_alert(self, alert: Alert) -> bool:
        """Activate an alert (idempotent). Returns True when it is newly raised."""
        if alert.name in self.alerts:
            self.alerts[alert.name].value = alert.value
            return False
        self.alerts[alert.name] = alert
        self.event("alert", state="raised", **alert.to_dict())
        if self._echo:
            self._echo(f"alert [{alert.severity}] {alert.name}: {alert.message}")
        self.dirty = True
        return True

    def clear_alert(self, name: str, message: str | None = None) -> bool:
        alert = self.alerts.pop(name, None)
        if alert is None:
            return False
        self.event("alert", state="cleared", name=name, severity=alert.severity, message=message or "")
        if self._echo:
            self._echo(f"alert cleared: {name}")
        self.dirty = True
        return True

    # -- snapshot ----------------------------------------------------------------------------
    def snapshot(self, rate: dict[str, float | None], eta_s: float | None) -> dict[str, Any]:
        state = {
            "run_id": self.run.run_id,
            "kind": self.kind,
            "status": self.status,
            "phase": self.phase_name,
            "pid": os.getpid(),
            "heartbeat": time.time(),
            "started": self.started,
            "elapsed_s": round(time.time() - self.started, 3),
            "counters": dict(self.counters),
            "total_known": self.total_known,
            "tokens": dict(self.tokens),
            "cost_usd": self.cost_usd,
            "cost_projected_usd": self.cost_projected_usd,
            "rate": rate,
            "eta_s": eta_s,
            "alerts": [a.to_dict() for a in self.alerts.values()],
            "figures": self.figures,
        }
        if self.waiting_on:
            state["waiting_on"] = self.waiting_on
        return state


def _safe_echo(echo: Callable[[str], None]) -> Callable[[str], None]:
    """Echo that never raises: after a hang-up the terminal is gone, and the job must go on."""

    def safe(line: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            echo(line)

    return safe


class _RateMeter:
    """Items/s and tokens/s over a sliding window of (time, done, tokens) samples."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self.samples: collections.deque[tuple[float, int, int]] = collections.deque()

    def update(self, now: float, done: int, tokens: int) -> dict[str, float | None]:
        self.samples.append((now, done, tokens))
        while len(self.samples) > 2 and now - self.samples[1][0] > self.window_s:
            self.samples.popleft()
        t0, d0, k0 = self.samples[0]
        dt = now - t0
        if dt < 0.5:
            return {"items_per_s": None, "tokens_per_s": None}
        return {"items_per_s": round((done - d0) / dt, 4), "tokens_per_s": round((tokens - k0) / dt, 2)}


def _eta(counters: dict[str, int], items_per_s: float | None) -> float | None:
    remaining = counters.get("total", 0) - counters.get("done", 0)
    if remaining <= 0:
        return 0.0 if counters.get("total") else None
    if not items_per_s or items_per_s <= 0:
        return None
    return round(remaining / items_per_s, 1)


class _Runner:
    def __init__(
        self,
        ctx: JobContext,
        *,
        state_interval: float,
        hooks: Iterable[StateHook],
        on_state: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        self.ctx = ctx
        self.state_interval = state_interval
        self.hooks = list(hooks)
        self.on_state = on_state
        self.meter = _RateMeter()
        self.last_write = 0.0
        self.last_progress_event = time.monotonic()
        self.state: dict[str, Any] = {}
        self.signals = 0
        self.job_task: asyncio.Task[Any] | None = None

    def flush(self, force: bool = False, hooks: bool = True) -> None:
        """Write state.json (when anything changed, or ``force``); ``hooks`` (the alert rules)
        see every write but the opening one, so a job's first request never waits for them."""
        ctx = self.ctx
        now = time.monotonic()
        if not force and not ctx.dirty and now - self.last_write < HEARTBEAT_EVERY_S:
            return
        tokens = ctx.tokens["prompt"] + ctx.tokens["completion"]
        # this run's own work: items a resume skipped as already done would inflate the rate
        worked = ctx.counters["done"] - ctx.counters["skipped"]
        rate = self.meter.update(now, worked, tokens)
        live = ctx.status not in ("done", "failed", "cancelled")
        if ctx.status in ("failed", "cancelled"):  # a stopped run has no live rate (a done one keeps its last)
            rate = {"items_per_s": None, "tokens_per_s": None}
        state = ctx.snapshot(rate, _eta(ctx.counters, rate["items_per_s"]) if live else None)
        for hook in self.hooks if hooks else ():
            try:
                hook(state, ctx)
            except Exception as exc:  # a broken hook must never take the job down
                ctx.warn(f"state hook {getattr(hook, '__name__', hook)!r} failed: {exc}")
        state["alerts"] = [a.to_dict() for a in ctx.alerts.values()]
        ctx.dirty = False
        ctx.run.write_state(state)
        self.state = state
        self.last_write = now
        if now - self.last_progress_event >= PROGRESS_EVENT_EVERY_S:
            self.last_progress_event = now
            ctx.event("progress", counters=state["counters"], tokens=state["tokens"], rate=rate, cost_usd=ctx.cost_usd)
        if self.on_state is not None:
            with contextlib.suppress(Exception):
                self.on_state(state)

    async def tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.state_interval)
            self.flush()

    def on_signal(self, signame: str) -> None:
        self.signals += 1
        if self.signals == 1:
            self.ctx.request_stop(f"signal {signame}")
            if self.ctx._echo:
                self.ctx._echo(f"{signame}: stopping gracefully (send again to stop now)")
            self.flush(force=True)
        elif self.job_task is not None and not self.job_task.done():
            self.ctx.event("stop_now", reason=f"second signal {signame}")
            self.job_task.cancel()


def run_job(
    kind: str,
    job: Callable[[JobContext], Awaitable[JobOutcome | None]],
    *,
    workspace: Path,
    argv: list[str] | None = None,
    config: Any = None,
    inputs: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    title: str | None = None,
    echo: Callable[[str], None] | None = None,
    on_state: Callable[[dict[str, Any]], None] | None = None,
    on_start: Callable[[RunDir], None] | None = None,
    hooks: Iterable[StateHook] = (),
    state_interval: float = 0.5,
    install_signals: bool = True,
    extra: dict[str, Any] | None = None,
    run: RunDir | None = None,
) -> JobResult:
    """Run ``job`` to completion inside a new run directory and return how it ended.

    ``extra`` is added to run.json (``job`` and ``command``: the job's name and equivalent
    ``rollout ...`` command, which the console reruns).
    ``hooks`` run on every state write; the caller hands in the alert hooks
    (``engine.alerts.state_hooks(config)``): this module knows nothing of alert rules.
    ``run`` continues an existing run instead (a job whose work outlives its processes, such as
    a hosted batch picked up later by run id): run.json then names this process.

    Raises :class:`RolloutError` (after the run directory is finalised) when the job raised one,
    so the caller prints its one line and exits with its code. Any other exception is recorded
    with its traceback in ``error.log`` in the run directory and re-raised as a RolloutError.
    """
    if run is None:
        run = create_run(workspace, kind, argv if argv is not None else sys.argv, inputs=inputs, outputs=outputs,
                         title=title, extra=extra)
    else:
        import socket

        run.update_run(pid=os.getpid(), host=socket.gethostname(), finished=None, status="starting", **(extra or {}))
    if on_start is not None:
        on_start(run)
    return asyncio.run(
        _run_async(run, kind, job, config=config, echo=echo, on_state=on_state, hooks=hooks,
                   state_interval=state_interval, install_signals=install_signals)
    )


async def _run_async(
    run: RunDir,
    kind: str,
    job: Callable[[JobContext], Awaitable[JobOutcome | None]],
    *,
    config: Any,
    echo: Callable[[str], None] | None,
    on_state: Callable[[dict[str, Any]], None] | None,
    hooks: Iterable[StateHook],
    state_interval: float,
    install_signals: bool,
) -> JobResult:
    ctx = JobContext(run, kind=kind, config=config, echo=echo)
    runner = _Runner(ctx, state_interval=state_interval, hooks=hooks, on_state=on_state)
    loop = asyncio.get_running_loop()
    installed: list[int] = []
    if install_signals:
        # SIGHUP: the terminal closed or the SSH link dropped; stop gracefully (resumable)
        # rather than die mid-write or leave a server (own session) running
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, runner.on_signal, sig.name)
                installed.append(sig)
    run.update_run(status="running")
    ctx.event("start", kind=kind)
    runner.flush(force=True, hooks=False)  # the first tick (state_interval) runs the hooks
    ticker = asyncio.create_task(runner.tick_loop())
    outcome: JobOutcome | None = None
    error: BaseException | None = None
    status = "done"
    try:
        runner.job_task = asyncio.create_task(job(ctx))
        outcome = await runner.job_task
    except asyncio.CancelledError:
        status = "cancelled"
    except RolloutError as exc:
        error = exc
        status = "failed"
    except Exception as exc:
        status = "failed"
        where = ", ".join(str(v) for v in (run.read_run().get("outputs") or {}).values() if v) if isinstance(exc, OSError) else ""
        explained = explain_os_error(exc, fallback=where) if isinstance(exc, OSError) else None
        error = explained or exc
        with contextlib.suppress(OSError):  # the disk may be the thing that failed
            (run.path / "error.log").write_text(traceback.format_exc())
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    try:
        return _finalize(run, ctx, runner, kind, outcome, error, status)
    finally:
        # only now: a "stop now" signal landing while the run is being finalized is a no-op
        # instead of the default action (killed mid-write, run.json never marked finished)
        for sig in installed:
            loop.remove_signal_handler(sig)


def _finalize(run: RunDir, ctx: JobContext, runner: "_Runner", kind: str, outcome: JobOutcome | None,
              error: BaseException | None, status: str) -> JobResult:
    """The run's end: exit code, final state and events, run.json marked finished."""
    outcome = outcome or JobOutcome()
    if outcome.figures:
        ctx.figures.update(outcome.figures)
    if status == "done" and outcome.status:
        status = outcome.status
    elif status == "done" and ctx.stopping:
        status = "cancelled"
    if status != "waiting":  # a waiting run's requests are still in flight on the remote side
        ctx.set_in_flight(0)
    if outcome.status and status == outcome.status and outcome.exit_code is not None:
        exit_code = outcome.exit_code
    elif status == "cancelled":
        exit_code = int(ExitCode.INTERRUPTED)
    elif isinstance(error, RolloutError):
        exit_code = error.exit_code
    elif error is not None:
        exit_code = int(ExitCode.ITEMS_FAILED)
    elif outcome.exit_code is not None:
        exit_code = outcome.exit_code
    else:
        exit_code = int(ExitCode.ITEMS_FAILED) if ctx.counters["failed"] else int(ExitCode.OK)
    message = outcome.message
    if error is not None:
        message = str(error) if isinstance(error, RolloutError) else (
            f"internal error in the {kind} job: {type(error).__name__}: {error} "
            f"(traceback in {run.path / 'error.log'})"
        )
        ctx.event("error", message=message)
    ctx.status = status
    ctx.dirty = True
    runner.flush(force=True)
    ctx.event("finish", status=status, exit_code=exit_code, message=message, counters=dict(ctx.counters))
    run.update_run(status=status, finished=None if status == "waiting" else time.time(), exit_code=exit_code)
    from engine.history import record_run  # the history index learns of the run as it ends

    record_run(run)
    if error is not None:
        raise RolloutError(message or str(error), exit_code) from error
    return JobResult(run=run, status=status, exit_code=exit_code, message=message, state=runner.state)
