"""Where a batch run's API is and how it authenticates: flags, then the run's record, then the config.

The key is read from the environment or a key file each time a process needs it (never from a
flag value, never written anywhere); the record keeps only the *names* of those sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.batchapi.client import BatchClient
from engine.batchapi.options import BatchOptionsBase
from engine.batchapi.record import BatchRecord
from engine.processor.endpoints import resolve_endpoint
from engine.processor.plan import Endpoint, read_key


@dataclass
class Target:
    """The API base URL and the names of the key sources."""

    url: str
    api_key_env: str | None = None
    api_key_file: Path | None = None

    def client(self) -> BatchClient:
        """A client with the key read now (InputError, exit 2, when a named source is empty)."""
        return BatchClient(self.url, read_key(self))  # type: ignore[arg-type]  # duck-typed key sources


def resolve_target(config: Any, opt: BatchOptionsBase, record: BatchRecord | None = None) -> Target:
    """``--url``/``--endpoint`` and key flags win; else the run's record; else the config's endpoint."""
    if record is not None and not opt.url and not opt.endpoint:
        return Target(record.url, opt.api_key_env or (None if opt.api_key_file else record.api_key_env),
                      opt.api_key_file or (Path(record.api_key_file) if record.api_key_file and not opt.api_key_env
                                           else None))
    ep = resolve_endpoint(config, url=opt.url, name=opt.endpoint)
    base = Endpoint.parse(ep.url).base
    key_env = opt.api_key_env or (None if opt.api_key_file else ep.api_key_env)
    key_file = opt.api_key_file or (None if opt.api_key_env else ep.api_key_file)
    return Target(base, key_env, key_file)
