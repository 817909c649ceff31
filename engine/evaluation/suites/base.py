"""The suite interface and the records it produces."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from engine.batchio import iter_jsonl
from engine.errors import InputError
from engine.evaluation.executors.base import RunResult, RunSpec, Status

#: runs a spec through the executor under the job's concurrency limit
RunFn = Callable[[RunSpec], Awaitable[RunResult]]
#: source larger than this is not compiled in the parent (guards the pre-check's time and memory)
MAX_SOURCE_BYTES = 2 << 20


@dataclass
class Sample:
    """One solution line. ``key`` is stable across reruns (the line number) for resume."""

    key: str
    line: int
    problem_id: str
    data: dict[str, Any]
    error: str | None = None


@dataclass
class SampleResult:
    """The verdict of one sample: overall status, tests passed, and per-test statuses."""

    key: str
    line: int
    problem_id: str
    status: Status
    tests_passed: int = 0
    tests_total: int = 0
    detail: str = ""
    wall_s: float = 0.0
    tests: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status is Status.AC

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "line": self.line, "problem_id": self.problem_id, "status": self.status.value,
            "passed": self.passed, "tests_passed": self.tests_passed, "tests_total": self.tests_total,
            "detail": self.detail[:500], "wall_s": round(self.wall_s, 4), "tests": self.tests,
        }


def python_compile_error(source: str) -> str | None:
    """The SyntaxError of ``source`` (what py_compile reports), or None when it compiles."""
    if len(source.encode("utf-8", "replace")) > MAX_SOURCE_BYTES:
        return f"source over {MAX_SOURCE_BYTES} bytes"
    try:
        compile(source, "main.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"{type(exc).__name__}: {exc.msg} (line {exc.lineno})"
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def looks_like_dataset(spec: str) -> bool:
    """``NAME`` or ``ORG/NAME[:SPLIT]`` that is not an existing path: a Hugging Face dataset."""
    return not Path(spec).exists() and not spec.endswith((".jsonl", ".json", ".gz")) and spec.count("/") <= 1


def dataset_rows(spec: str, default_split: str = "test") -> list[dict[str, Any]]:
    """Rows of the Hugging Face dataset ``NAME[:SPLIT]`` (cached or downloaded by ``datasets``)."""
    name, _, split = spec.partition(":")
    try:
        import datasets

        ds = datasets.load_dataset(name, split=split or default_split)
    except Exception as exc:  # datasets raises many types (connection, missing split, bad name)
        raise InputError(
            f"--problems {spec}: not a file, and loading it as a Hugging Face dataset failed "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}): pass a problems file or NAME[:SPLIT]"
        ) from None
    return [dict(r) for r in ds]


def iter_solution_lines(path: Path, id_fields: tuple[str, ...]) -> Iterator[Sample]:
    """Samples of a solution JSONL, streamed; bad lines come back with ``error`` set."""
    for lineno, raw in iter_jsonl(path):
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            yield Sample(f"L{lineno}", lineno, "?", {}, f"line {lineno} is not JSON")
            continue
        if not isinstance(obj, dict):
            yield Sample(f"L{lineno}", lineno, "?", {}, f"line {lineno} is not a JSON object")
            continue
        pid = next((obj[f] for f in id_fields if obj.get(f) is not None), None)
        if pid is None:
            yield Sample(f"L{lineno}", lineno, "?", obj, f"line {lineno} has none of the fields {', '.join(id_fields)}")
            continue
        yield Sample(f"L{lineno}", lineno, str(pid), obj)


class Suite(abc.ABC):
    """Loads problems, reads samples, and judges one sample with an executor."""

    name = "suite"

    @abc.abstractmethod
    def samples(self, path: Path) -> Iterator[Sample]:
        """The samples of one solution file, in file order."""

    @abc.abstractmethod
    def tests_for(self, sample: Sample) -> int:
        """How many executions judging ``sample`` takes (for the plan and progress)."""

    @abc.abstractmethod
    async def judge(self, sample: Sample, run: RunFn) -> SampleResult:
        """The verdict of ``sample``. Never raises for a solution's own failure."""

    def describe(self) -> dict[str, Any]:
        return {"suite": self.name}


async def gather_limited(coros: list[Awaitable[Any]], limit: int) -> list[Any]:
    """Await ``coros`` at most ``limit`` at a time, results in order."""
    sem = asyncio.Semaphore(max(1, limit))

    async def one(c: Awaitable[Any]) -> Any:
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))
