"""The ``httpx`` and ``httpx-aiohttp`` transports (kept for comparison in bench/bench_processor.py;
httpx's own pool is slow at high concurrency, httpx issue 3215)."""

from __future__ import annotations

from typing import Mapping

import httpx

from engine.processor.transport import CONNECT_TIMEOUT_S, KEEPALIVE_S, Reply, TransportError, describe


def classify_httpx(exc: BaseException) -> TransportError | None:
    """Map an httpx exception (possibly wrapping aiohttp's) to a TransportError."""
    cause = exc.__cause__
    if cause is not None:  # httpx-aiohttp wraps aiohttp's (and the socket's) exceptions
        from engine.processor.transport_aiohttp import classify_aiohttp

        mapped = classify_aiohttp(cause)
        if mapped is not None:
            return mapped
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return TransportError("connect", describe(exc))
    if isinstance(exc, httpx.TimeoutException):
        return TransportError("timeout", describe(exc))
    if isinstance(exc, (httpx.TransportError, OSError)):
        return TransportError("disconnect", describe(exc))
    return None


class HttpxTransport:
    def __init__(self, concurrency: int, headers: Mapping[str, str], *, over_aiohttp: bool) -> None:
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
