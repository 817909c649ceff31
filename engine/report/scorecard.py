"""Seed 004's per-instance scorecard from harness test statuses.

For an instance whose FAIL_TO_PASS + PASS_TO_PASS tests are split public/hidden
(:mod:`engine.report.split`), with ``passed`` the tests the harness lists under ``success``:

- public pass rate = passed public / public; **HFS** (hidden fix score) = passed hidden / hidden
- **overfit gap** = public pass rate − HFS (positive: the patch does better on what it could see)
- **TSS** (test suite score) = passed / all FAIL_TO_PASS + PASS_TO_PASS tests
- **BRS** (bug reproduction success) = 1 when the generated reproduction test fails before the
  patch and passes after it, else 0; none without a reproduction result
- **Overall** = Σ wᵢ·figureᵢ / Σ wᵢ over HFS, TSS, BRS and resolved (1/0) — the figures the
  instance has; weights in the config's ``[scorecard.weights]`` (default 0.4, 0.3, 0.2, 0.1)
- **success** = Overall ≥ ``success_threshold`` (0.5); **resolved** is the harness's own verdict.

Statuses: ``scored`` (a report.json), ``unapplied`` (empty patch, or the patch did not apply:
every test counts as failed, the model's result), ``error`` (Docker, image, harness or test
timeout: no figures; left out of means and success rate, counted as errors).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from engine.config import ScorecardSettings
from engine.report.split import split_tests
from engine.swebench.dataset import EvalInstance
from engine.swebench.failures import INFRASTRUCTURE, PATCH, Failure
from engine.swebench.reports import InstanceReport

SCORED, UNAPPLIED, ERROR = "scored", "unapplied", "error"


@dataclass
class InstanceScore:
    """One instance's scorecard line (plus cost and time when known)."""

    instance_id: str
    repo: str
    status: str
    difficulty: str | None = None
    resolved: bool = False
    public_n: int = 0
    hidden_n: int = 0
    public_pass_rate: float | None = None
    hfs: float | None = None
    overfit_gap: float | None = None
    tss: float | None = None
    brs: float | None = None
    overall: float | None = None
    success: bool = False
    failure: dict[str, str] | None = None
    cost_usd: float | None = None
    samples: int | None = None
    rollout_time_s: float | None = None
    eval_time_s: float | None = None

    @property
    def counted(self) -> bool:
        """Does it count in means and the success rate (the model's result, not an infra error)?"""
        return self.status != ERROR

    @property
    def time_s(self) -> float | None:
        parts = [t for t in (self.rollout_time_s, self.eval_time_s) if t is not None]
        return round(sum(parts), 3) if parts else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["time_s"] = self.time_s
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "InstanceScore":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _rate(passed: set[str], tests: tuple[str, ...] | list[str]) -> float | None:
    if not tests:
        return None
    return round(sum(1 for t in tests if t in passed) / len(tests), 6)


def overall_score(figures: dict[str, float | None], settings: ScorecardSettings) -> float | None:
    """The weighted mean of the figures present (weights from ``settings.weights``)."""
    weights = settings.weights.model_dump()
    num = den = 0.0
    for name, w in weights.items():
        v = figures.get(name)
        if v is None or w <= 0:
            continue
        num += w * float(v)
        den += w
    return round(num / den, 6) if den else None


def score_instance(inst: EvalInstance, report: InstanceReport | None, settings: ScorecardSettings, *,
                   brs: float | None = None, failure: Failure | None = None, empty_patch: bool = False) -> InstanceScore:
    """The scorecard of one instance from its harness report (or why it has none)."""
    if report is not None and report.infra_failure_reason and failure is None:
        failure = Failure(f"harness_{report.infra_failure_reason}", INFRASTRUCTURE,
                          f"{inst.instance_id}: no test output, the harness flags an environment fault "
                          f"({report.infra_failure_reason}): check the image, then rerun without its report.json")
        report = None
    split = split_tests(inst.instance_id, inst.tests, settings.public_ratio, settings.split_seed)
    base = dict(instance_id=inst.instance_id, repo=inst.repo, difficulty=inst.difficulty,
                public_n=len(split.public), hidden_n=len(split.hidden))
    unapplied = empty_patch or (failure is not None and failure.kind == PATCH) or (
        report is not None and not report.patch_applied)
    if report is None and not unapplied:
        return InstanceScore(status=ERROR, failure=failure.to_dict() if failure else None, brs=brs, **base)
    passed = set() if unapplied or report is None else report.passed
    public, hidden = _rate(passed, split.public), _rate(passed, split.hidden)
    tss = _rate(passed, inst.tests)
    if unapplied:
        public, hidden, tss = (0.0 if split.public else None), (0.0 if split.hidden else None), (0.0 if inst.tests else None)
    resolved = bool(report.resolved) if report is not None and not unapplied else False
    gap = round(public - hidden, 6) if public is not None and hidden is not None else None
    overall = overall_score({"hfs": hidden, "tss": tss, "brs": brs, "resolved": 1.0 if resolved else 0.0}, settings)
    return InstanceScore(
        status=UNAPPLIED if unapplied else SCORED, resolved=resolved, public_pass_rate=public, hfs=hidden,
        overfit_gap=gap, tss=tss, brs=brs, overall=overall,
        success=overall is not None and overall >= settings.success_threshold,
        failure=failure.to_dict() if failure else ({"reason": "empty_patch", "kind": PATCH,
                                                     "message": f"{inst.instance_id}: empty patch"} if empty_patch else None),
        **base,
    )
