"""Figure histories for the run views' sparklines: one point per new state write, bounded."""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Sparkline, Static

#: points kept per figure (one per state write the console saw, ~1 per refresh)
HISTORY = 120


class FigureHistory:
    """``add(stamp, {name: value})`` once per state write (the same stamp twice adds nothing)."""

    def __init__(self, size: int = HISTORY) -> None:
        self.size = size
        self.series: dict[str, deque[float]] = {}
        self._stamp: Any = None

    def add(self, stamp: Any, values: dict[str, Any]) -> bool:
        if stamp is not None and stamp == self._stamp:
            return False
        self._stamp = stamp
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.series.setdefault(name, deque(maxlen=self.size)).append(float(value))
        return True

    def get(self, name: str) -> list[float]:
        return list(self.series.get(name, ()))


class SparkRow(Horizontal):
    """``label  value  ▁▂▃▅▇`` on one line; redrawn only when its text or data change."""

    DEFAULT_CSS = """
    SparkRow { height: 1; }
    SparkRow > .spark-label { width: 16; color: $text-muted; }
    SparkRow > .spark-value { width: 14; }
    SparkRow > Sparkline { width: 1fr; min-width: 10; }
    """

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label
        self._value = Static("-", classes="spark-value")
        self._spark = Sparkline([])
        self._shown: tuple[str, tuple[float, ...]] | None = None

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="spark-label")
        yield self._value
        yield self._spark

    def show(self, value: str | Text, data: Iterable[float]) -> None:
        points = tuple(data)
        key = (str(value), points)
        if key == self._shown:
            return
        self._shown = key
        self._value.update(value)
        self._spark.data = list(points)
