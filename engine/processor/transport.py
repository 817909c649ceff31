"""HTTP transports behind one small interface, so the bench can compare them and the job can pick.

* ``aiohttp``: aiohttp's client directly (the default: fastest in bench/bench_processor.py).
* ``httpx-aiohttp``: httpx's API over aiohttp's connection pool (package httpx-aiohttp).
* ``httpx``: httpx's default AsyncClient (slow at high concurrency, httpx issue 3215).

All share the settings long batch jobs need: a pool at least as large as the concurrency (no pool
waits), keep-alive shorter than SGLang/uvicorn's 5 s (no reuse of a connection the server is
closing), and only a per-request total timeout (long generations never hit a read timeout).
Failures are raised as :class:`TransportError` with a ``kind``: connect, timeout or disconnect.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Mapping, Protocol

import aiohttp

if TYPE_CHECKING:  # httpx loads only for the httpx transports: `rollout process` starts faster
    import httpx

#: idle connections are dropped before the server's 5 s keep-alive closes them under us
KEEPALIVE_S = 4.0
#: connecting must not take the whole per-request budget: a listening server accepts at once
CONNECT_TIMEOUT_S = 30.0

ErrorKind = Literal["connect", "timeout", "disconnect"]


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportError(Exception):
    """A request that got no HTTP answer: ``kind`` says why (connect, timeout, disconnect)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


class Transport(Protocol):
    name: str

    async def request(self, method: str, url: str, data: bytes | None, timeout: float) -> Reply: ...

    async def close(self) -> None: ...


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def classify_aiohttp(exc: BaseException) -> TransportError | None:
    """Map an aiohttp (or socket) exception to a TransportError; None when it is not a transport failure."""
    if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, ConnectionRefusedError)):
        return TransportError("connect", _describe(exc))
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return TransportError("timeout", _describe(exc) if str(exc) else "no answer within the timeout")
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        # ServerDisconnectedError, ClientPayloadError, ClientOSError (reset), bad HTTP from the server
        return TransportError("disconnect", _describe(exc))
    return None


def classify_httpx(exc: BaseException) -> TransportError | None:
    """Map an httpx exception (possibly wrapping aiohttp's) to a TransportError."""
    import httpx

    cause = exc.__cause__
    if cause is not None:
        mapped = classify_aiohttp(cause)
        if mapped is not None:
            return mapped
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return TransportError("connect", _describe(exc))
    if isinstance(exc, httpx.TimeoutException):
        return TransportError("timeout", _describe(exc))
    if isinstance(exc, (httpx.TransportError, OSError)):
        return TransportError("disconnect", _describe(exc))
    return None


class AiohttpTransport:
    name = "aiohttp"

    def __init__(self, concurrency: int, headers: Mapping[str, str]) -> None:
        connector = aiohttp.TCPConnector(limit=concurrency + 8, limit_per_host=0, keepalive_timeout=KEEPALIVE_S,
                                         ttl_dns_cache=300)
        self.session = aiohttp.ClientSession(connector=connector, headers=dict(headers),
                                             timeout=aiohttp.ClientTimeout(total=None))
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        t = self._timeouts.get(seconds)
        if t is None:
            t = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds, sock_connect=min(seconds, CONNECT_TIMEOUT_S))
        return t

    async def request(self, method: str, url: str, data: bytes | None, timeout: float) -> Reply:
        try:
            async with self.session.request(method, url, data=data, timeout=self._timeout(timeout)) as resp:
                body = await resp.read()
                return Reply(resp.status, resp.headers, body)
        except Exception as exc:
            mapped = classify_aiohttp(exc)
            if mapped is None:
                raise
            raise mapped from exc

    async def close(self) -> None:
        await self.session.close()


class HttpxTransport:
    def __init__(self, concurrency: int, headers: Mapping[str, str], *, over_aiohttp: bool) -> None:
        import httpx

        limits = httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8,
                              keepalive_expiry=KEEPALIVE_S)
        transport: httpx.AsyncBaseTransport | None = None
        if over_aiohttp:
            from httpx_aiohttp import AiohttpTransport as _HxAio

            transport = _HxAio(limits=limits)
        self.name = "httpx-aiohttp" if over_aiohttp else "httpx"
        # pool=None: waiting for a pooled connection never times out (the pool is ≥ concurrency anyway)
        self.client = httpx.AsyncClient(limits=limits, transport=transport, headers=dict(headers),
                                        timeout=httpx.Timeout(None, pool=None))

    async def request(self, method: str, url: str, data: bytes | None, timeout: float) -> Reply:
        import httpx  # already loaded by __init__: a dictionary lookup

        t = httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_S), pool=None)
        try:
            resp = await self.client.request(method, url, content=data, timeout=t)
            return Reply(resp.status_code, resp.headers, resp.content)
        except Exception as exc:
            mapped = classify_httpx(exc)
            if mapped is None:
                raise
            raise mapped from exc

    async def close(self) -> None:
        await self.client.aclose()


def make_transport(name: str, concurrency: int, headers: Mapping[str, str]) -> Transport:
    """A transport by name (``aiohttp``, ``httpx-aiohttp``, ``httpx``); call inside the event loop."""
    if name == "aiohttp":
        return AiohttpTransport(concurrency, headers)
    if name in ("httpx-aiohttp", "httpx"):
        return HttpxTransport(concurrency, headers, over_aiohttp=name == "httpx-aiohttp")
    raise ValueError(f"unknown transport {name!r}")
