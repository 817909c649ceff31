"""What is worth retrying, and how long to wait before the next attempt.

A tiny policy rather than tenacity: the wait depends on the server's Retry-After, and a lost
endpoint pauses every worker together (see :mod:`engine.processor.gate`), which a per-call
retry decorator cannot express.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

#: statuses a later attempt may get past: timeout, conflict, rate limit, server errors
RETRY_STATUSES = frozenset({408, 409, 429})

# reasons written to the errors file (error.code)
TIMEOUT = "timeout"
CONNECTION = "connection_error"
DISCONNECTED = "server_disconnected"
RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
CONTEXT_LENGTH = "context_length_exceeded"
INVALID_REQUEST = "invalid_request"
INVALID_RESPONSE = "invalid_response"
HTTP_ERROR = "http_error"

_CONTEXT_MARKERS = ("maximum context length", "context length", "context_length_exceeded", "too many tokens")


@dataclass
class Failure:
    """One failed attempt: why, whether another attempt may help, and the server's wish."""

    reason: str
    message: str
    retryable: bool
    status: int | None = None
    retry_after: float | None = None


def classify_status(status: int, text: str) -> Failure:
    """A failure for a non-200 answer. ``text`` is the (start of the) response body."""
    lower = text.lower()
    if status == 429:
        return Failure(RATE_LIMITED, f"HTTP 429: {text[:300]}", True, status)
    if status >= 500 or status in RETRY_STATUSES:
        return Failure(SERVER_ERROR if status >= 500 else HTTP_ERROR, f"HTTP {status}: {text[:300]}", True, status)
    if any(m in lower for m in _CONTEXT_MARKERS):
        return Failure(CONTEXT_LENGTH, f"HTTP {status}: {text[:300]}", False, status)
    if status in (400, 422):
        return Failure(INVALID_REQUEST, f"HTTP {status}: {text[:300]}", False, status)
    return Failure(HTTP_ERROR, f"HTTP {status}: {text[:300]}", False, status)


def plain_seconds(value: str) -> float | None:
    """A header value that is just a number of seconds (fractions accepted), else None."""
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds (fractions accepted) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    seconds = plain_seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None,
                  rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter for attempt ``attempt`` (1 = first retry).

    A Retry-After from the server is a floor (plus up to 10% jitter so waiting workers do not
    come back in one burst), capped at ``cap`` only when it is absurdly long.
    """
    r = rng or random
    delay = r.uniform(0.0, min(cap, base * (2 ** max(0, attempt - 1))))
    if retry_after is not None:
        floor = min(retry_after, max(cap, 600.0))
        delay = max(delay, floor + r.uniform(0.0, 0.1 * floor + 0.01))
    return delay
