"""API keys, read from an environment variable or a key file at the moment they are needed.

Standard library only: the processor reads its key without loading the config's pydantic models.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import InputError


def read_api_key(env_var: str | None = None, key_file: str | None = None) -> str | None:
    """An API key from an environment variable or a key file; never from a command line."""
    if env_var:
        value = os.environ.get(env_var)
        if value:
            return value.strip()
    if key_file:
        try:
            return Path(key_file).expanduser().read_text().strip() or None
        except OSError as exc:
            raise InputError(f"cannot read API key file {key_file}: {exc.strerror}: check the path") from None
    return None
