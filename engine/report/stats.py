"""Summary statistics of a figure over instances: n, mean, median, std, 95% CI, min, max.

The 95% confidence interval of the mean is Student's t interval (mean ± t₀.₉₇₅,ₙ₋₁ · s/√n):
small phases (4 or 10 instances) would get far too narrow an interval from the normal 1.96.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any, Iterable

#: t quantile 0.975 for 1..30 degrees of freedom; beyond 30 the normal value is within 2%
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    if df <= 0:
        return math.nan
    if df <= len(T975):
        return T975[df - 1]
    return statistics.NormalDist().inv_cdf(0.975) * (1 + 1 / (4 * df))  # Cornish-Fisher first term


@dataclass
class Summary:
    n: int
    mean: float | None = None
    median: float | None = None
    std: float | None = None
    ci95_low: float | None = None
    ci95_high: float | None = None
    min: float | None = None
    max: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _r(x: float) -> float:
    return round(x, 6)


def summarize(values: Iterable[float | None]) -> Summary:
    """The summary of the non-missing values (sample std; CI needs two or more values)."""
    xs = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not xs:
        return Summary(n=0)
    mean = statistics.fmean(xs)
    out = Summary(n=len(xs), mean=_r(mean), median=_r(statistics.median(xs)), min=_r(min(xs)), max=_r(max(xs)))
    if len(xs) >= 2:
        std = statistics.stdev(xs)
        half = t975(len(xs) - 1) * std / math.sqrt(len(xs))
        out.std, out.ci95_low, out.ci95_high = _r(std), _r(mean - half), _r(mean + half)
    else:
        out.std = 0.0
    return out


def proportion_ci(successes: int, n: int) -> tuple[float | None, float | None]:
    """Wilson's 95% interval of a rate (it stays inside [0, 1] at 0/n and n/n, unlike the t interval)."""
    if n <= 0:
        return None, None
    z = statistics.NormalDist().inv_cdf(0.975)
    p = successes / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return _r(max(centre - half, 0.0)), _r(min(centre + half, 1.0))
