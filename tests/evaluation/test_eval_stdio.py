"""stdio suite: official + generated tests, limits, checker, through the CLI and the local sandbox."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from engine.evaluation.executors.local import LocalExecutor
from engine.evaluation.suites.base import Sample
from engine.evaluation.suites.stdio import StdioSuite, checker_accepts, normalise

SUM = {
    "id": "sum",
    "time_limit": 1,
    "memory_limit": 128,
    "official_tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "10 -4\n", "output": "6"}],
    "generated_tests": [{"input": f"{i} {i}\n", "output": f"{2 * i}\n"} for i in range(6)],
}
# any pair whose sum is the given number is accepted: only a checker can judge it
PAIR = {
    "id": "pair",
    "official_tests": [{"input": "5\n", "output": "2 3\n"}, {"input": "8\n", "output": "4 4\n"}],
    "checker": (
        "import sys\n"
        "n = int(open(sys.argv[1]).read())\n"
        "try:\n"
        "    a, b = map(int, open(sys.argv[3]).read().split())\n"
        "except ValueError:\n"
        "    print(0); sys.exit(0)\n"
        "print(1 if a + b == n else 0)\n"
    ),
}

SOLUTIONS = {
    "ac": ("sum", "a, b = map(int, input().split())\nprint(a + b)"),
    "ac_spacing": ("sum", "a, b = map(int, input().split())\nprint('  ', a + b, '\\n\\n')"),
    "wa": ("sum", "a, b = map(int, input().split())\nprint(a - b)"),
    "wa_generated": ("sum", "a, b = map(int, input().split())\nprint(a + b if a != 3 else 0)"),
    "tle": ("sum", "while True:\n    pass"),
    "mle": ("sum", "x = bytearray(400 * 1024 * 1024)\nprint(3)"),
    "re": ("sum", "raise SystemExit(input() and 1)"),
    "ce": ("sum", "def f(:\n    pass"),
    "no_code": ("sum", ""),
    "checker_ac": ("pair", "n = int(input())\nprint(1, n - 1)"),
    "checker_wa": ("pair", "n = int(input())\nprint(1, n)"),
}


@pytest.fixture
def problems_file(tmp_path: Path) -> Path:
    p = tmp_path / "problems.jsonl"
    p.write_text(json.dumps(SUM) + "\n" + json.dumps(PAIR) + "\n")
    return p


async def test_statuses(problems_file: Path, tmp_path: Path) -> None:
    suite = StdioSuite(str(problems_file), generated_tests_workers=2)
    ex = LocalExecutor(tmp_root=tmp_path)
    await ex.start()
    try:
        results = await asyncio.gather(*(
            suite.judge(Sample(name, i, pid, {"id": pid, "code": code}), ex.run)
            for i, (name, (pid, code)) in enumerate(SOLUTIONS.items())
        ))
    finally:
        await ex.close()
    got = {name: r for name, r in zip(SOLUTIONS, results)}
    want = {"ac": "AC", "ac_spacing": "AC", "wa": "WA", "wa_generated": "WA", "tle": "TLE", "mle": "MLE",
            "re": "RE", "ce": "CE", "no_code": "CE", "checker_ac": "AC", "checker_wa": "WA"}
    assert {k: v.status.value for k, v in got.items()} == want, {k: v.detail for k, v in got.items()}
    assert got["ac"].tests_passed == got["ac"].tests_total == 8
    # official tests pass, the generated one with a = 3 fails; the tests after it are skipped
    wg = got["wa_generated"]
    assert wg.tests[:2] == ["AC", "AC"] and "WA" in wg.tests and wg.tests[-1] == "SKIP"
    assert got["ce"].tests == ["SKIP"] * 8 and "SyntaxError" in got["ce"].detail
    assert got["tle"].tests[0] == "TLE"


def test_generated_tests_cap(problems_file: Path) -> None:
    suite = StdioSuite(str(problems_file), max_generated_tests=2)
    s = Sample("L1", 1, "sum", {"id": "sum", "code": "x"})
    assert suite.tests_for(s) == 4
    assert StdioSuite(str(problems_file), max_generated_tests=0).tests_for(s) == 2
    assert StdioSuite(str(problems_file)).tests_for(s) == 8


def test_checker_output_and_normalisation() -> None:
    assert all(checker_accepts(x) for x in ["1", "OK", "ok\n", "AC", "2.5", "1 accepted"])
    assert not any(checker_accepts(x) for x in ["", "0", "-1", "WA", "wrong"])
    assert normalise(" 1  2\n3 \n\n") == normalise("1 2 3")


def test_stdio_through_the_cli(problems_file: Path, tmp_path: Path, rollout_cmd: list[str], child_env: dict) -> None:
    ckpt = tmp_path / "run" / "global_step500"
    ckpt.mkdir(parents=True)
    lines = [{"id": pid, "model": "m", "raw_response": "...", "code": code, "timestamp": 0}
             for pid, code in (SOLUTIONS["ac"], SOLUTIONS["wa"], SOLUTIONS["checker_ac"], SOLUTIONS["ce"])]
    (ckpt / "solutions.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "out"
    base = [*rollout_cmd, "eval", "checkpoints", "--suite", "stdio", "--problems", str(problems_file),
            "--solutions-dir", str(tmp_path / "run"), "--output-dir", str(out), "--max-generated-tests", "1",
            "--generated-tests-workers", "2", "--max-workers", "2", "--plain"]
    dry = subprocess.run([*base, "--dry-run"], capture_output=True, text=True, env=child_env, timeout=60)
    assert dry.returncode == 0 and "solutions.jsonl: 4 solution(s), 11 test(s)" in dry.stdout, dry.stdout
    proc = subprocess.run(base, capture_output=True, text=True, env=child_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "eval_checkpoint_500" / "metrics.json").read_text())
    assert m["overall"]["status_counts"] == {"AC": 2, "CE": 1, "WA": 1}
    assert m["overall"]["pass@1"] == pytest.approx((1 / 3 + 1) / 2)


def test_bad_problems_file_is_an_input_error(tmp_path: Path) -> None:
    from engine.errors import InputError

    bad = tmp_path / "p.jsonl"
    bad.write_text('{"id": "x", "official_tests": [{"input": 1}]}\n')
    with pytest.raises(InputError, match="p.jsonl:1"):
        StdioSuite(str(bad))
