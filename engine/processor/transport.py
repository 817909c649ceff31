"""HTTP transports behind one small interface, so the bench can compare them and the job can pick.

* ``pyreqwest``: Rust's reqwest client (the default, ``auto``, where the package is installed:
  the fastest in bench/bench_processor.py and a few ms to import);
* ``aiohttp``: aiohttp's client directly (``auto`` where pyreqwest is missing, Python 3.10);
* ``httpx-aiohttp``: httpx's API over aiohttp's connection pool (package httpx-aiohttp);
* ``httpx``: httpx's default AsyncClient (slow at high concurrency, httpx issue 3215).

All share the settings long batch jobs need: a pool at least as large as the concurrency (no pool
waits), keep-alive shorter than SGLang/uvicorn's 5 s (no reuse of a connection the server is
closing), and only a per-request total timeout (long generations never hit a read timeout).
Failures are raised as :class:`TransportError` with a ``kind``: connect, timeout or disconnect.
Each client library is imported only by its own module (transport_<name>.py), when chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping, Protocol

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


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, for the errors file."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def resolve_transport(name: str) -> str:
    """The transport ``auto`` means here: pyreqwest when it is installed, else aiohttp."""
    if name != "auto":
        return name
    import importlib.util

    return "pyreqwest" if importlib.util.find_spec("pyreqwest") is not None else "aiohttp"


def make_transport(name: str, concurrency: int, headers: Mapping[str, str]) -> Transport:
    """A transport by name (``auto``, ``pyreqwest``, ``aiohttp``, ``httpx-aiohttp``, ``httpx``);
    call inside the event loop."""
    name = resolve_transport(name)
    if name == "pyreqwest":
        from engine.processor.transport_reqwest import ReqwestTransport

        return ReqwestTransport(concurrency, headers)
    if name == "aiohttp":
        from engine.processor.transport_aiohttp import AiohttpTransport

        return AiohttpTransport(concurrency, headers)
    if name in ("httpx-aiohttp", "httpx"):
        from engine.processor.transport_httpx import HttpxTransport

        return HttpxTransport(concurrency, headers, over_aiohttp=name == "httpx-aiohttp")
    raise ValueError(f"unknown transport {name!r}")
