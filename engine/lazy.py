"""Package attributes that load their module on first use (PEP 562).

A package ``__init__`` that re-exports from heavy submodules makes every import of any of its
light submodules pay for all of them (``engine.processor.options`` would load aiohttp). With
``__getattr__ = lazy_attributes(__name__, {...})`` the re-exported names stay, loaded when used.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_attributes(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``name`` from ``<package>.<homes[name]>``."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{home}"), name)

    return __getattr__
