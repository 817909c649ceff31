"""Helpers shared by the server tests (waiting, reading run files, finding live processes)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import psutil

FAKE_SERVER = Path(__file__).resolve().parents[1] / "fakes" / "sglang_server.py"
#: stand-in pause between start-up lines in tests (seconds)
STEP = "0.1"


def answers(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def group_kill(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_for(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def alive_pids(pids: list[int], create_times: dict[int, float] | None = None) -> list[int]:
    """The pids of the list that are still running (zombies count as gone)."""
    out = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if create_times and abs(proc.create_time() - create_times[pid]) > 0.05:
                continue
            if proc.status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def session_members(sid: int) -> list[int]:
    """Live processes of session ``sid``."""
    out = []
    for proc in psutil.process_iter(["pid", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if os.getsid(proc.info["pid"]) == sid:
                out.append(proc.info["pid"])
        except OSError:
            pass
    return out
