"""A memo of the config's merged values, so that a load need not import pydantic-settings.

pydantic-settings (file < environment < flags) takes ~40 ms to import, an eighth of a processing
run's start-up budget (issue 13), and the config rarely changes between runs. :func:`load_config`
keeps the merged values here, under a key made of everything the merge reads: the config file's
path and bytes, every ``ROLLOUT_*`` environment variable (read case-insensitively, as
pydantic-settings does) and the bytes of the models' module (a changed model is a new key).

On recall the kept values are validated again by the plain models (engine/config_models.py):
the memo skips the merge, never the checks. One entry, at ``<workspace>/cache/config-memo.json``
(ROLLOUT_HOME, else the per-user state dir), written atomically with mode 0600 (it names the
config's endpoints); any problem reading or writing it just means a full load.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from engine.config_models import ConfigValues
from engine.locations import workspace_dir
from engine.runs import atomic_write_json

MEMO_VERSION = 1
ENV_PREFIX = "ROLLOUT_"


def memo_path() -> Path:
    return Path(workspace_dir()) / "cache" / "config-memo.json"


def memo_key(path: Path | None) -> str | None:
    """The key of a load of ``path`` (None: no config file) in this environment, or None when
    the file cannot be read (the full load explains why)."""
    import engine.config_models as models

    h = hashlib.sha256(f"v{MEMO_VERSION}\0".encode())
    try:
        h.update(Path(models.__file__).read_bytes())
        if path is not None:
            h.update(b"\0file\0" + str(Path(path).resolve()).encode() + b"\0")
            h.update(Path(path).read_bytes())
    except OSError:
        return None
    for name in sorted(k for k in os.environ if k.upper().startswith(ENV_PREFIX)):
        h.update(b"\0env\0" + name.encode() + b"=" + os.environ[name].encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def recall(key: str) -> ConfigValues | None:
    """The values kept under ``key``, validated again; None when there are none (or they no
    longer validate)."""
    try:
        data = json.loads(memo_path().read_bytes())
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        values = ConfigValues.model_validate(data["values"])
    except Exception:  # a missing, torn or outdated memo: the full load decides
        return None
    values.source_file = data.get("source_file")
    return values


def keep(key: str, config: ConfigValues) -> None:
    """Keep ``config``'s values under ``key`` (best effort: a read-only workspace keeps none)."""
    body: dict[str, Any] = {"key": key, "values": config.model_dump(mode="json"), "source_file": config.source_file}
    target = memo_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(target, body)  # mkstemp's file: mode 0600
    except OSError:
        return
