"""Where the CLI writes: data on stdout, diagnostics on stderr, colour by --color and NO_COLOR."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from engine.config import Config, load_config


def make_console(color: str = "auto", stderr: bool = False) -> Console:
    """A rich Console honouring ``--color auto|always|never`` and NO_COLOR."""
    stream = sys.stderr if stderr else sys.stdout
    if color == "never" or (color == "auto" and os.environ.get("NO_COLOR")):
        return Console(file=stream, no_color=True, color_system=None, highlight=False, soft_wrap=True)
    if color == "always":
        return Console(file=stream, force_terminal=True, highlight=False, soft_wrap=True)
    return Console(file=stream, highlight=False, soft_wrap=True)


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
            self._config = load_config(self.config_path)
        return self._config

    @property
    def workspace(self) -> Path:
        return self.config.workspace_path(self.workspace_flag)

    @property
    def out(self) -> Console:
        return make_console(self.color)

    @property
    def err(self) -> Console:
        return make_console(self.color, stderr=True)

    def echo_err(self, message: str) -> None:
        """One diagnostic line on stderr (markup off: paths and ids print as they are)."""
        self.err.print(message, markup=False, highlight=False)


def print_json(data: Any) -> None:
    """Machine-readable data on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()
