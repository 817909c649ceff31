"""The ``pyreqwest`` transport: Rust's reqwest/hyper client (package pyreqwest), the default.

Connections, HTTP parsing and TLS run in Rust on pyreqwest's own runtime threads, so the
processor's Python only reads lines, parses answers and writes them: on this 2-core box a bare
loop of 20,000 requests at concurrency 256 takes ~2.3 s against aiohttp's ~4.2 s, and it
imports in a few milliseconds where aiohttp takes ~150 ms (bench/bench_processor_whole.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Mapping

from pyreqwest import exceptions as rex
from pyreqwest.client import ClientBuilder

from engine.processor.transport import CONNECT_TIMEOUT_S, KEEPALIVE_S, Reply, TransportError, describe


def _causes(exc: BaseException) -> list[str]:
    """The cause chain pyreqwest reports (outermost first), as messages."""
    details = getattr(exc, "details", None)
    causes = details.get("causes") if isinstance(details, dict) else None
    return [str(c.get("message", "")) for c in causes or [] if isinstance(c, dict)]


def _text(exc: BaseException) -> str:
    """``Type: message: innermost cause`` (reqwest's own message is generic: "connection error")."""
    causes = _causes(exc)
    text = describe(exc)
    return f"{text}: {causes[-1]}" if causes and causes[-1] not in text else text


def classify_reqwest(exc: BaseException) -> TransportError | None:
    """Map a pyreqwest (or socket) exception to a TransportError; None when it is not a transport failure.

    pyreqwest's classes are coarse: a connection reset after the request was sent is a
    ConnectError, and the total timeout of a request that stalls on a connected socket is a
    ConnectTimeoutError. Only a failure whose causes say the connect step failed ("client error
    (Connect)": refused, DNS, unreachable, connect timeout) counts as ``connect``.
    """
    if isinstance(exc, ConnectionRefusedError) or (
            isinstance(exc, (rex.ConnectError, rex.ConnectTimeoutError)) and "client error (Connect)" in _causes(exc)):
        return TransportError("connect", _text(exc))
    if isinstance(exc, (rex.RequestTimeoutError, TimeoutError)):
        return TransportError("timeout", _text(exc) if str(exc) else "no answer within the timeout")
    if isinstance(exc, (rex.RequestError, OSError)):
        # a reset or closed connection, a truncated body, bad HTTP from the server, a client closed under it
        return TransportError("disconnect", _text(exc))
    return None


class ReqwestTransport:
    name = "pyreqwest"

    def __init__(self, concurrency: int, headers: Mapping[str, str]) -> None:
        self.client = (ClientBuilder()
                       # tokio's multi-threaded runtime: its I/O threads wake Python less often
                       # (~20% faster at concurrency 256, bench/bench_processor.py)
                       .runtime_multithreaded(True)
                       .max_connections(concurrency + 8)
                       .pool_idle_timeout(timedelta(seconds=KEEPALIVE_S))
                       .connect_timeout(timedelta(seconds=CONNECT_TIMEOUT_S))
                       .default_headers(dict(headers))
                       .build())
        self._timeouts: dict[float, timedelta] = {}

    def _timeout(self, seconds: float) -> timedelta:
        t = self._timeouts.get(seconds)
        if t is None:
            t = self._timeouts[seconds] = timedelta(seconds=seconds)
        return t

    async def request(self, method: str, url: str, data: bytes | None, timeout: float) -> Reply:
        try:
            builder = self.client.request(method, url).timeout(self._timeout(timeout))
            if data is not None:
                builder = builder.body_bytes(data)
            resp = await builder.build().send()
            body = bytes(await resp.bytes())
            return Reply(resp.status, resp.headers, body)
        except Exception as exc:
            mapped = classify_reqwest(exc)
            if mapped is None:
                raise
            raise mapped from exc

    async def close(self) -> None:
        await self.client.close()
