"""The ``aiohttp`` transport: aiohttp's client directly (the fallback where pyreqwest is missing)."""

from __future__ import annotations

import asyncio
from typing import Mapping

import aiohttp

from engine.processor.transport import CONNECT_TIMEOUT_S, KEEPALIVE_S, Reply, TransportError, describe


def classify_aiohttp(exc: BaseException) -> TransportError | None:
    """Map an aiohttp (or socket) exception to a TransportError; None when it is not a transport failure."""
    if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, ConnectionRefusedError)):
        return TransportError("connect", describe(exc))
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return TransportError("timeout", describe(exc) if str(exc) else "no answer within the timeout")
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        # ServerDisconnectedError, ClientPayloadError, ClientOSError (reset), bad HTTP from the server
        return TransportError("disconnect", describe(exc))
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
