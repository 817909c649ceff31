"""Named endpoints from the config (``[endpoints.NAME]``) for ``rollout process --endpoint NAME``.

Precedence: ``--url`` wins; else ``--endpoint NAME``; else the config's ``default_endpoint``;
else the built-in default URL. Flags given on the command line (``--api-key-env``,
``--api-key-file``, ``--model``) win over the endpoint's own settings.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.errors import InputError
from engine.processor.options import DEFAULT_URL


@dataclass
class ResolvedEndpoint:
    """Where a run sends requests, and how it authenticates (names of the key sources only)."""

    url: str
    name: str | None = None
    api_key_env: str | None = None
    api_key_file: Path | None = None
    model: str | None = None
    max_concurrency: int | None = None


def resolve_endpoint(config: Any, *, url: str | None, name: str | None) -> ResolvedEndpoint:
    """The endpoint for a run from ``--url`` / ``--endpoint`` / ``default_endpoint``.

    Raises InputError (exit 2) for an endpoint name the config does not define, naming the
    config file and the names it does define.
    """
    if url:
        return ResolvedEndpoint(url=url)
    endpoints = dict(getattr(config, "endpoints", None) or {})
    chosen = name or getattr(config, "default_endpoint", None)
    if not chosen:
        return ResolvedEndpoint(url=DEFAULT_URL)
    ep = endpoints.get(chosen)
    if ep is None:
        where = getattr(config, "source_file", None) or "the config (no config file found)"
        known = ", ".join(sorted(endpoints)) or "none"
        flag = "--endpoint" if name else "default_endpoint"
        raise InputError(f"{flag} {chosen!r} is not defined in {where} (endpoints: {known}): "
                         f"add [endpoints.{chosen}] with a url, or pick a defined name")
    return ResolvedEndpoint(url=ep.url, name=chosen, api_key_env=ep.api_key_env,
                            api_key_file=Path(ep.api_key_file).expanduser() if ep.api_key_file else None,
                            model=ep.model, max_concurrency=ep.max_concurrency)


def is_local_url(url: str) -> bool:
    """True for a loopback host (127.x, ::1, localhost): a server on this box, likely on its GPUs."""
    host = (urlsplit(url.strip()).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def gpus_present(source: Any = None) -> bool:
    """Does this box have a GPU a local server could be using? (NVML, probed once.)

    A processing run against a local server sets ``targets_gpu`` only then: engine/alerts'
    gpu_idle rule, and the monitor sampler it starts, have nothing to watch on a box without
    GPUs. ``source`` is an engine.monitor GpuSource (tests pass a RecordedSource).
    """
    if source is None and sys.platform.startswith("linux") and not any(
            os.path.exists(p) for p in ("/dev/nvidiactl", "/proc/driver/nvidia")):
        return False  # no NVIDIA driver: nothing for NVML to find, and loading it costs ~50 ms of CPU
    from engine.monitor.gpu import NvmlSource

    src = source if source is not None else NvmlSource()
    try:
        return bool(src.read().available)
    except Exception:  # NVML may fail in odd ways on broken drivers: treat as "no GPU"
        return False
    finally:
        if source is None:
            src.close()
