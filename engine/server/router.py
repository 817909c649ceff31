"""sglang-router in front of workers: the worker list (flags or a file) and each worker's health.

The router (``python -m sglang_router.launch_router``) answers ``GET /workers`` with every
worker it has registered: ``{"workers": [{"url", "is_healthy", "load", "model_id", ...}], ...}``.
A worker that was never reachable is not registered yet, so it is missing from that list: it is
reported here as ``pending``. ``GET /readiness`` is 503 until at least one worker is healthy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from engine.errors import InputError


def normalize_worker_url(url: str) -> str:
    """``host:port`` -> ``http://host:port``; no trailing slash."""
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


def read_worker_file(path: Path) -> list[str]:
    """Worker URLs from a file: one per line; blank lines and ``#`` comments ignored."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--worker-file {path} not found: write one worker URL per line (http://HOST:PORT)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--worker-file {path} cannot be read: {exc}") from None
    urls = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if " " in line or "\t" in line:
            raise InputError(f"--worker-file {path} line {lineno}: {line!r} is not one URL: one worker URL per line")
        urls.append(normalize_worker_url(line))
    return urls


def worker_urls(flags: list[str], file: Path | None) -> list[str]:
    """The router's workers from ``--worker-urls`` (space or comma separated) and ``--worker-file``, deduplicated."""
    urls = [normalize_worker_url(u) for item in flags for u in item.split(",") if u.strip()]
    if file is not None:
        urls += read_worker_file(file)
    if not urls:
        raise InputError("rollout serve router needs workers: --worker-urls URL [URL ...] or --worker-file FILE")
    return list(dict.fromkeys(urls))


@dataclass
class WorkerHealth:
    """One worker as the router sees it. ``state``: healthy, unhealthy, or pending (not registered)."""

    url: str
    state: str
    load: int | None = None
    model: str | None = None


@dataclass
class RouterHealth:
    """Every worker's health; configured workers the router has not registered are ``pending``."""

    workers: list[WorkerHealth]

    @property
    def healthy(self) -> int:
        return sum(1 for w in self.workers if w.state == "healthy")

    def figures(self) -> dict[str, Any]:
        """State figures: the table (for the console's server view) and one scalar line."""
        return {"workers": [asdict(w) for w in self.workers],
                "workers_healthy": f"{self.healthy}/{len(self.workers)}"}


def parse_workers(body: Any, configured: list[str]) -> RouterHealth:
    """Read the router's ``GET /workers`` answer; add configured workers it has not registered."""
    listed = body.get("workers") if isinstance(body, dict) else None
    if not isinstance(listed, list):
        raise ValueError("no 'workers' list")
    seen: dict[str, WorkerHealth] = {}
    for w in listed:
        if not isinstance(w, dict) or not w.get("url"):
            continue
        url = normalize_worker_url(str(w["url"]))
        healthy = w.get("is_healthy")
        load = w.get("load")
        seen[url] = WorkerHealth(url, "healthy" if healthy else "unhealthy" if healthy is not None else "unknown",
                                 int(load) if isinstance(load, (int, float)) and load >= 0 else None,
                                 str(w["model_id"]) if w.get("model_id") not in (None, "unknown") else None)
    ordered = [seen.pop(u) if u in seen else WorkerHealth(u, "pending") for u in configured]
    return RouterHealth(ordered + list(seen.values()))


async def router_health(client: httpx.AsyncClient, url: str, configured: list[str],
                        headers: dict[str, str] | None = None) -> RouterHealth | None:
    """Each worker's health from the router at ``url``; None when it has no ``/workers`` (not a router)."""
    try:
        resp = await client.get(url.rstrip("/") + "/workers", headers=headers or {})
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return None
    try:
        return parse_workers(resp.json(), configured)
    except ValueError:
        return None
