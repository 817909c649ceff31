"""Client-side request and token limits for hosted APIs (``--rpm``, ``--tpm``).

Two token buckets refilled continuously at limit/60 per second, each holding at most 10 seconds'
worth (a burst of a whole minute's budget would trip the server's own limiter). The server's
``x-ratelimit-remaining-*`` / ``x-ratelimit-reset-*`` headers tighten them: the buckets never hold
more than the server says remains, and an exhausted budget waits for its reset.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Callable, Mapping

from engine.processor.retry import plain_seconds

BURST_S = 10.0
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_reset(value: str | None) -> float | None:
    """Seconds from a reset header: ``"1s"``, ``"6m0s"``, ``"20ms"`` or a plain number."""
    if not value:
        return None
    value = value.strip()
    seconds = plain_seconds(value)
    if seconds is not None:
        return seconds
    parts = _DURATION_RE.findall(value)
    if not parts:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


class TokenBucket:
    """A continuously refilled bucket of ``per_minute`` units, holding at most BURST_S seconds' worth."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * BURST_S)
        self.level = self.capacity
        self.clock = clock
        self.stamp = clock()
        self.blocked_until = 0.0

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, cost: float) -> float:
        """Seconds until ``cost`` units are available (0: take them now)."""
        now = self.clock()
        self._refill(now)
        if now < self.blocked_until:
            return self.blocked_until - now
        cost = min(cost, self.capacity)
        return 0.0 if self.level >= cost else (cost - self.level) / self.rate

    def take(self, cost: float) -> None:
        self.level -= min(cost, self.capacity)

    def tighten(self, remaining: float | None, reset_s: float | None) -> None:
        """Never hold more than the server says remains; wait for its reset when nothing does."""
        if remaining is None:
            return
        self._refill(self.clock())
        self.level = min(self.level, remaining)
        if remaining <= 0 and reset_s:
            self.blocked_until = max(self.blocked_until, self.clock() + reset_s)


class RateLimiter:
    """``await acquire(tokens)`` before each request; ``observe(headers)`` after each answer."""

    def __init__(self, rpm: float | None = None, tpm: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.requests = TokenBucket(rpm, clock) if rpm else None
        self.tokens = TokenBucket(tpm, clock) if tpm else None
        self._lock = asyncio.Lock()  # first come, first served

    @property
    def active(self) -> bool:
        return self.requests is not None or self.tokens is not None

    async def acquire(self, tokens: float) -> None:
        if not self.active:
            return
        async with self._lock:
            while True:
                wait = max(self.requests.wait_time(1) if self.requests else 0.0,
                           self.tokens.wait_time(tokens) if self.tokens else 0.0)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            if self.requests:
                self.requests.take(1)
            if self.tokens:
                self.tokens.take(tokens)

    def observe(self, headers: Mapping[str, str]) -> None:
        if not self.active:
            return

        def num(name: str) -> float | None:
            try:
                v = headers.get(name)
                return float(v) if v is not None else None
            except ValueError:
                return None

        if self.requests:
            self.requests.tighten(num("x-ratelimit-remaining-requests"), parse_reset(headers.get("x-ratelimit-reset-requests")))
        if self.tokens:
            self.tokens.tighten(num("x-ratelimit-remaining-tokens"), parse_reset(headers.get("x-ratelimit-reset-tokens")))


def estimate_tokens(body_bytes: int, max_tokens: int | None = None) -> float:
    """Tokens a request will count for: prompt ~ bytes/4, plus the completion budget when given."""
    return body_bytes / 4.0 + (max_tokens or 0)
