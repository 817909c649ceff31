"""Where the CLI writes: data on stdout, diagnostics on stderr, colour by --color and NO_COLOR."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from console.stdio import stdout_is_terminal, write_bytes  # noqa: F401  (re-exported: commands import them from here)

if TYPE_CHECKING:  # both load on first use: `rollout --help` needs neither rich's Console nor the config
    from pathlib import Path

    from rich.console import Console

    from engine.config_models import ConfigValues as Config


def make_console(color: str = "auto", stderr: bool = False) -> Console:
    """A rich Console honouring ``--color auto|always|never`` and NO_COLOR."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if color == "never" or (color == "auto" and os.environ.get("NO_COLOR")):
        return Console(file=stream, no_color=True, color_system=None, highlight=False, soft_wrap=True)
    if color == "always":
        return Console(file=stream, force_terminal=True, highlight=False, soft_wrap=True)
    return Console(file=stream, highlight=False, soft_wrap=True)


def error_line(color: str, message: str) -> None:
    """``rollout: error: <message>`` on stderr: how every engine error ends a command."""
    make_console(color, stderr=True).print(f"rollout: error: {message}", markup=False, highlight=False)


@dataclass
class CliState:
    """Global options, shared by every command through ``ctx.obj``."""

    workspace_flag: str | None = None
    config_path: str | None = None
    color: str = "auto"
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            from engine.config import load_config

            self._config = load_config(self.config_path)
        return self._config

    @property
    def workspace(self) -> Path:
        """The workspace, found without validating the whole config (same precedence; a reading
        command need not load pydantic-settings). A config that cannot be read is loaded in full,
        which raises its one-line error."""
        from pathlib import Path

        from engine.errors import InputError
        from engine.locations import quick_workspace

        if self._config is None:
            try:
                return Path(quick_workspace(self.workspace_flag, self.config_path))
            except InputError:
                pass
        return self.config.workspace_path(self.workspace_flag)

    @property
    def out(self) -> Console:
        return make_console(self.color)

    @property
    def err(self) -> Console:
        return make_console(self.color, stderr=True)

    def echo_err(self, message: str) -> None:
        """One diagnostic line on stderr, as it is (paths and ids print as they are; no rich
        Console is needed for that, and a job's first request need not wait for rich to load)."""
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


#: the version of every JSON object a reading command prints (bump when a field changes meaning)
SCHEMA_VERSION = 1


def versioned(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with ``schema_version`` first, as every ``--json`` object carries it."""
    return {"schema_version": SCHEMA_VERSION, **data}


def print_json(data: Any) -> None:
    """Machine-readable data on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_jsonl(record: dict[str, Any]) -> None:
    """One JSON object on one stdout line (``--jsonl`` ticks), flushed at once."""
    sys.stdout.write(json.dumps(record, default=str, ensure_ascii=False, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def print_jsonl_many(records: Iterable[dict[str, Any]], chunk: int = 512) -> None:
    """JSON Lines on stdout, written in chunks (``--json`` of long lists: one write per line
    would cost a system call each). orjson encodes them: 10,000 history rows in a few ms."""
    import orjson

    batch: list[bytes] = []
    for record in records:
        batch.append(orjson.dumps(record, default=str))
        if len(batch) >= chunk:
            write_bytes(b"\n".join(batch) + b"\n")
            batch = []
    if batch:
        write_bytes(b"\n".join(batch) + b"\n")


def orjson_line(record: dict[str, Any]) -> str:
    """``record`` as one compact JSON line (no newline), as print_jsonl_many writes it."""
    import orjson

    return orjson.dumps(record, default=str).decode()
