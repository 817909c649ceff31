"""Live figures of a processor run: latency quantiles, request rate and the recent error rate."""

from __future__ import annotations

import collections
import statistics
import time
from typing import Any, Callable

#: the recent error rate is the failed fraction of the last this-many HTTP attempts
RECENT_ATTEMPTS = 200
#: latency quantiles are taken over the last this-many answers (bounded memory)
LATENCY_WINDOW = 2048
RATE_WINDOW_S = 10.0


class LiveStats:
    """Bounded windows fed per attempt; :meth:`figures` gives the state.json figures."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.latencies: collections.deque[float] = collections.deque(maxlen=LATENCY_WINDOW)
        self.recent: collections.deque[int] = collections.deque(maxlen=RECENT_ATTEMPTS)
        self.attempts = 0
        self._rate_samples: collections.deque[tuple[float, int]] = collections.deque()

    def record(self, latency_s: float | None, failed: bool) -> None:
        """One HTTP attempt: its latency (answers only) and whether it failed."""
        self.attempts += 1
        self.recent.append(1 if failed else 0)
        if latency_s is not None and not failed:
            self.latencies.append(latency_s)

    def figures(self) -> dict[str, Any]:
        now = self.clock()
        self._rate_samples.append((now, self.attempts))
        while len(self._rate_samples) > 2 and now - self._rate_samples[0][0] > RATE_WINDOW_S:
            self._rate_samples.popleft()
        t0, n0 = self._rate_samples[0]
        out: dict[str, Any] = {
            "req_per_s": round((self.attempts - n0) / (now - t0), 2) if now - t0 >= 0.5 else None,
            "error_rate_recent": round(sum(self.recent) / len(self.recent), 4) if self.recent else 0.0,
            "attempts": self.attempts,
        }
        lat = list(self.latencies)
        if len(lat) >= 2:
            q = statistics.quantiles(lat, n=20, method="inclusive")
            out["latency_p50_s"] = round(statistics.median(lat), 4)
            out["latency_p95_s"] = round(q[18], 4)
        elif lat:
            out["latency_p50_s"] = out["latency_p95_s"] = round(lat[0], 4)
        return out
