"""A response cache on disk: 200 answers keyed by custom_id *and* request body.

Never keyed by body alone: pass@k requests share a body and must stay distinct samples. One small
JSON file per answer under ``<dir>/<2 hex>/<sha256>.json``, written atomically (temp + rename)
so a crash never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson

from engine.batchio import body_hash


def cache_key(custom_id: str, body: Any) -> str:
    """sha256 of the custom_id and the body's hash (sorted keys)."""
    return hashlib.sha256(f"{custom_id}\n{body_hash(body)}".encode("utf-8", "surrogatepass")).hexdigest()


class ResponseCache:
    """``get``/``put`` of the ``response`` object (status_code, request_id, body) of 200 answers."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            data = orjson.loads(self._path(key).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        if isinstance(data, dict) and data.get("status_code") == 200 and isinstance(data.get("body"), dict):
            return data
        return None

    def put(self, key: str, response: dict[str, Any]) -> None:
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(orjson.dumps(response))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
