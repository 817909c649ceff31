"""Quiet updates: set a widget's title or content only when it changes.

Textual repaints a widget whenever its ``border_title`` is assigned or a Static is updated, even
with the same value; each repaint rewrites the widget's every line on the terminal. A poll that
changes nothing must write nothing (over a slow SSH link those bytes are the whole link).
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from textual.widget import Widget
from textual.widgets import Static


def set_title(widget: Widget, title: str) -> None:
    """Assign ``border_title`` only when it differs."""
    if str(widget.border_title or "") != title:
        widget.border_title = title


def set_subtitle(screen: Any, subtitle: str) -> None:
    if screen.sub_title != subtitle:
        screen.sub_title = subtitle


def update_static(static: Static, renderable: RenderableType, key: Any) -> bool:
    """``static.update(renderable)`` unless ``key`` (what the renderable shows) is the last one shown."""
    if getattr(static, "_quiet_key", object()) == key:
        return False
    static._quiet_key = key  # type: ignore[attr-defined]
    static.update(renderable)
    return True
