"""Piston v2 executor: several endpoints, bounded requests per endpoint, retries, health checks.

Transient failures (5xx, an empty body, connect errors, timeouts) are retried with capped
exponential backoff and full jitter (tenacity). An endpoint whose ``GET /api/v2/runtimes`` fails,
or that refuses connections, is dropped and re-checked after ``recheck_s``.
"""

from __future__ import annotations

import asyncio
import signal as _signal
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from engine.errors import ServiceError
from engine.evaluation.executors.base import (
    Executor,
    RunResult,
    RunSpec,
    Status,
    classify_python_failure,
)

#: compile stage limits we ask for (Piston's defaults are 10 s; the server caps what it accepts)
COMPILE_TIMEOUT_MS = 10_000


class _Transient(Exception):
    """A failure worth retrying on another attempt (maybe on another endpoint)."""


@dataclass
class _Endpoint:
    url: str
    limit: int
    sem: asyncio.Semaphore = field(init=False)
    healthy: bool = False
    recheck_at: float = 0.0
    in_flight: int = 0
    checking: bool = False

    def __post_init__(self) -> None:
        self.sem = asyncio.Semaphore(self.limit)


class PistonExecutor(Executor):
    """Runs programs on Piston servers (``POST /api/v2/execute``)."""

    name = "piston"

    def __init__(
        self,
        endpoints: list[str],
        per_endpoint: int = 8,
        language: str = "python",
        version: str = "*",
        attempts: int = 5,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        request_slack_s: float = 30.0,
        recheck_s: float = 15.0,
    ) -> None:
        if not endpoints:
            raise ValueError("PistonExecutor needs at least one endpoint")
        self.endpoints = [_Endpoint(u.rstrip("/"), max(1, per_endpoint)) for u in endpoints]
        self.language = language
        self.version = version
        self.attempts = max(1, attempts)
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.request_slack_s = request_slack_s
        self.recheck_s = recheck_s
        self.client: httpx.AsyncClient | None = None
        self.stats = {"requests": 0, "retries": 0, "dropped": 0}

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "endpoints": [e.url for e in self.endpoints],
                "healthy": [e.url for e in self.endpoints if e.healthy], "per_endpoint": self.endpoints[0].limit,
                "language": self.language, "version": self.version, "stats": dict(self.stats)}

    # -- health ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Pre-flight: every endpoint's /api/v2/runtimes; ServiceError (exit 3) when none answers."""
        total = sum(e.limit for e in self.endpoints)
        # the pool must hold every allowed request, or httpx's default (100) silently caps concurrency
        self.client = httpx.AsyncClient(limits=httpx.Limits(max_connections=total + len(self.endpoints),
                                                            max_keepalive_connections=total, keepalive_expiry=4.0),
                                        timeout=httpx.Timeout(30.0, connect=5.0))
        await asyncio.gather(*(self._check(e) for e in self.endpoints))
        if not any(e.healthy for e in self.endpoints):
            await self.close()
            urls = ", ".join(e.url for e in self.endpoints)
            raise ServiceError(f"no Piston endpoint answered GET /api/v2/runtimes ({urls}): start Piston or fix --endpoint")

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def _check(self, ep: _Endpoint) -> bool:
        assert self.client is not None
        ep.checking = True
        try:
            resp = await self.client.get(f"{ep.url}/api/v2/runtimes", timeout=5.0)
            runtimes = resp.json() if resp.status_code == 200 and resp.content.strip() else None
            ok = isinstance(runtimes, list) and any(
                r.get("language") == self.language or self.language in (r.get("aliases") or []) for r in runtimes
                if isinstance(r, dict))
        except (httpx.HTTPError, ValueError):
            ok = False
        finally:
            ep.checking = False
        if not ok and ep.healthy:
            self.stats["dropped"] += 1
        ep.healthy = ok
        ep.recheck_at = 0.0 if ok else time.monotonic() + self.recheck_s
        return ok

    def _drop(self, ep: _Endpoint) -> None:
        if ep.healthy:
            self.stats["dropped"] += 1
        ep.healthy = False
        ep.recheck_at = time.monotonic() + self.recheck_s

    async def _pick(self) -> _Endpoint:
        """The healthy endpoint with the most free slots; dropped ones are re-checked when due."""
        due = [e for e in self.endpoints if not e.healthy and not e.checking and time.monotonic() >= e.recheck_at]
        for e in due:
            e.checking = True  # claimed now, before any await: concurrent picks do not re-check it too
        if due:
            await asyncio.gather(*(self._check(e) for e in due))
        healthy = [e for e in self.endpoints if e.healthy]
        if not healthy:
            raise _Transient("no healthy Piston endpoint")
        ep = min(healthy, key=lambda e: e.in_flight / e.limit)
        ep.in_flight += 1  # counted from the pick (queued included), so a burst spreads over endpoints
        return ep

    # -- running --------------------------------------------------------------------------------
    def payload(self, spec: RunSpec) -> dict[str, Any]:
        """The execute request; it asks for the test's limits instead of Piston's low defaults."""
        ms = max(1, int(spec.time_limit_s * 1000))
        files = [{"name": "main.py", "content": spec.source}]
        files += [{"name": name, "content": content} for name, content in spec.files.items()]
        return {
            "language": self.language, "version": self.version, "files": files, "stdin": spec.stdin,
            "args": list(spec.args), "run_timeout": ms, "run_cpu_time": ms, "compile_timeout": COMPILE_TIMEOUT_MS,
            "compile_cpu_time": COMPILE_TIMEOUT_MS, "run_memory_limit": spec.memory_mb * 1024 * 1024,
            "compile_memory_limit": -1,
        }

    async def run(self, spec: RunSpec) -> RunResult:
        if self.client is None:
            await self.start()
        body = self.payload(spec)
        t0 = time.monotonic()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(multiplier=self.backoff_base_s, max=self.backoff_max_s),
            retry=retry_if_exception_type(_Transient),
            before_sleep=lambda _state: self._count_retry(),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    data = await self._execute_once(body, spec)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            return RunResult(Status.ERROR, wall_s=time.monotonic() - t0,
                             detail=f"Piston failed {self.attempts} times: {last}")
        except _Fatal as exc:
            return RunResult(Status.ERROR, wall_s=time.monotonic() - t0, detail=str(exc))
        return self.result(data, spec, time.monotonic() - t0)

    def _count_retry(self) -> None:
        self.stats["retries"] += 1

    async def _execute_once(self, body: dict[str, Any], spec: RunSpec) -> dict[str, Any]:
        assert self.client is not None
        ep = await self._pick()
        try:
            async with ep.sem:
                self.stats["requests"] += 1
                resp = await self.client.post(f"{ep.url}/api/v2/execute", json=body,
                                              timeout=spec.time_limit_s * 2 + self.request_slack_s)
        except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
            self._drop(ep)
            raise _Transient(f"{ep.url}: {type(exc).__name__}: {exc}") from None
        except httpx.TimeoutException as exc:
            raise _Transient(f"{ep.url}: timeout ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise _Transient(f"{ep.url}: {type(exc).__name__}: {exc}") from None
        finally:
            ep.in_flight -= 1
        if resp.status_code >= 500:
            raise _Transient(f"{ep.url}: HTTP {resp.status_code}")
        if not resp.content.strip():
            raise _Transient(f"{ep.url}: empty body (HTTP {resp.status_code})")
        try:
            data = resp.json()
        except ValueError:
            raise _Transient(f"{ep.url}: body is not JSON (HTTP {resp.status_code})") from None
        if resp.status_code >= 400:
            msg = data.get("message") if isinstance(data, dict) else None
            raise _Fatal(f"Piston refused the request (HTTP {resp.status_code}): {msg or resp.text[:200]}")
        if not isinstance(data, dict) or not isinstance(data.get("run"), dict):
            raise _Transient(f"{ep.url}: answer without a run stage")
        return data

    @staticmethod
    def result(data: dict[str, Any], spec: RunSpec, wall: float) -> RunResult:
        """Map Piston's answer to a RunResult; a failed compile stage wins over the echoed run."""
        comp = data.get("compile")
        if isinstance(comp, dict) and (comp.get("code") not in (0, None) or comp.get("status")):
            return RunResult(Status.CE, comp.get("stdout") or "", comp.get("stderr") or "", comp.get("code"), None, wall,
                             (comp.get("stderr") or comp.get("message") or "compile failed").strip()[-300:])
        run = data["run"]
        stdout, stderr = run.get("stdout") or "", run.get("stderr") or ""
        code, status, sig = run.get("code"), run.get("status"), run.get("signal")
        signum = getattr(_signal, sig, None) if isinstance(sig, str) else None
        signum = int(signum) if signum is not None else None
        if status == "TO":
            return RunResult(Status.TLE, stdout, stderr, code, signum, wall, run.get("message") or "time limit")
        if status in ("OL", "EL"):
            which = "stdout" if status == "OL" else "stderr"
            return RunResult(Status.OLE, stdout, stderr, code, signum, wall, f"{which} truncated by Piston ({status})")
        if status == "XX":
            return RunResult(Status.ERROR, stdout, stderr, code, signum, wall, f"Piston internal error: {run.get('message')}")
        if status is None and code == 0:
            return RunResult(Status.AC, stdout, stderr, 0, None, wall)
        if status == "SG" and signum == int(_signal.SIGKILL):
            return RunResult(Status.MLE, stdout, stderr, code, signum, wall, "killed (SIGKILL): memory limit")
        verdict, detail = classify_python_failure(code if signum is None else None, signum, stderr)
        return RunResult(verdict, stdout, stderr, code, signum, wall, run.get("message") or detail)


class _Fatal(Exception):
    """A failure retrying cannot fix (Piston rejected the request)."""
