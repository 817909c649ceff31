"""Helpers shared by the console tests."""

from __future__ import annotations

import time
from typing import Callable

#: terminal size the console tests run at
SIZE = (160, 45)


async def wait_until(pilot, cond: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    """Let the app run until ``cond()`` holds; fail after ``timeout`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
