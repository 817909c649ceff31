"""Text histograms of a figure's distribution, as in seed 004's reports.

::

    Overall (n=10)
    [0.0, 0.1) │██████▌                         2
    [0.1, 0.2) │                                0
    ...
    [0.9, 1.0] │████████████████████████████    8
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

BLOCKS = " ▏▎▍▌▋▊▉█"


@dataclass
class Bins:
    edges: list[float]
    counts: list[int]


def bin_values(values: Iterable[float | None], lo: float, hi: float, bins: int) -> Bins:
    """Counts in ``bins`` equal bins over [lo, hi]; the last bin is closed; outside values clamp."""
    xs = [float(v) for v in values if v is not None]
    width = (hi - lo) / bins if hi > lo else 1.0
    edges = [round(lo + i * width, 10) for i in range(bins + 1)]
    counts = [0] * bins
    for x in xs:
        i = int((x - lo) / width) if hi > lo else 0
        counts[min(max(i, 0), bins - 1)] += 1
    return Bins(edges, counts)


def _bar(count: int, peak: int, width: int) -> str:
    if peak <= 0 or count <= 0:
        return ""
    eighths = max(1, round(count / peak * width * 8))
    return "█" * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")


def _fmt(x: float, decimals: int) -> str:
    return f"{x:.{decimals}f}"


def text_histogram(values: Iterable[float | None], title: str, *, lo: float = 0.0, hi: float = 1.0,
                   bins: int = 10, width: int = 30, decimals: int = 1, unit: str = "") -> str:
    """A titled text histogram of the non-missing values."""
    xs = [float(v) for v in values if v is not None]
    b = bin_values(xs, lo, hi, bins)
    peak = max(b.counts) if b.counts else 0
    labels = []
    for i in range(bins):
        close = "]" if i == bins - 1 else ")"
        labels.append(f"[{unit}{_fmt(b.edges[i], decimals)}, {unit}{_fmt(b.edges[i + 1], decimals)}{close}")
    lw = max(len(s) for s in labels)
    lines = [f"{title} (n={len(xs)})"]
    for label, c in zip(labels, b.counts):
        lines.append(f"{label:<{lw}} │{_bar(c, peak, width):<{width}} {c}")
    return "\n".join(lines)
