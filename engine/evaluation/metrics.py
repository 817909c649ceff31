"""pass@1 and the unbiased pass@k estimator, plus the per-problem table and status counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k = 1 - C(n-c, k) / C(n, k) for n samples of which c passed.

    Computed as a running product (Chen et al. 2021) so large n never overflows or loses precision.
    """
    if n <= 0 or k <= 0:
        raise ValueError("pass@k needs n >= 1 and k >= 1")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


@dataclass
class ProblemScore:
    n: int = 0
    c: int = 0
    statuses: Counter[str] = field(default_factory=Counter)


def score(results: Iterable[dict[str, Any]], ks: Iterable[int] = (1,)) -> dict[str, Any]:
    """Metrics of result lines ``{problem_id, status, passed}``.

    pass@k is averaged over problems that have at least k samples; a k that no problem reaches is
    left out. ERROR and SKIP results (verdict unknown) are not counted as samples.
    """
    problems: dict[str, ProblemScore] = {}
    statuses: Counter[str] = Counter()
    for r in results:
        status = str(r.get("status"))
        statuses[status] += 1
        if status in ("ERROR", "SKIP"):
            continue
        p = problems.setdefault(str(r["problem_id"]), ProblemScore())
        p.n += 1
        p.c += 1 if r.get("passed") else 0
        p.statuses[status] += 1
    out: dict[str, Any] = {
        "problems": len(problems),
        "samples": sum(p.n for p in problems.values()),
        "passed": sum(p.c for p in problems.values()),
        "status_counts": dict(sorted(statuses.items())),
    }
    for k in sorted(set(ks) | {1}):
        eligible = [p for p in problems.values() if p.n >= k]
        if not eligible or (k > 1 and len(eligible) < len(problems)):
            continue
        out[f"pass@{k}"] = sum(pass_at_k(p.n, p.c, k) for p in eligible) / len(eligible)
    out["per_problem"] = {
        pid: {"n": p.n, "c": p.c, "pass@1": p.c / p.n if p.n else 0.0, "statuses": dict(p.statuses)}
        for pid, p in sorted(problems.items())
    }
    return out
