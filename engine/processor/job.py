"""The processor pipeline and its entry function :func:`make_process_job`.

One reader streams the input into a bounded queue; a fixed pool of ``concurrency`` workers takes
requests from it, sends them (retries, rate limits, endpoint gate), and appends each answer to the
output (200) or the errors file (anything else after retries) as one flushed line. Memory is
bounded by the queue and the pool, never by the file.

Exactly once: every custom_id of the input not already answered with 200 in the output ends in
exactly one line of the output or of the errors file per completed run. A stopped or killed run
leaves unanswered ids unwritten; the next run with the same output re-sends them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as _dt
import heapq
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from engine.batchio import JsonlAppender, id_key, iter_jsonl, parse_custom_id
from engine.cost import CostMeter
from engine.errors import InputError, ServiceError
from engine.jobs import JobContext, JobOutcome
from engine.processor import retry
from engine.processor.cache import ResponseCache, cache_key
from engine.processor.endpoints import gpus_present, is_local_url
from engine.processor.gate import EndpointGate
from engine.processor.inputcheck import InputCheck, count_lines
from engine.processor.options import ProcessOptions
from engine.promptguard import PromptLimit
from engine.agentless.tokens import estimate_tokens as estimate_tokens_of_text
from engine.processor.plan import (PREFLIGHT_TIMEOUT_S, Endpoint, Plan, auth_headers, input_fingerprint,
                                   output_paths, prepare_run)
from engine.processor.ratelimit import RateLimiter, estimate_tokens
from engine.processor.servermetrics import MetricsPoller, stop_task
from engine.processor.stats import LiveStats
from engine.processor.transport import Reply, Transport, TransportError, make_transport, resolve_transport

__all__ = ["make_process_job", "run_processing", "prepare_run", "output_paths", "input_fingerprint", "Plan", "Endpoint"]

#: the reader stays at most this many requests per worker ahead of the workers
QUEUE_PER_WORKER = 2
FIGURES_EVERY_S = 0.5
#: the side work of a run (price list, GPU probe, server metrics, line count) starts once the
#: first request is out, or after this many seconds
SIDE_WORK_AFTER_S = 1.0
#: how many of the oldest in-flight requests state.json lists (figures.stragglers)
STRAGGLERS = 5
#: a SWE-bench instance id: ``<owner>__<repo>-<number>`` (django__django-11099)
INSTANCE_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+__[A-Za-z0-9_.-]+-\d+$")
MAX_INSTANCES = 100_000


def _move_aside(path: Path, stamp: str) -> Path | None:
    """Rename ``path`` to ``<name>.<stamp>`` (never delete); None when it does not exist."""
    if not path.exists():
        return None
    target = path.with_name(f"{path.name}.{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.{stamp}-{n}")
    path.rename(target)
    return target


class InstanceCounter:
    """Distinct SWE-bench instances finished in this run, for ``cost_per_instance_usd``.

    Counts only while every id looks like an instance id (``owner__repo-123``, optionally with a
    pass@k suffix); any other id switches it off (``count`` None). Bounded: past
    :data:`MAX_INSTANCES` distinct ones it stops too (no SWE-bench split is that large).
    """

    def __init__(self) -> None:
        self._seen: set[int] | None = set()

    @property
    def count(self) -> int | None:
        return len(self._seen) if self._seen else None

    def add(self, custom_id: str) -> None:
        if self._seen is None:
            return
        instance, _sample = parse_custom_id(custom_id)
        if not INSTANCE_ID_RE.match(instance) or len(self._seen) >= MAX_INSTANCES:
            self._seen = None
            return
        self._seen.add(id_key(instance))


PROMPT_TOO_LONG = "prompt_too_long"


def _prompt_text(body: dict[str, Any]) -> str:
    """The text a chat (or completions) body sends as its prompt, for the size estimate."""
    messages = body.get("messages")
    if isinstance(messages, list):
        parts = []
        for m in messages:
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):  # content parts: count their text
                parts += [c.get("text") for c in content if isinstance(c, dict) and isinstance(c.get("text"), str)]
        return "\n".join(parts)
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else ""


# -- the job -----------------------------------------------------------------------------------
class _Processor:
    def __init__(self, ctx: JobContext, options: ProcessOptions, endpoint: Endpoint, transport: Transport,
                 done: set[int], meter: CostMeter, to_send: int, limit: PromptLimit = PromptLimit(), *,
                 check: InputCheck | None = None, on_input_end: Any = None,
                 first_request: asyncio.Event | None = None) -> None:
        self.ctx = ctx
        self.limit = limit
        self.opt = options
        self.endpoint = endpoint
        self.transport = transport
        self.done = done
        self.meter = meter
        self.to_send = to_send
        self.halt = asyncio.Event()
        self.stats = LiveStats()
        self.limiter = RateLimiter(options.rpm, options.tpm)
        self.cache = ResponseCache(options.cache_dir) if options.cache_dir else None
        self.gate = EndpointGate(ctx, self.probe, url=endpoint.base, max_wait=options.max_wait_endpoint,
                                 interval=options.probe_interval, halt=self.halt)
        self.output = JsonlAppender(options.output)
        self._errors: JsonlAppender | None = None
        self.in_flight = 0
        #: custom_id -> [monotonic start, attempts] of the requests being worked on
        self.active: dict[str, list[float]] = {}
        # line ids: a random run prefix + a counter (unique without a urandom call per line)
        self._id_prefix = f"batch_req_{uuid.uuid4().hex[:16]}"
        self._id_counter = 0
        #: failed items by reason (timeout, http_500...): the console's process view lists them
        self.failure_reasons: collections.Counter[str] = collections.Counter()
        self.finished = 0  # ok + failed + cached in this run
        self.instances = InstanceCounter()
        self.queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=options.concurrency * QUEUE_PER_WORKER)
        #: the input's checks still to do (a fresh run checks the lines after the head as it sends
        #: them), what to call with the request count once the reader has seen every line, and
        #: the problem of a bad line, which stops the run (exit 2) before that line is sent
        self.check = check if check is not None and not check.complete else None
        self.on_input_end = on_input_end
        self.input_error: InputError | None = None
        #: set when the first request goes out (the side work of run_processing waits for it)
        self.first_request = first_request

    # -- writing ---------------------------------------------------------------------------
    @property
    def errors(self) -> JsonlAppender:
        if self._errors is None:  # opened on the first failure: a clean run leaves no errors file
            self._errors = JsonlAppender(self.opt.errors_path)
        return self._errors

    def _line_id(self) -> str:
        self._id_counter += 1
        return f"{self._id_prefix}{self._id_counter:08x}"

    def write_ok(self, custom_id: str, response: dict[str, Any]) -> None:
        self.output.write({"id": self._line_id(), "custom_id": custom_id, "response": response,
                           "error": None})

    def write_failure(self, custom_id: str, failure: retry.Failure, attempts: int, reply: Reply | None) -> None:
        self.failure_reasons[str(failure.reason)] += 1
        response = None
        if reply is not None:
            try:
                body = orjson.loads(reply.body) if reply.body else None
            except orjson.JSONDecodeError:
                body = None
            response = {"status_code": reply.status, "request_id": reply.headers.get("x-request-id", ""),
                        "body": body if isinstance(body, dict) else None}
        self.errors.write({"id": self._line_id(), "custom_id": custom_id, "response": response,
                           "error": {"code": failure.reason, "message": failure.message},
                           "reason": failure.reason, "attempts": attempts})

    # -- endpoint ----------------------------------------------------------------------------
    async def probe(self) -> bool:
        try:
            reply = await self.transport.request("GET", self.endpoint.models_url, None, PREFLIGHT_TIMEOUT_S)
        except TransportError:
            return False
        return reply.status < 500

    # -- one request -------------------------------------------------------------------------
    def _set_in_flight(self, delta: int) -> None:
        self.in_flight += delta
        self.ctx.set_in_flight(self.in_flight)
        if delta > 0 and self.first_request is not None:
            self.first_request.set()

    def _account(self, body: dict[str, Any]) -> None:
        usage = body.get("usage")
        if isinstance(usage, dict):
            details = usage.get("prompt_tokens_details")
            cached = details.get("cached_tokens", 0) if isinstance(details, dict) else 0
            prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
            self.ctx.add_tokens(prompt=prompt, completion=completion, cached=cached or 0)
            self.meter.add_usage(prompt=prompt, completion=completion, cached=cached or 0)

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the run halts first; True when halting."""
        if seconds > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.halt.wait(), seconds)
        return self.halt.is_set()

    async def _send(self, url: str, data: bytes) -> tuple[Reply | None, retry.Failure | None, dict[str, Any] | None]:
        """One HTTP attempt: ``(reply, None, answer)`` for a 200 with a JSON object, else the failure."""
        self._set_in_flight(1)
        t0 = time.monotonic()
        try:
            reply = await self.transport.request("POST", url, data, self.opt.timeout)
        except TransportError as exc:
            self.stats.record(None, failed=True)
            if exc.kind == "connect":
                return None, retry.Failure(retry.CONNECTION, str(exc), True), None
            if exc.kind == "timeout":
                return None, retry.Failure(retry.TIMEOUT, f"no answer within {self.opt.timeout:g} s", True), None
            return None, retry.Failure(retry.DISCONNECTED, str(exc), True), None
        finally:
            self._set_in_flight(-1)
        latency = time.monotonic() - t0
        self.limiter.observe(reply.headers)
        if reply.status != 200:
            self.stats.record(None, failed=True)
            failure = retry.classify_status(reply.status, reply.body[:2000].decode("utf-8", "replace"))
            failure.retry_after = retry.parse_retry_after(reply.headers.get("Retry-After"))
            return reply, failure, None
        try:
            answer = orjson.loads(reply.body)
        except orjson.JSONDecodeError as exc:
            answer = exc
        if not isinstance(answer, dict):
            self.stats.record(None, failed=True)
            return reply, retry.Failure(retry.INVALID_RESPONSE, f"status 200 but the body is not a JSON object ({answer})",
                                        True, 200), None
        self.stats.record(latency, failed=False)
        return reply, None, answer

    async def handle(self, raw: bytes) -> None:
        line = orjson.loads(raw)
        custom_id: str = line["custom_id"]
        body: dict[str, Any] = line["body"]
        if self.opt.model:
            body["model"] = self.opt.model
        key = None
        if self.cache is not None:
            key = cache_key(custom_id, body)
            hit = self.cache.get(key)
            if hit is not None:
                self.write_ok(custom_id, hit)
                self.finished += 1
                self.instances.add(custom_id)
                self.ctx.advance(cached=1)
                return
        if self._refuse_too_long(custom_id, body):
            return
        data = orjson.dumps(body)
        url = self.endpoint.target(line.get("url") or "/v1/chat/completions")
        tokens = estimate_tokens(len(data), body.get("max_tokens") or body.get("max_completion_tokens"))
        attempts = 0
        self.active[custom_id] = [time.monotonic(), 0]  # for the stragglers figure
        try:
            while True:
                if not await self.gate.wait_open():
                    return  # halting: the next run re-sends it
                await self.limiter.acquire(tokens)
                if self.halt.is_set():
                    return
                attempts += 1
                self.active[custom_id][1] = attempts
                reply, failure, answer = await self._send(url, data)
                if answer is not None and reply is not None:
                    response = {"status_code": 200, "request_id": reply.headers.get("x-request-id") or answer.get("id") or "",
                                "body": answer}
                    self.write_ok(custom_id, response)
                    if self.cache is not None and key is not None:
                        self.cache.put(key, response)
                    self._account(answer)
                    self.finished += 1
                    self.instances.add(custom_id)
                    self.ctx.advance(ok=1)
                    return
                assert failure is not None
                if self.halt.is_set():
                    return  # stopping: an interrupted attempt is re-sent next run, not an error
                if failure.reason == retry.CONNECTION:
                    # the server may be gone: every worker waits at the gate, and an attempt that
                    # found the server down does not count; a blip (the probe answers) does
                    outages = self.gate.outages
                    if not await self.gate.connection_failed():
                        return
                    if self.gate.outages != outages:
                        attempts -= 1
                        continue
                if not failure.retryable or attempts > self.opt.max_retries:
                    self.write_failure(custom_id, failure, attempts, reply)
                    self.finished += 1
                    self.instances.add(custom_id)
                    self.ctx.advance(failed=1)
                    return
                self.ctx.add_retried(1)
                if await self._pause(retry.backoff_delay(attempts, self.opt.backoff_base, self.opt.backoff_max,
                                                         failure.retry_after)):
                    return
        finally:
            self.active.pop(custom_id, None)

    def _refuse_too_long(self, custom_id: str, body: dict[str, Any]) -> bool:
        """A request whose prompt cannot fit (engine/promptguard) goes to the errors file with
        reason prompt_too_long and is never sent: True when refused."""
        if self.limit.off:
            return False
        why = self.limit.problem(estimate_tokens_of_text(_prompt_text(body)),
                                 body.get("max_tokens") or body.get("max_completion_tokens"))
        if why is None:
            return False
        self.write_failure(custom_id, retry.Failure(PROMPT_TOO_LONG, why, False), 0, None)
        self.finished += 1
        self.instances.add(custom_id)
        self.ctx.advance(failed=1)
        return True

    # -- the pool ----------------------------------------------------------------------------
    async def reader(self) -> None:
        check = self.check
        for lineno, raw in iter_jsonl(self.opt.input):
            if self.halt.is_set():
                return  # the workers see the halt; run() cancels any still waiting
            if check is not None and lineno > check.last_line:
                try:
                    check.check(lineno, raw)
                except InputError as exc:  # never sent; the lines before it are answered or re-sent next run
                    self.input_error = exc
                    self.halt.set()
                    return
            if self.done:
                try:
                    cid = orjson.loads(raw)["custom_id"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    cid = None
                if cid is not None and id_key(cid) in self.done:
                    continue
            await self.queue.put((0, raw))
        if check is not None:
            check.finish()
            self.to_send = check.requests - check.already
            if self.on_input_end is not None:
                self.on_input_end(check.requests)
        for _ in range(self.opt.concurrency):
            await self.queue.put(None)  # one end marker per worker

    async def worker(self) -> None:
        while not self.halt.is_set():
            item = await self.queue.get()
            if item is None:
                return
            await self.handle(item[1])

    async def figures_loop(self) -> None:
        while True:
            self.update_figures()
            await asyncio.sleep(FIGURES_EVERY_S)

    def update_figures(self) -> None:
        figs = self.stats.figures()
        figs.update(endpoint=self.endpoint.fixed or self.endpoint.base, transport=self.transport.name,
                    concurrency=self.opt.concurrency, stragglers=self.stragglers(),
                    failures_by_reason=dict(self.failure_reasons))
        cost = self.meter.summary(self.finished, self.to_send, self.instances.count)
        self.ctx.set_cost(cost.pop("cost_usd"), cost.pop("cost_projected_usd"))
        figs.update(cost)
        self.ctx.set_figures(**figs)

    def stragglers(self, count: int = STRAGGLERS) -> list[dict[str, Any]]:
        """The oldest requests still being worked on: id, age (s) and attempts so far."""
        now = time.monotonic()
        oldest = heapq.nsmallest(count, self.active.items(), key=lambda kv: kv[1][0])
        return [{"id": cid, "age_s": round(now - t0, 1), "attempts": int(n)} for cid, (t0, n) in oldest]

    async def run(self) -> None:
        figures = asyncio.create_task(self.figures_loop())
        reader = asyncio.create_task(self.reader())
        workers = [asyncio.create_task(self.worker()) for _ in range(self.opt.concurrency)]
        all_workers = asyncio.gather(*workers)

        async def watch_stop() -> None:
            await self.ctx.stop_event.wait()
            self.halt.set()

        stop = asyncio.create_task(watch_stop())
        halted = asyncio.create_task(self.halt.wait())
        failure: BaseException | None = None
        try:
            await asyncio.wait({all_workers, halted}, return_when=asyncio.FIRST_COMPLETED)
            if all_workers.done() and not all_workers.cancelled():
                failure = all_workers.exception()  # e.g. the disk filled: the run must say so, not end "done"
            if not all_workers.done():
                # stopping: requests in flight may finish within the grace, then are abandoned
                # (nothing is written for them; the next run re-sends them). Idle workers, in
                # backoff or waiting for the queue, are simply cancelled.
                deadline = time.monotonic() + self.opt.stop_grace
                while self.in_flight and time.monotonic() < deadline and not all_workers.done():
                    await asyncio.sleep(0.02)
        finally:
            self.halt.set()
            for task in (reader, stop, halted, *workers):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await all_workers
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await self.gate.close()
            figures.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await figures
            self.update_figures()
            self.output.close()
            if self._errors is not None:
                self._errors.close()
        if failure is not None:
            raise failure
        if self.input_error is not None:
            raise InputError(f"{self.input_error} (the run stopped before that line; {self.finished} request(s) "
                             f"finished first, kept in {self.opt.output}: rerun the same command to resume)")


def make_process_job(options: ProcessOptions, plan: Plan | None = None):
    """The job coroutine for :func:`engine.jobs.run_job` that processes ``options.input``.

    ``plan`` comes from :func:`prepare_run` (called here when not given: then a bad input or an
    unreachable endpoint fails inside the run). Nothing is written before those checks pass.
    Raises ServiceError (exit 3) when the endpoint stays down longer than ``max_wait_endpoint``
    (everything unanswered is re-sent by the next run). Exit 1 when some requests failed, else 0.
    """

    async def process_job(ctx: JobContext) -> JobOutcome:
        return await run_processing(ctx, options, plan)

    return process_job


async def run_processing(ctx: JobContext, options: ProcessOptions, plan: Plan | None = None, *,
                         headers: dict[str, str] | None = None, self_hosted: bool = False,
                         billed_from: float | None = None, alt_model: str | None = None) -> JobOutcome:
    """Process ``options.input`` inside a running job (the body of :func:`make_process_job`).

    ``headers`` replaces the ones built from the options' key sources (``--serve`` passes the
    launched server's). ``self_hosted`` (``--serve``): prices come from the config only (GPU
    time, not a hosted model's list price), and GPU time is billed from ``billed_from``
    (time.monotonic() at launch) rather than from now; ``alt_model`` (the served model path) is
    priced when the requests' model name has no price.
    """
    opt = options
    endpoint = Endpoint.parse(opt.url)
    if headers is None:
        headers = auth_headers(opt)
    ctx.phase("checking", f"checking {opt.input}")
    p = plan if plan is not None else await asyncio.to_thread(prepare_run, opt, warn=ctx.warn)
    p_release = p.release
    # a fresh run's reader checks the input after its head as it sends: the count is estimated
    # beside the first requests (count_lines) and exact once the reader has read every line
    ctx.set_total(p.total if p.complete else None)
    if p.already_done:
        ctx.advance(skipped=p.already_done)
    to_send = p.total - p.already_done
    done = p.done
    count_task: asyncio.Task[None] | None = None
    first_request = asyncio.Event()

    transport = make_transport(opt.transport, opt.concurrency, headers)
    metrics_task: asyncio.Task[None] | None = None
    gpu_task: asyncio.Task[None] | None = None
    price_task: asyncio.Task[None] | None = None
    try:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        if opt.restart:
            for path in (opt.output, opt.errors_path, opt.sidecar_path):
                moved = _move_aside(path, stamp)
                if moved:
                    ctx.log(f"--restart: moved {path} to {moved}")
        else:
            _check_sidecar(ctx, opt, p.fingerprint)
            # the errors file holds the failures of the latest run; earlier ones are kept aside
            if opt.errors_path.exists() and opt.errors_path.stat().st_size > 0 and to_send > 0:
                moved = _move_aside(opt.errors_path, stamp)
                ctx.log(f"earlier failures moved to {moved}; they are re-sent now")
        _write_sidecar(ctx, opt, p)

        meter, unpriced = _make_meter(ctx, p.model, self_hosted=self_hosted, billed_from=billed_from,
                                      alt_model=alt_model)
        if unpriced:
            price_task = asyncio.create_task(_after(first_request, lambda: _list_price(ctx, meter, unpriced)))
        local = self_hosted or is_local_url(endpoint.base)
        figures: dict[str, Any] = dict(model=p.model, input_lines=p.total if p.complete else None,
                                       resumed_done=p.already_done,
                                       price_known=meter.known, endpoint=endpoint.fixed or endpoint.base)
        if local:
            figures["local_server"] = True
            # probed beside the requests, not before them (NVML is slow to open)
            gpu_task = asyncio.create_task(_after(first_request, lambda: _mark_gpu_target(ctx)))
        ctx.set_figures(**figures)
        poller = MetricsPoller(ctx, endpoint.base, transport)
        metrics_task = asyncio.create_task(_after(first_request, poller.run))
        ctx.phase("processing", f"{to_send} to send, {p.already_done} already done" if p.complete else
                  f"sending; the input is checked as it is read ({p.total} request(s) checked before the start)")
        ctx.set_figures(**p.prompt_limit.figures())
        proc = _Processor(ctx, opt, endpoint, transport, done, meter, to_send, p.prompt_limit, check=p.check,
                          on_input_end=_input_end(ctx, opt, p), first_request=first_request)
        if not p.complete:
            count_task = asyncio.create_task(_after(first_request, lambda: _estimate_total(ctx, proc)))
        del done, p  # the processor holds the done set; nothing else grows with the file
        await proc.run()
        if price_task is not None and not price_task.done():
            await price_task  # the final cost needs the price
            proc.update_figures()
        await stop_task(metrics_task)
        await poller.final()  # the server's figures as the run ends
    finally:
        await stop_task(metrics_task)
        await stop_task(gpu_task)
        await stop_task(price_task)
        await stop_task(count_task)
        await transport.close()
        p_release()

    if proc.gate.gave_up:
        raise ServiceError(f"endpoint {endpoint.base} was down for more than {opt.max_wait_endpoint:.0f} s: "
                           f"stopped; rerun the same command to resume ({opt.output})")
    c = ctx.counters
    summary = (f"{c['ok']} ok, {c['failed']} failed, {c['cached']} cached, {c['skipped']} already done "
               f"of {c['total']}: {opt.output}")
    if c["failed"]:
        summary += f"; failures in {opt.errors_path} (rerun to retry them)"
    if ctx.stopping:
        summary = f"stopped: {summary}; rerun the same command to finish the rest"
    ctx.phase("stopped" if ctx.stopping else "finished", summary)
    return JobOutcome(message=summary)


async def _after(first_request: asyncio.Event, work: Any, wait_s: float = SIDE_WORK_AFTER_S) -> None:
    """Run ``work()`` once the first request is out, or after ``wait_s`` (all answers cached,
    all refused): the price list's import and the GPU probe run in threads whose Python holds
    the GIL that the first request waits for."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(first_request.wait(), wait_s)
    await asyncio.sleep(SIDE_WORK_AFTER_S / 20)  # the first requests' bytes are written first
    await work()


async def _estimate_total(ctx: JobContext, proc: _Processor) -> None:
    """The input's line count while the reader has not seen every line (progress and ETA need a total)."""
    try:
        lines = await asyncio.to_thread(count_lines, proc.opt.input)
    except OSError:
        return
    if proc.check is not None and not proc.check.complete:
        ctx.set_total(lines)
        proc.to_send = lines


def _input_end(ctx: JobContext, opt: ProcessOptions, plan: Plan) -> Any:
    """What the reader calls with the exact request count once it has read every line: the
    total, the cost projection and the sidecar's line count are made exact."""
    fingerprint, model = plan.fingerprint, plan.model

    def ended(requests: int) -> None:
        ctx.set_total(requests)
        ctx.set_figures(input_lines=requests)
        _write_sidecar(ctx, opt, Plan(requests, 0, model, set(), fingerprint))

    return ended


async def _mark_gpu_target(ctx: JobContext) -> None:
    """A server on this box with GPUs: engine/alerts' gpu_idle rule watches them (its hook
    starts the monitor sampler itself once a job targets GPUs)."""
    if await asyncio.to_thread(gpus_present):
        ctx.set_figures(targets_gpu=True)


def _make_meter(ctx: JobContext, model: str | None, *, self_hosted: bool, billed_from: float | None,
                alt_model: str | None = None) -> tuple[CostMeter, list[str | None]]:
    """The run's cost meter, priced from the config, and the models whose list price (genai-prices)
    is still to be looked up: its bundled data takes long to load, so :func:`_list_price` does it
    beside the first requests (the cost is computed from the token totals, so nothing is lost)."""
    prices = ctx.config.prices if ctx.config is not None else {}
    meter = CostMeter.for_model(model, prices, use_defaults=False)
    if not meter.known and alt_model and alt_model != model:
        other = CostMeter.for_model(alt_model, prices, use_defaults=False)
        if other.known:
            meter = other
    if billed_from is not None:
        meter.started = billed_from
    pending = [model] if not meter.known and not self_hosted else []
    if not pending:
        _price_found(ctx, meter)
    return meter, pending


async def _list_price(ctx: JobContext, meter: CostMeter, models: list[str | None]) -> None:
    for model in models:
        try:
            found = await asyncio.to_thread(CostMeter.for_model, model, ctx.config.prices if ctx.config else {})
        except Exception as exc:  # the price list is a nicety: a broken one must not stop the run
            ctx.warn(f"price list lookup failed for {model!r}: {exc}")
            continue
        if found.known:
            meter.price, meter.source, meter.warning = found.price, found.source, None
            break
        meter.warning, meter.source = meter.warning or found.warning, found.source
    _price_found(ctx, meter)


def _price_found(ctx: JobContext, meter: CostMeter) -> None:
    """Warn once (one line) when the model has no price; say where the price came from."""
    if meter.warning:
        ctx.warn(meter.warning)
    ctx.set_figures(price_source=meter.source, price_known=meter.known)


def _check_sidecar(ctx: JobContext, opt: ProcessOptions, fingerprint: dict[str, Any]) -> None:
    try:
        old = orjson.loads(opt.sidecar_path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return
    prev = old.get("input") if isinstance(old, dict) else None
    if not isinstance(prev, dict):
        return
    if prev.get("path") != fingerprint["path"]:
        ctx.warn(f"{opt.output} was last written from {prev.get('path')}, now from {fingerprint['path']}: "
                 "ids answered then are skipped now (--restart to start over)")
    elif prev.get("size") != fingerprint["size"] or prev.get("mtime") != fingerprint["mtime"]:
        ctx.warn(f"{opt.input} changed since the last run on {opt.output} (size {prev.get('size')} → "
                 f"{fingerprint['size']}): answered ids are skipped, the rest sent (--restart to start over)")


def _write_sidecar(ctx: JobContext, opt: ProcessOptions, plan: Plan) -> None:
    fingerprint = plan.fingerprint
    info = {"input": fingerprint, "run_id": ctx.run.run_id, "updated": time.time(), "lines": plan.total,
            "model": plan.model, "url": opt.url}
    opt.sidecar_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = opt.sidecar_path.with_name(opt.sidecar_path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(info, option=orjson.OPT_INDENT_2))
    os.replace(tmp, opt.sidecar_path)
    (ctx.run.path / "processor.json").write_bytes(orjson.dumps(
        {"input": fingerprint, "output": str(opt.output), "errors": str(opt.errors_path), "url": opt.url,
         "concurrency": opt.concurrency, "timeout": opt.timeout, "model": plan.model,
         "transport": resolve_transport(opt.transport), "lines": plan.total, "already_done": plan.already_done},
        option=orjson.OPT_INDENT_2))
