"""stdio problems: a program reads stdin and writes stdout, judged per test by a checker or by
whitespace-normalised comparison. Solutions are the seed's ``{id, code, ...}`` lines."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.batchio import read_jsonl_objects
from engine.errors import InputError
from engine.evaluation.executors.base import RunResult, RunSpec, Status
from engine.evaluation.suites.base import (
    RunFn,
    Sample,
    SampleResult,
    Suite,
    dataset_rows,
    gather_limited,
    iter_solution_lines,
    looks_like_dataset,
    python_compile_error,
)

DEFAULT_TIME_LIMIT_S = 2.0
DEFAULT_MEMORY_MB = 256
#: stdout cap per run: generous, since expected outputs can be large
OUTPUT_LIMIT = 16 << 20


@dataclass
class StdioTest:
    input: str
    output: str
    generated: bool = False


@dataclass
class StdioProblem:
    id: str
    tests: list[StdioTest] = field(default_factory=list)
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    checker: str | None = None


def _tests(raw: Any, where: str, generated: bool) -> list[StdioTest]:
    if raw is None:
        return []
    if isinstance(raw, dict) and "input" in raw and isinstance(raw["input"], list):  # {input: [...], output: [...]}
        raw = [{"input": i, "output": o} for i, o in zip(raw["input"], raw.get("output") or [])]
    if not isinstance(raw, list):
        raise InputError(f"{where}: tests must be a list of {{input, output}}")
    out = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict):
            raise InputError(f"{where}: test {i} is not an object with input and output")
        inp, exp = t.get("input", t.get("stdin")), t.get("output", t.get("stdout", t.get("expected_output")))
        if not isinstance(inp, str) or not isinstance(exp, str):
            raise InputError(f"{where}: test {i} needs string input and output")
        out.append(StdioTest(inp, exp, generated))
    return out


def load_stdio_problems(path: str) -> dict[str, StdioProblem]:
    """Problems by id from a JSONL or JSON-list file.

    Fields: ``id`` (or problem_id/name), ``official_tests`` (or tests), ``generated_tests``,
    ``time_limit`` (seconds), ``memory_limit`` (MB), ``checker`` (or generated_checker; Python source).
    """
    p = Path(path)
    if looks_like_dataset(path):
        items = list(enumerate(dataset_rows(path), 1))
    elif not p.is_file():
        raise InputError(f"problems file {p} not found: pass --problems FILE (JSONL of stdio problems)")
    elif p.suffix == ".json":
        try:
            rows = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"problems file {p} is not valid JSON: {exc}") from None
        items = list(enumerate(rows if isinstance(rows, list) else [], 1))
    else:
        items = list(read_jsonl_objects(p))
    problems: dict[str, StdioProblem] = {}
    for lineno, row in items:
        where = f"{p}:{lineno}"
        pid = row.get("id", row.get("problem_id", row.get("name")))
        if pid is None:
            raise InputError(f"{where}: a problem needs an id")
        official = _tests(row.get("official_tests", row.get("tests")), where, False)
        generated = _tests(row.get("generated_tests"), where, True)
        try:
            tl = float(row.get("time_limit") or DEFAULT_TIME_LIMIT_S)
            ml = int(row.get("memory_limit") or DEFAULT_MEMORY_MB)
        except (TypeError, ValueError):
            raise InputError(f"{where}: time_limit (seconds) and memory_limit (MB) must be numbers") from None
        checker = row.get("checker") or row.get("generated_checker") or None
        problems[str(pid)] = StdioProblem(str(pid), official + generated, tl, ml, checker)
    if not problems:
        raise InputError(f"problems file {p} holds no problems")
    return problems


def normalise(text: str) -> list[str]:
    """Tokens of ``text``: any run of whitespace is one separator, leading/trailing ignored."""
    return text.split()


def checker_accepts(stdout: str) -> bool:
    """A checker accepts when it prints a positive number, OK/AC, or 1."""
    words = stdout.strip().split()
    if not words:
        return False
    first = words[0].upper().rstrip(".:!")
    if first in ("OK", "AC", "ACCEPTED", "CORRECT"):
        return True
    try:
        return float(first) > 0
    except ValueError:
        return False


class StdioSuite(Suite):
    """Each sample runs against the problem's tests (official first), stopping at the first failure."""

    name = "stdio"

    def __init__(self, problems: str, max_generated_tests: int | None = None, generated_tests_workers: int = 1,
                 time_scale: float = 1.0) -> None:
        self.problems_path = problems
        self.problems = load_stdio_problems(problems)
        self.max_generated_tests = max_generated_tests
        self.tests_workers = max(1, generated_tests_workers)
        self.time_scale = time_scale

    def describe(self) -> dict[str, Any]:
        return {"suite": self.name, "problems": len(self.problems), "problems_file": self.problems_path,
                "max_generated_tests": self.max_generated_tests}

    def tests_of(self, problem: StdioProblem) -> list[StdioTest]:
        official = [t for t in problem.tests if not t.generated]
        generated = [t for t in problem.tests if t.generated]
        if self.max_generated_tests is not None and self.max_generated_tests >= 0:
            generated = generated[: self.max_generated_tests]
        return official + generated

    def samples(self, path: Path) -> Iterator[Sample]:
        for s in iter_solution_lines(path, ("id", "problem_id")):
            if s.error is None and s.problem_id not in self.problems:
                s.error = f"line {s.line}: unknown problem id {s.problem_id!r}"
            yield s

    def tests_for(self, sample: Sample) -> int:
        p = self.problems.get(sample.problem_id)
        return len(self.tests_of(p)) if p else 0

    async def judge(self, sample: Sample, run: RunFn) -> SampleResult:
        problem = self.problems[sample.problem_id]
        tests = self.tests_of(problem)
        res = SampleResult(sample.key, sample.line, sample.problem_id, Status.AC, tests_total=len(tests))
        code = sample.data.get("code")
        t0 = time.monotonic()
        if not isinstance(code, str) or not code.strip():
            res.status, res.detail, res.tests = Status.CE, "no code in the solution", [Status.SKIP.value] * len(tests)
            return res
        err = python_compile_error(code)
        if err:
            res.status, res.detail, res.tests = Status.CE, err, [Status.SKIP.value] * len(tests)
            return res
        verdicts: list[tuple[Status, str]] = []
        for start in range(0, len(tests), self.tests_workers):
            chunk = tests[start:start + self.tests_workers]
            verdicts += await gather_limited([self._one(problem, code, t, run) for t in chunk], self.tests_workers)
            if any(v[0] is not Status.AC for v in verdicts):
                break
        res.wall_s = time.monotonic() - t0
        res.tests = [v[0].value for v in verdicts] + [Status.SKIP.value] * (len(tests) - len(verdicts))
        res.tests_passed = sum(1 for v in verdicts if v[0] is Status.AC)
        failed = next((v for v in verdicts if v[0] is not Status.AC), None)
        if failed:
            res.status, res.detail = failed
            res.detail = f"test {verdicts.index(failed) + 1}/{len(tests)}: {failed[1]}"
        return res

    async def _one(self, problem: StdioProblem, code: str, test: StdioTest, run: RunFn) -> tuple[Status, str]:
        out: RunResult = await run(RunSpec(code, stdin=test.input, time_limit_s=problem.time_limit_s * self.time_scale,
                                           memory_mb=problem.memory_mb, output_limit=OUTPUT_LIMIT))
        if out.status is not Status.AC:
            return out.status, out.detail
        if problem.checker:
            chk = await run(RunSpec(
                problem.checker, args=["input.txt", "correct_output.txt", "solution_output.txt"],
                files={"input.txt": test.input, "correct_output.txt": test.output, "solution_output.txt": out.stdout},
                time_limit_s=max(10.0, problem.time_limit_s), memory_mb=1024,
            ))
            if chk.status in (Status.ERROR, Status.TLE, Status.MLE, Status.OLE):
                return Status.ERROR, f"checker failed: {chk.status.value} {chk.detail}"
            return (Status.AC, "") if checker_accepts(chk.stdout) else (Status.WA, f"checker: {chk.stdout.strip()[:100]}")
        if normalise(out.stdout) == normalise(test.output):
            return Status.AC, ""
        return Status.WA, "output differs"
