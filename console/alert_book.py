"""What the console remembers about alerts: active ones, recent raises and clears, and which the
person acknowledged or muted. Owned by the app (screens come and go); pure data, no widgets."""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Iterable

from console.screens.workspace_poll import AlertRow

#: raises and clears kept for the alerts view
RECENT_MAX = 100


@dataclass(frozen=True)
class AlertChange:
    """One raise or clear the console saw."""

    time: float
    change: str  # raised | cleared | ended (its run finished)
    row: AlertRow


class AlertBook:
    """Active alerts by (run id, rule), recent changes, acknowledgements and mutes."""

    def __init__(self, recent_max: int = RECENT_MAX) -> None:
        self.active: dict[tuple[str, str], AlertRow] = {}
        self.recent: collections.deque[AlertChange] = collections.deque(maxlen=recent_max)
        self.acknowledged: set[tuple[str, str]] = set()
        #: (rule, run id) pairs; run id None mutes the rule in every run
        self.muted: set[tuple[str, str | None]] = set()

    def is_muted(self, row: AlertRow) -> bool:
        return (row.name, row.run_id) in self.muted or (row.name, None) in self.muted

    def is_acknowledged(self, row: AlertRow) -> bool:
        return row.key in self.acknowledged

    def update(self, rows: Iterable[AlertRow], live_runs: set[str], now: float) -> list[AlertRow]:
        """Take a poll's active alerts; return the newly raised ones a person should be told
        about (not muted). A clear is recorded, never announced."""
        current = {r.key: r for r in rows}
        raised = [r for k, r in current.items() if k not in self.active]
        for key, row in self.active.items():
            if key not in current:
                # a run that finished takes its alerts with it: that is not the condition clearing
                self.recent.appendleft(AlertChange(now, "cleared" if row.run_id in live_runs else "ended", row))
                self.acknowledged.discard(key)  # raised again later, it is news again
        for row in raised:
            self.recent.appendleft(AlertChange(row.since or now, "raised", row))
        self.active = current
        return [r for r in raised if not self.is_muted(r)]

    def acknowledge(self, key: tuple[str, str]) -> None:
        if key in self.active:
            self.acknowledged.add(key)

    def mute(self, rule: str, run_id: str | None) -> None:
        self.muted.add((rule, run_id))

    def unmute_all(self) -> None:
        self.muted.clear()

    def sorted_active(self) -> list[AlertRow]:
        """Critical first, unacknowledged before acknowledged, newest first."""
        return sorted(self.active.values(), key=lambda a: (
            a.severity != "critical", self.is_muted(a), a.key in self.acknowledged, -(a.since or 0.0), a.run_id, a.name))
