"""Suites turn solution lines into executions and verdicts: humaneval and stdio."""

from __future__ import annotations

from engine.evaluation.suites.base import Sample, SampleResult, Suite

__all__ = ["Sample", "SampleResult", "Suite", "make_suite"]


def make_suite(name: str, problems: str | None = None, **options: object) -> Suite:
    """Build and load the suite ``name`` (humaneval or stdio) from its problems file."""
    from engine.errors import InputError

    if name == "humaneval":
        from engine.evaluation.suites.humaneval import HumanEvalSuite

        return HumanEvalSuite(problems, **options)  # type: ignore[arg-type]
    if name == "stdio":
        from engine.evaluation.suites.stdio import StdioSuite

        if not problems:
            raise InputError("the stdio suite needs a problems file: pass --problems FILE")
        return StdioSuite(problems, **options)  # type: ignore[arg-type]
    raise InputError(f"unknown suite {name!r}: use humaneval or stdio")
