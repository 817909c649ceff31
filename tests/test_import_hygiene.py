"""engine/ must never import textual or typer (DESIGN.md principle 1)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import engine

REPO = Path(__file__).resolve().parents[1]


def all_engine_modules() -> list[str]:
    # __main__ modules are entry scripts (they run when imported), not importable API
    return sorted(m.name for m in pkgutil.walk_packages(engine.__path__, prefix="engine.") if not m.name.endswith(".__main__"))


def test_engine_modules_exist() -> None:
    mods = all_engine_modules()
    assert "engine.runs" in mods and "engine.jobs" in mods and "engine.batchio" in mods


def test_importing_every_engine_module_loads_no_ui_library() -> None:
    mods = all_engine_modules()
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('textual', 'typer'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"engine imported UI libraries: {out.stdout.strip()}"
