"""A client for the hosted Files + Batches API (OpenAI's, and servers that copy it).

``POST /v1/files`` (multipart, purpose ``batch``; the part file is streamed from disk by httpx,
never read whole), ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``
and ``GET /v1/files/{id}/content`` (streamed line by line). Connection failures, timeouts, 429 and
5xx are retried with exponential backoff and jitter (tenacity; a Retry-After is honoured); when
the API stays unreachable the call raises ServiceError (exit 3), one line. Any other HTTP error is
a RolloutError (exit 2) quoting the API's message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, stop_after_delay, wait_exponential_jitter

from engine.errors import ExitCode, RolloutError, ServiceError
from engine.processor.retry import parse_retry_after

#: idle connections are dropped before a uvicorn-style 5 s keep-alive closes them under us
KEEPALIVE_S = 4.0
TIMEOUT = httpx.Timeout(connect=30.0, read=300.0, write=300.0, pool=None)
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class _Retryable(Exception):
    """A failure worth another attempt; ``wait`` is the server's Retry-After, if any."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


def _wait(base: float, cap: float):
    backoff = wait_exponential_jitter(initial=base, max=cap)

    def wait(state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        delay = backoff(state)
        if isinstance(exc, _Retryable) and exc.wait is not None:
            delay = max(delay, min(exc.wait, 600.0))
        return delay

    return wait


def _api_message(resp: httpx.Response) -> str:
    try:
        body = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return resp.text[:300].strip() or resp.reason_phrase
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])[:300]
    return str(body)[:300]


class BatchClient:
    """One API base URL with its headers; use ``async with`` (or :meth:`close`)."""

    def __init__(self, base_url: str, api_key: str | None = None, *, attempts: int = 6, max_retry_s: float = 120.0,
                 backoff_base: float = 1.0, backoff_max: float = 30.0) -> None:
        self.base = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(headers=headers, timeout=TIMEOUT,
                                       limits=httpx.Limits(max_connections=8, keepalive_expiry=KEEPALIVE_S))
        self.attempts = attempts
        self.max_retry_s = max_retry_s
        self._wait = _wait(backoff_base, backoff_max)

    async def __aenter__(self) -> "BatchClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # -- plumbing ----------------------------------------------------------------------------
    def _retrying(self) -> AsyncRetrying:
        return AsyncRetrying(retry=retry_if_exception_type(_Retryable), wait=self._wait, reraise=True,
                             stop=stop_after_attempt(self.attempts) | stop_after_delay(self.max_retry_s))

    async def _call(self, what: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One API call with retries; the JSON object it answered."""
        url = self.base + path
        try:
            async for attempt in self._retrying():
                with attempt:
                    resp = await self._send(what, method, url, **kwargs)
        except _Retryable as exc:
            raise ServiceError(f"{what}: {url} is unreachable ({exc}) after {self.attempts} attempts: "
                               "check the URL and the service, then run the same command again") from None
        try:
            body = orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise ServiceError(f"{what}: {url} answered HTTP {resp.status_code} without a JSON object: "
                               "is this a Files + Batches API?")
        return body

    async def _send(self, what: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        files = kwargs.get("files")
        if files:  # a retry re-reads the part from its start
            for value in files.values():
                value[1].seek(0)
        try:
            resp = await self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        self._check(what, url, resp)
        return resp

    def _check(self, what: str, url: str, resp: httpx.Response) -> None:
        if resp.status_code < 400:
            return
        if resp.status_code in RETRY_STATUSES:
            raise _Retryable(f"HTTP {resp.status_code}: {_api_message(resp)}",
                             parse_retry_after(resp.headers.get("Retry-After")))
        if resp.status_code in (401, 403):
            raise RolloutError(f"{what}: {url} refused the API key (HTTP {resp.status_code}): set the key's "
                               "variable and pass --api-key-env (or --api-key-file)", ExitCode.USAGE)
        if resp.status_code == 404 and "/v1/files" not in url and "/v1/batches" not in url:
            raise ServiceError(f"{what}: {url} not found: is this a Files + Batches API?")
        raise RolloutError(f"{what}: {url} answered HTTP {resp.status_code}: {_api_message(resp)}", ExitCode.USAGE)

    # -- the API -----------------------------------------------------------------------------
    async def check(self) -> None:
        """Reachable, and the key accepted (``GET /v1/models``); exit 3 / exit 2 otherwise."""
        url = self.base + "/v1/models"
        try:
            resp = await self._http.get(url)
        except httpx.TransportError as exc:
            raise ServiceError(f"cannot reach {url} ({type(exc).__name__}): start the service or fix --url") from None
        if resp.status_code in (401, 403):
            raise RolloutError(f"{url} refused the API key (HTTP {resp.status_code}): set the key's variable and "
                               "pass --api-key-env (or --api-key-file)", ExitCode.USAGE)
        if resp.status_code >= 500:
            raise ServiceError(f"{url} answered HTTP {resp.status_code}: check the service")

    async def upload(self, path: Path, filename: str) -> dict[str, Any]:
        """``POST /v1/files`` (purpose ``batch``): the file object (``id``, ``bytes``...)."""
        with open(path, "rb") as fh:
            return await self._call(f"uploading {filename}", "POST", "/v1/files", data={"purpose": "batch"},
                                    files={"file": (filename, fh, "application/jsonl")})

    async def create_batch(self, file_id: str, endpoint: str, window: str, metadata: dict[str, str]) -> dict[str, Any]:
        """``POST /v1/batches``: the new batch object (status ``validating``)."""
        return await self._call("creating a batch", "POST", "/v1/batches", json={
            "input_file_id": file_id, "endpoint": endpoint, "completion_window": window, "metadata": metadata})

    async def get_batch(self, batch_id: str) -> dict[str, Any]:
        return await self._call(f"polling batch {batch_id}", "GET", f"/v1/batches/{batch_id}")

    async def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        return await self._call(f"cancelling batch {batch_id}", "POST", f"/v1/batches/{batch_id}/cancel")

    async def iter_file_lines(self, file_id: str) -> AsyncIterator[bytes]:
        """The lines of ``GET /v1/files/{id}/content``, streamed (a failed start is retried)."""
        url = f"{self.base}/v1/files/{file_id}/content"
        what = f"downloading file {file_id}"
        try:
            async for attempt in self._retrying():
                with attempt:
                    try:
                        resp = await self._http.send(self._http.build_request("GET", url), stream=True)
                    except httpx.TransportError as exc:
                        raise _Retryable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
                    if resp.status_code >= 400:
                        await resp.aread()
                        await resp.aclose()
                        self._check(what, url, resp)
        except _Retryable as exc:
            raise ServiceError(f"{what}: {url} is unreachable ({exc}): run the same command again later") from None
        try:
            rest = b""
            async for chunk in resp.aiter_bytes():
                rest += chunk
                if b"\n" not in chunk:
                    continue
                *lines, rest = rest.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield line
            if rest.strip():
                yield rest
        except httpx.TransportError as exc:
            raise ServiceError(f"{what}: the download broke off ({type(exc).__name__}): run the same command "
                               "again (what was written is kept, nothing is written twice)") from None
        finally:
            await resp.aclose()
