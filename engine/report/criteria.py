"""Phase criteria files: per phase, figures with thresholds; each checked pass/fail on a report.

The shipped example (:func:`seed004_path`) is seed 004's phase table. Format (TOML)::

    [[phase]]
    name = "phase-3"
    instances = 50
    title = "..."              # optional
    decision = "..."           # optional: what to do when it fails
    [phase.criteria]
    success_rate = ">= 0.50"
    overfit_gap_mean = "<= 0.15"
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import InputError

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq, "!=": operator.ne,
}
_EXPR = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


def parse_expr(text: str) -> tuple[str, float]:
    m = _EXPR.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not '<op> <number>' (op one of >= > <= < == !=)")
    return m.group(1), float(m.group(2))


class Phase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    instances: int = Field(ge=1)
    title: str = ""
    decision: str = ""
    criteria: dict[str, str] = Field(default_factory=dict)

    @field_validator("criteria")
    @classmethod
    def _check(cls, v: dict[str, str]) -> dict[str, str]:
        for expr in v.values():
            parse_expr(expr)
        return v


class CriteriaFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phase: list[Phase] = Field(min_length=1)


def seed004_path() -> Path:
    """The shipped criteria of seed 004's phase table."""
    return Path(__file__).with_name("criteria_seed004.toml")


def load_criteria(path: Path) -> CriteriaFile:
    """Read and validate a criteria file; one-line InputError naming the file and the problem."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: criteria file not found: check --criteria (example: {seed004_path()})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: invalid TOML ({exc}): fix the criteria file") from None
    try:
        return CriteriaFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{path}: {where}: {err['msg']}: see {seed004_path()} for the format") from None


def match_phase(crit: CriteriaFile, instances: int, name: str | None = None) -> Phase:
    """The phase named ``name``, else the one whose planned size is nearest ``instances``."""
    if name is not None:
        for p in crit.phase:
            if p.name == name:
                return p
        raise InputError(f"no phase {name!r} in the criteria file (has {', '.join(p.name for p in crit.phase)}): check --phase")
    return min(crit.phase, key=lambda p: (abs(p.instances - instances), p.instances))


@dataclass
class CriterionResult:
    figure: str
    op: str
    threshold: float
    value: float | None
    passed: bool | None  # None: the figure is not available

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_phase(phase: Phase, figures: Mapping[str, Any]) -> list[CriterionResult]:
    """Each criterion of ``phase`` against ``figures``: passed, failed, or n/a (figure missing)."""
    out = []
    for figure, expr in phase.criteria.items():
        op, threshold = parse_expr(expr)
        value = figures.get(figure)
        ok = None if not isinstance(value, (int, float)) else OPS[op](float(value), threshold)
        out.append(CriterionResult(figure, op, threshold, value if isinstance(value, (int, float)) else None, ok))
    return out
