"""The one table of warn/critical thresholds for box figures.

The console's box panel, ``rollout monitor`` and the default alert rules (engine.alerts) all read
their limits here, so a figure turns yellow, turns red and raises an alert at the same numbers
wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Threshold:
    """Warn and critical limits of one figure; ``higher_is_worse`` False for free space."""

    warn: float
    crit: float
    higher_is_worse: bool = True

    def level(self, value: float | None) -> str:
        """``ok``, ``warn`` or ``crit`` (``ok`` when the value is unknown)."""
        if value is None:
            return "ok"
        if self.higher_is_worse:
            return "crit" if value >= self.crit else "warn" if value >= self.warn else "ok"
        return "crit" if value < self.crit else "warn" if value < self.warn else "ok"


#: percentages unless said otherwise
THRESHOLDS: dict[str, Threshold] = {
    "cpu": Threshold(90.0, 98.0),
    "mem": Threshold(90.0, 95.0),
    "swap": Threshold(50.0, 80.0),
    "disk_free": Threshold(20.0, 10.0, higher_is_worse=False),
    "load_per_core": Threshold(1.0, 2.0),
    # a busy GPU is good news: never coloured as a problem (gpu_idle is an alert rule of its own)
    "gpu_util": Threshold(101.0, 101.0),
    "gpu_mem": Threshold(90.0, 95.0),
    "gpu_temp": Threshold(80.0, 90.0),  # °C
    "gpu_power": Threshold(95.0, 100.0),  # % of the power limit
}


def level(figure: str, value: float | None) -> str:
    """``ok``, ``warn`` or ``crit`` for a figure of :data:`THRESHOLDS` (``ok`` for unknown figures)."""
    threshold = THRESHOLDS.get(figure)
    return threshold.level(value) if threshold is not None else "ok"
