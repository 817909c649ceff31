"""The one "keep the shared sampler alive, read its latest sample" reader.

Every viewer of the box (the console's poll, ``rollout monitor``, a job's alert hook) holds one
:class:`SampleReader`: it touches the sampler's demand file at most every ``ensure_every_s``
(starting a sampler when none is alive) and reads ``latest.json`` at most every ``read_every_s``,
dropping samples older than ``max_age_s``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from engine.monitor.sampler import DEFAULT_IDLE_EXIT_S, ensure_sampler, read_latest

#: a sample older than this is not the box's current state (seconds)
SAMPLE_MAX_AGE_S = 15.0
Paths = Mapping[str, "str | os.PathLike[str]"] | Callable[[], Mapping[str, "str | os.PathLike[str]"]]
#: the demand file is touched at least this often (seconds); the sampler exits when nobody asks
ENSURE_EVERY_S = 10.0


class SampleReader:
    """Keeps ``workspace``'s sampler alive and returns its newest sample (None when none is fresh)."""

    def __init__(
        self,
        workspace: Path,
        *,
        max_age_s: float = SAMPLE_MAX_AGE_S,
        ensure_every_s: float = ENSURE_EVERY_S,
        read_every_s: float = 0.0,
        idle_exit_s: float = DEFAULT_IDLE_EXIT_S,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.workspace = Path(workspace)
        self.max_age_s = max_age_s
        # never let the sampler's idle timer run out between two touches
        self.ensure_every_s = min(ensure_every_s, idle_exit_s / 3)
        self.read_every_s = read_every_s
        self.idle_exit_s = idle_exit_s
        self.interval_s = interval_s
        self.clock = clock
        self._ensured_at: float | None = None
        self._read_at: float | None = None
        self._sample: dict[str, Any] | None = None
        #: why the last keep-alive failed (a read-only workspace...), None when it worked
        self.error: OSError | None = None

    def keep_alive(self, paths: Paths | None = None, *, force: bool = False) -> None:
        """Touch the demand file (start a sampler when none runs) unless done less than
        ``ensure_every_s`` ago; ``paths`` (or a function giving them, called only then) are
        folders whose disks the sampler should watch. Raises OSError when the monitor folder
        cannot be written."""
        now = self.clock()
        if not force and self._ensured_at is not None and now - self._ensured_at < self.ensure_every_s:
            return
        self._ensured_at = now
        wanted = paths() if callable(paths) else paths
        ensure_sampler(self.workspace, paths=wanted or None, interval_s=self.interval_s, idle_exit_s=self.idle_exit_s)

    def latest(self) -> dict[str, Any] | None:
        """The newest fresh sample (re-read at most every ``read_every_s``)."""
        now = self.clock()
        if self._read_at is None or now - self._read_at >= self.read_every_s:
            self._read_at = now
            self._sample = read_latest(self.workspace, max_age_s=self.max_age_s)
        return self._sample

    def read(self, paths: Paths | None = None) -> dict[str, Any] | None:
        """Keep the sampler alive (a failure is kept in :attr:`error`, not raised) and read."""
        try:
            self.keep_alive(paths)
            self.error = None
        except OSError as exc:
            self.error = exc  # a read-only workspace: show whatever sample there is, if any
        return self.latest()

    def wait(self, timeout_s: float, poll_s: float = 0.1) -> dict[str, Any] | None:
        """The first fresh sample within ``timeout_s`` (a sampler just started needs a moment)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._read_at = None
            sample = self.latest()
            if sample is not None or time.monotonic() > deadline:
                return sample
            time.sleep(poll_s)
